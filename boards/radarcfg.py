"""The radar module's `.cfg` command language, parsed into typed settings.

Shared by the simulator (whose config CLI applies the same commands) and the
edge (which derives range resolution, frame rate and the virtual array from the
board's `.cfg`). Units are in the field names. Argument meanings are in
`docs/radar-module.md`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from cardioradar.errors import ConfigError

C_M_PER_S = 299_792_458.0

# Argument counts of the commands the module's firmware accepts (OOB demo + ours).
COMMAND_ARGC: dict[str, int] = {
    "sensorStop": 0,
    "sensorStart": 0,
    "flushCfg": 0,
    "dfeDataOutputMode": 1,
    "channelCfg": 3,
    "adcCfg": 2,
    "adcbufCfg": 5,
    "lowPower": 2,
    "profileCfg": 14,
    "chirpCfg": 8,
    "frameCfg": 7,
    "advFrameCfg": 4,
    "subFrameCfg": 10,
    "guiMonitor": 7,
    "cfarCfg": 9,
    "multiObjBeamForming": 3,
    "calibDcRangeSig": 5,
    "clutterRemoval": 2,
    "compRangeBiasAndRxChanPhase": 25,
    "measureRangeBiasAndRxChanPhase": 3,
    "aoaFovCfg": 5,
    "cfarFovCfg": 4,
    "extendedMaxVelocity": 2,
    "CQRxSatMonitor": 5,
    "CQSigImgMonitor": 3,
    "analogMonitor": 2,
    "lvdsStreamCfg": 4,
    "bpmCfg": 4,
    "calibData": 3,
    "configDataPort": 2,
    "queryDemoStatus": 0,
    # CardioRadar firmware: which 15 range bins the heatmap TLV carries.
    "rangeBinSelCfg": 4,
}


@dataclass(frozen=True)
class ProfileCfg:
    profile_id: int
    start_freq_ghz: float
    idle_time_us: float
    adc_start_time_us: float
    ramp_end_time_us: float
    tx_power_backoff_db: float
    tx_phase_shifter: float
    slope_mhz_per_us: float
    tx_start_time_us: float
    num_adc_samples: int
    adc_rate_ksps: float
    hpf1: int
    hpf2: int
    rx_gain_db: float  # as typed; bit 7 (128) is a flag in SDK files, stripped by rx_gain_value_db

    @property
    def rx_gain_value_db(self) -> float:
        return float(int(self.rx_gain_db) & 0x7F)

    @property
    def adc_window_us(self) -> float:
        return self.num_adc_samples / (self.adc_rate_ksps * 1e-3)

    @property
    def slope_hz_per_s(self) -> float:
        return self.slope_mhz_per_us * 1e12

    @property
    def useful_bandwidth_hz(self) -> float:
        return self.slope_hz_per_s * self.adc_window_us * 1e-6

    @property
    def swept_bandwidth_hz(self) -> float:
        return self.slope_hz_per_s * self.ramp_end_time_us * 1e-6

    @property
    def end_freq_ghz(self) -> float:
        return self.start_freq_ghz + self.swept_bandwidth_hz * 1e-9

    @property
    def range_resolution_m(self) -> float:
        return C_M_PER_S / (2.0 * self.useful_bandwidth_hz)

    @property
    def centre_freq_hz(self) -> float:
        """Centre of the sampled part of the sweep (the phase-reference frequency)."""
        t_mid_us = self.adc_start_time_us + 0.5 * self.adc_window_us
        return self.start_freq_ghz * 1e9 + self.slope_hz_per_s * t_mid_us * 1e-6

    @property
    def wavelength_m(self) -> float:
        return C_M_PER_S / self.centre_freq_hz

    @property
    def chirp_time_us(self) -> float:
        return self.idle_time_us + self.ramp_end_time_us


@dataclass(frozen=True)
class ChirpCfg:
    start_idx: int
    end_idx: int
    profile_id: int
    start_freq_var_mhz: float
    slope_var_khz_per_us: float
    idle_time_var_us: float
    adc_start_time_var_us: float
    tx_mask: int


@dataclass(frozen=True)
class FrameCfg:
    chirp_start_idx: int
    chirp_end_idx: int
    num_loops: int
    num_frames: int  # 0 = forever
    period_ms: float
    trigger_select: int
    trigger_delay_ms: float

    @property
    def frame_rate_hz(self) -> float:
        return 1000.0 / self.period_ms


@dataclass(frozen=True)
class ChannelCfg:
    rx_mask: int
    tx_mask: int
    cascading: int

    @property
    def n_rx(self) -> int:
        return bin(self.rx_mask).count("1")

    @property
    def n_tx(self) -> int:
        return bin(self.tx_mask).count("1")


@dataclass(frozen=True)
class AdcCfg:
    num_adc_bits_code: int  # 0 = 12, 1 = 14, 2 = 16 bits
    output_fmt: int  # 0 real, 1 complex 1x, 2 complex 2x

    @property
    def num_bits(self) -> int:
        return {0: 12, 1: 14, 2: 16}[self.num_adc_bits_code]


@dataclass(frozen=True)
class GuiMonitorCfg:
    sub_frame_idx: int
    detected_objects: int
    log_mag_range: int
    noise_profile: int
    range_azimuth_heatmap: int
    range_doppler_heatmap: int
    stats_info: int


@dataclass(frozen=True)
class RangeBinSelCfg:
    """`rangeBinSelCfg <rangeStart m> <rangeEnd m> <numBins> <reselectFrames>`.

    The module streams ``num_bins`` consecutive range bins centred on the strongest
    reflector between ``range_start_m`` and ``range_end_m``, chosen on the first
    frame after sensorStart and again every ``reselect_frames`` frames (0 = never).
    """

    range_start_m: float
    range_end_m: float
    num_bins: int
    reselect_frames: int


@dataclass(frozen=True)
class RadarConfig:
    """The module's configuration after a whole `.cfg` has been applied."""

    channel: ChannelCfg | None = None
    adc: AdcCfg | None = None
    profiles: tuple[ProfileCfg, ...] = ()
    chirps: tuple[ChirpCfg, ...] = ()
    frame: FrameCfg | None = None
    gui_monitor: GuiMonitorCfg | None = None
    range_sel: RangeBinSelCfg | None = None
    # compRangeBiasAndRxChanPhase: range bias (m) then (re, im) per virtual antenna
    comp_range_bias_m: float = 0.0
    comp_rx_chan_phase: tuple[complex, ...] = ()
    data_baud: int | None = None  # configDataPort
    extra: dict = field(default_factory=dict)  # other accepted commands, raw arguments

    @property
    def profile(self) -> ProfileCfg:
        if not self.profiles:
            raise ConfigError("radar config has no profileCfg")
        return self.profiles[0]

    def chirp_tx_masks(self) -> list[int]:
        """TX enable mask of every chirp in a frame's chirp range, in firing order."""
        if self.frame is None:
            raise ConfigError("radar config has no frameCfg")
        masks = {}
        for c in self.chirps:
            for i in range(c.start_idx, c.end_idx + 1):
                masks[i] = c.tx_mask
        out = []
        for i in range(self.frame.chirp_start_idx, self.frame.chirp_end_idx + 1):
            if i not in masks:
                raise ConfigError(f"frameCfg uses chirp {i}, but no chirpCfg defines it")
            out.append(masks[i])
        return out

    def chirp_tx_order(self) -> list[int]:
        """TX index (0-based) fired in each chirp slot; one TX per chirp (TDM-MIMO)."""
        order = []
        for m in self.chirp_tx_masks():
            if bin(m).count("1") != 1:
                raise ConfigError(f"chirp TX mask {m} enables more than one TX (BPM is not supported)")
            order.append(m.bit_length() - 1)
        return order

    @property
    def n_virtual(self) -> int:
        return len(self.chirp_tx_masks()) * (self.channel.n_rx if self.channel else 4)


def split_command(line: str) -> list[str]:
    """Split a CLI line as the device does: on spaces, tabs, CR and LF."""
    return line.replace("\r", " ").replace("\n", " ").replace("\t", " ").split()


def _nums(args: list[str], kinds: str) -> list:
    out = []
    for a, k in zip(args, kinds):
        out.append(int(float(a)) if k == "i" else float(a))
    return out


def apply_command(cfg: RadarConfig, name: str, args: list[str]) -> RadarConfig:
    """Return ``cfg`` with one command applied. Raises ValueError on a bad argument."""
    if name == "channelCfg":
        return replace(cfg, channel=ChannelCfg(*_nums(args, "iii")))
    if name == "adcCfg":
        return replace(cfg, adc=AdcCfg(*_nums(args, "ii")))
    if name == "profileCfg":
        p = ProfileCfg(*_nums(args, "iffffffffifiif"))
        others = tuple(q for q in cfg.profiles if q.profile_id != p.profile_id)
        return replace(cfg, profiles=others + (p,))
    if name == "chirpCfg":
        c = ChirpCfg(*_nums(args, "iiiffffi"))
        return replace(cfg, chirps=cfg.chirps + (c,))
    if name == "frameCfg":
        return replace(cfg, frame=FrameCfg(*_nums(args, "iiiifif")))
    if name == "guiMonitor":
        return replace(cfg, gui_monitor=GuiMonitorCfg(*_nums(args, "iiiiiii")))
    if name == "rangeBinSelCfg":
        return replace(cfg, range_sel=RangeBinSelCfg(*_nums(args, "ffii")))
    if name == "compRangeBiasAndRxChanPhase":
        v = [float(a) for a in args]
        pairs = tuple(complex(v[i], v[i + 1]) for i in range(1, len(v) - 1, 2))
        return replace(cfg, comp_range_bias_m=v[0], comp_rx_chan_phase=pairs)
    if name == "configDataPort":
        return replace(cfg, data_baud=int(float(args[0])))
    if name == "flushCfg":
        return RadarConfig(data_baud=cfg.data_baud)
    extra = dict(cfg.extra)
    extra[name] = list(args)
    return replace(cfg, extra=extra)


def parse_cfg_text(text: str, source: str = "<cfg>") -> RadarConfig:
    """Apply every command of a `.cfg` text; errors name ``source``, line and command."""
    cfg = RadarConfig()
    for lineno, line in enumerate(text.splitlines(), 1):
        words = split_command(line)
        if not words or words[0].startswith("%"):
            continue
        name, args = words[0], words[1:]
        if name in ("sensorStop", "sensorStart"):
            continue
        if name not in COMMAND_ARGC:
            raise ConfigError(f"{source}:{lineno}: unknown command {name!r}")
        if len(args) != COMMAND_ARGC[name]:
            raise ConfigError(
                f"{source}:{lineno}: {name}: expected {COMMAND_ARGC[name]} arguments, got {len(args)}"
            )
        try:
            cfg = apply_command(cfg, name, args)
        except ValueError as e:
            raise ConfigError(f"{source}:{lineno}: {name}: bad argument: {e}") from e
    return cfg


def load_cfg(path: str | Path) -> RadarConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"radar cfg {path}: cannot read: {e.strerror}") from e
    return parse_cfg_text(text, source=str(path))


# --- Physical validation (what the device checks when the sensor is started) -------------

BAND_GHZ = (60.0, 64.0)  # IWR6843 RF band: the whole sweep must stay inside it
ADC_BUFFER_PING_BYTES = 16384  # 32 KB ADC buffer used as ping + pong halves
MAX_ADC_RATE_KSPS = 12500.0
MAX_DATA_BAUD = 3_125_000


@dataclass(frozen=True)
class CfgProblem:
    """One reason a configuration cannot run on the module.

    ``kind``: 'missing' (a needed command was never given), 'band' (sweep outside 60-64 GHz),
    'timing' (ADC window outside the ramp, or chirps longer than the frame period),
    'adc_buffer' (a chirp's samples do not fit the ADC ping buffer), 'tx_mask' (a chirp fires a
    TX that channelCfg did not enable), 'range_sel' (rangeBinSelCfg window impossible).
    """

    kind: str
    message: str


def range_fft_size(profile: ProfileCfg) -> int:
    """The module's range FFT length: numAdcSamples rounded up to a power of two."""
    return 1 << max(0, int(profile.num_adc_samples - 1).bit_length())


def max_range_m(profile: ProfileCfg, complex_adc: bool = True) -> float:
    """Largest range whose beat frequency the ADC can sample (complex: up to fs)."""
    fs_hz = profile.adc_rate_ksps * 1e3
    f_max_hz = fs_hz if complex_adc else 0.5 * fs_hz
    return f_max_hz * C_M_PER_S / (2.0 * profile.slope_hz_per_s)


def physical_problems(cfg: RadarConfig) -> list[CfgProblem]:
    """Everything that stops ``cfg`` from running, in the order the device checks it."""
    problems: list[CfgProblem] = []
    for name, value in (("channelCfg", cfg.channel), ("adcCfg", cfg.adc), ("frameCfg", cfg.frame)):
        if value is None:
            problems.append(CfgProblem("missing", f"no {name} was given"))
    if not cfg.profiles:
        problems.append(CfgProblem("missing", "no profileCfg was given"))
    if not cfg.chirps:
        problems.append(CfgProblem("missing", "no chirpCfg was given"))
    if problems:
        return problems
    try:
        masks = cfg.chirp_tx_masks()
    except ConfigError as e:
        return [CfgProblem("missing", str(e))]
    ids = {p.profile_id for p in cfg.profiles}
    for c in cfg.chirps:
        if c.profile_id not in ids:
            problems.append(CfgProblem("missing", f"chirpCfg {c.start_idx}-{c.end_idx} uses profile {c.profile_id}, which no profileCfg defines"))
    for p in cfg.profiles:
        problems += _profile_problems(cfg, p)
    for i, m in enumerate(masks):
        if m == 0 or m & ~cfg.channel.tx_mask:
            problems.append(CfgProblem(
                "tx_mask", f"chirp {cfg.frame.chirp_start_idx + i} fires TX mask {m}, channelCfg enables TX mask {cfg.channel.tx_mask}"))
    chirp_us = sum(_chirp_time_us(cfg, i) for i in range(cfg.frame.chirp_start_idx, cfg.frame.chirp_end_idx + 1))
    active_ms = chirp_us * cfg.frame.num_loops * 1e-3
    if active_ms > cfg.frame.period_ms:
        problems.append(CfgProblem(
            "timing", f"frameCfg: {cfg.frame.num_loops} loops of chirps take {active_ms:.3f} ms, period is {cfg.frame.period_ms:g} ms"))
    if cfg.range_sel is not None and cfg.profiles:
        problems += _range_sel_problems(cfg)
    return problems


def _chirp_time_us(cfg: RadarConfig, idx: int) -> float:
    for c in cfg.chirps:
        if c.start_idx <= idx <= c.end_idx:
            p = next((q for q in cfg.profiles if q.profile_id == c.profile_id), cfg.profile)
            return p.idle_time_us + c.idle_time_var_us + p.ramp_end_time_us
    return 0.0


def _profile_problems(cfg: RadarConfig, p: ProfileCfg) -> list[CfgProblem]:
    out = []
    lo, hi = BAND_GHZ
    if p.start_freq_ghz < lo or p.end_freq_ghz > hi + 1e-9:
        out.append(CfgProblem(
            "band", f"profileCfg {p.profile_id}: sweep {p.start_freq_ghz:.3f}-{p.end_freq_ghz:.3f} GHz, expected inside {lo:g}-{hi:g} GHz"))
    if p.adc_rate_ksps <= 0 or p.adc_rate_ksps > MAX_ADC_RATE_KSPS:
        out.append(CfgProblem(
            "timing", f"profileCfg {p.profile_id}: digOutSampleRate {p.adc_rate_ksps:g} ksps, expected 1-{MAX_ADC_RATE_KSPS:g}"))
        return out
    adc_end_us = p.adc_start_time_us + p.adc_window_us
    if adc_end_us > p.ramp_end_time_us + 1e-9:
        out.append(CfgProblem(
            "timing", f"profileCfg {p.profile_id}: ADC sampling ends at {adc_end_us:.2f} us, after the ramp ends at {p.ramp_end_time_us:g} us"))
    complex_adc = cfg.adc is None or cfg.adc.output_fmt != 0
    bytes_per_sample = 4 if complex_adc else 2
    threshold = 1
    buf = cfg.extra.get("adcbufCfg")
    if buf and len(buf) >= 5:
        threshold = max(1, int(float(buf[4])))
    n_rx = cfg.channel.n_rx if cfg.channel else 4
    need = p.num_adc_samples * bytes_per_sample * n_rx * threshold
    if need > ADC_BUFFER_PING_BYTES:
        out.append(CfgProblem(
            "adc_buffer", f"profileCfg {p.profile_id}: {p.num_adc_samples} samples x {bytes_per_sample} B x {n_rx} RX x "
            f"{threshold} chirps = {need} B, ADC buffer holds {ADC_BUFFER_PING_BYTES} B"))
    return out


def _range_sel_problems(cfg: RadarConfig) -> list[CfgProblem]:
    rs, p = cfg.range_sel, cfg.profile
    out = []
    complex_adc = cfg.adc is None or cfg.adc.output_fmt != 0
    n_bins = range_fft_size(p) if complex_adc else range_fft_size(p) // 2
    r_max = max_range_m(p, complex_adc)
    if not 0.0 <= rs.range_start_m < rs.range_end_m <= r_max:
        out.append(CfgProblem(
            "range_sel", f"rangeBinSelCfg: window {rs.range_start_m:g}-{rs.range_end_m:g} m, expected 0 <= start < end <= {r_max:.2f} m"))
    if not 1 <= rs.num_bins <= n_bins:
        out.append(CfgProblem("range_sel", f"rangeBinSelCfg: numBins {rs.num_bins}, expected 1-{n_bins}"))
    if rs.reselect_frames < 0:
        out.append(CfgProblem("range_sel", f"rangeBinSelCfg: reselectFrames {rs.reselect_frames}, expected >= 0"))
    return out
