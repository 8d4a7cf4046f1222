"""The radar module's `.cfg` command language, parsed into typed settings.

Shared by the simulator (whose config CLI applies the same commands) and the
edge (which derives range resolution, frame rate and the virtual array from the
board's `.cfg`). Units are in the field names. Argument meanings are in
`docs/radar-module.md`.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

from cardioradar.errors import ConfigError
from cardioradar.inputs import read_config_input

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
    "advFrameCfg": 5,  # SDK 3.5 cli_mmwave.c: numOfSubFrames forceProfile numFrames triggerSelect frameTrigDelay
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
    "version": 0,
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
    def programmed_sweep_codes(self) -> tuple[int, int]:
        """(first, last) RF frequency of the ramp as the device programs it, in startFreqConst
        units (``START_FREQ_LSB_GHZ``): the CLI truncates startFreq, freqSlopeConst and
        rampEndTime to mmWaveLink units (``programmed_units``); one slope unit times one ramp
        unit is exactly 9 start-frequency units (36.21 kHz/us x 10 ns / 40.233 Hz)."""
        start, slope, ramp = programmed_units(self)
        return start, start + 9 * slope * ramp

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


# How the device turns profileCfg's typed values into mmWaveLink units (SDK 3.5 cli_mmwave.c,
# CLI_MMWaveProfileCfg): startFreqConst = (uint32_t)(GHz * 2^26 / scale), freqSlopeConst =
# (int16_t)(MHz/us * 2^26 / (scale * 1e3 * 900)), rampEndTime = (uint32_t)((float)us * 1000 / 10),
# each cast truncating toward zero; scale = 2.7 on the IWR68xx (SOC_getDeviceRFFreqScaleFactor;
# 3.6 on the 77 GHz parts). A file's "85 MHz/us x 47.06 us" thus sweeps 3999.4 MHz, not 4000.1.
RF_FREQ_SCALE = 2.7
START_FREQ_LSB_GHZ = RF_FREQ_SCALE / (1 << 26)  # 40.233 Hz
SLOPE_LSB_MHZ_PER_US = RF_FREQ_SCALE * 1e3 * 900.0 / (1 << 26)  # 36.21 kHz/us
RAMP_TIME_LSB_US = 0.01  # 10 ns


def _float32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _freq_code(ghz: float) -> int:
    return math.trunc(ghz * (1 << 26) / RF_FREQ_SCALE)


def programmed_units(p: ProfileCfg) -> tuple[int, int, int]:
    """(startFreqConst, freqSlopeConst, rampEndTime) in mmWaveLink units, as the CLI computes them."""
    start = _freq_code(p.start_freq_ghz)
    slope = math.trunc(p.slope_mhz_per_us * (1 << 26) / (RF_FREQ_SCALE * 1e3 * 900.0))
    ramp = math.trunc(_float32(_float32(_float32(p.ramp_end_time_us) * 1000.0) / 10.0))  # float arithmetic
    return start, slope, ramp


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

    The module streams ``num_bins`` consecutive range bins centred where the chest moves
    between ``range_start_m`` and ``range_end_m`` (hardware_sim/firmware/window.py), re-checked
    every ``reselect_frames`` frames (0 = the first choice is kept).
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


# The device's CLI (SDK 3.5 packages/ti/utils/cli/src/cli.c, CLI_task): one UART read of at
# most 255 bytes is one command line, cut into words by strtok on " \r\n" only. A tab is not a
# separator there: "channelCfg\t15\t7\t0" is one unknown word.
MAX_LINE_BYTES = 255
_WORD_SEPARATORS = re.compile(r"[ \r\n]+")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def split_command(line: str) -> list[str]:
    """Split a CLI line into words as the device does: on spaces, CR and LF (not tabs).

    The one splitter of the project: the simulated module's CLI and the edge's cfg check
    (``parse_cfg_text``) both use it, so a line one accepts the other reads the same way.
    """
    return [w for w in _WORD_SEPARATORS.split(line) if w]


def split_lines(text: str) -> list[str]:
    """A ``.cfg`` text cut into command lines at CR, LF or CR LF (as the device's UART read)."""
    return _LINE_BREAKS.split(text)


# --- Argument ranges ---------------------------------------------------------------------------
# In the .cfg's units. Sources: mmWaveLink rl_sensor.h of SDK 3.5 (rlChanCfg_t, rlProfileCfg_t,
# rlChirpCfg_t, rlFrameCfg_t, rlAdvFrameSeqCfg_t, rlSubFrameCfg_t, rlLowPowerModeCfg_t), with
# the CLI's unit conversions of cli_mmwave.c (e.g. idleTime us * 1000 / 10 -> 10 ns LSBs), for
# the 60 GHz devices. Where TI gives no range, the bound is ours and marked so in
# docs/radar-module.md ("Argument ranges").


@dataclass(frozen=True)
class ArgRange:
    """One argument of a CLI command: the SDK's name, accepted range (inclusive) and unit."""

    name: str
    lo: float
    hi: float
    unit: str = ""
    integer: bool = False

    def problem(self, command: str, text: str) -> str | None:
        try:
            v = float(text)
            if text != text.strip():  # float() would skip the tab of "0\t"; the words must be numbers
                raise ValueError(text)
        except ValueError:
            return f"{command} {self.name}: {text!r} is not a number"
        if not math.isfinite(v):
            return f"{command} {self.name}: got {text}, expected {self.describe()}"
        if self.integer:
            v = float(math.trunc(v))  # the SDK reads integers with atoi
        if not self.lo <= v <= self.hi:
            return f"{command} {self.name}: got {text}, expected {self.describe()}"
        return None

    def describe(self) -> str:
        def fmt(x: float) -> str:
            return f"{int(x)}" if x == int(x) else f"{x:g}"
        unit = f" {self.unit}" if self.unit else ""
        return f"{fmt(self.lo)}-{fmt(self.hi)}{unit}"


def _r(name: str, lo: float, hi: float, unit: str = "") -> ArgRange:
    return ArgRange(name, lo, hi, unit)


def _i(name: str, lo: int, hi: int) -> ArgRange:
    return ArgRange(name, lo, hi, integer=True)


_FINITE = (-math.inf, math.inf)
_MAX_PERIOD_MS = (1 << 28) * 5e-6  # 1.342 s: 28-bit count of 5 ns (rlFrameCfg_t.framePeriodicity)

ARG_RANGES: dict[str, tuple[ArgRange, ...]] = {
    "dfeDataOutputMode": (_i("modeType", 1, 3),),
    "channelCfg": (_i("rxChannelEn", 1, 15), _i("txChannelEn", 1, 7), _i("cascading", 0, 2)),
    "adcCfg": (_i("numADCBits", 0, 2), _i("adcOutputFmt", 0, 2)),
    "adcbufCfg": (_i("subFrameIdx", -1, 3), _i("adcOutputFmt", 0, 1), _i("SampleSwap", 0, 1),
                  _i("ChanInterleave", 0, 1), _i("ChirpThreshold", 0, 255)),
    "lowPower": (_i("reserved", 0, 0), _i("lpAdcMode", 0, 1)),
    "profileCfg": (
        _i("profileId", 0, 3), _r("startFreq", 57.0, 64.0, "GHz"), _r("idleTime", 0.0, 5242.87, "us"),
        _r("adcStartTime", 0.0, 40.95, "us"), _r("rampEndTime", 0.0, 5000.0, "us"),
        _i("txOutPower", 0, 0xFFFFFF), _i("txPhaseShifter", 0, 0xFFFFFF),
        _r("freqSlopeConst", -250.0, 250.0, "MHz/us"), _r("txStartTime", -40.96, 40.95, "us"),
        _i("numAdcSamples", 2, 4096), _r("digOutSampleRate", 2000.0, 37500.0, "ksps"),
        _i("hpfCornerFreq1", 0, 3), _i("hpfCornerFreq2", 0, 3), _i("rxGain", 0, 255)),
    "chirpCfg": (
        _i("startIdx", 0, 511), _i("endIdx", 0, 511), _i("profileId", 0, 3), _r("startFreqVar", 0.0, 337.5e6, "Hz"),
        _r("freqSlopeVar", 0.0, 2281.2, "kHz/us"), _r("idleTimeVar", 0.0, 40.96, "us"),
        _r("adcStartTimeVar", 0.0, 40.96, "us"), _i("txEnable", 0, 7)),
    "frameCfg": (
        _i("chirpStartIdx", 0, 511), _i("chirpEndIdx", 0, 511), _i("numLoops", 1, 255), _i("numFrames", 0, 65535),
        _r("framePeriodicity", 0.3, _MAX_PERIOD_MS, "ms"), _i("triggerSelect", 1, 2),
        _r("frameTriggerDelay", 0.0, 100.0, "ms")),  # delay: TI gives "typically a few tens of us"; bound ours
    "advFrameCfg": (_i("numOfSubFrames", 1, 4), _i("forceProfile", 0, 1), _i("numFrames", 0, 65535),
                    _i("triggerSelect", 1, 2), _r("frameTrigDelay", 0.0, 100.0, "ms")),
    "subFrameCfg": (
        _i("subFrameNum", 0, 3), _i("forceProfileIdx", 0, 3), _i("chirpStartIdx", 0, 511), _i("numOfChirps", 1, 512),
        _i("numLoops", 1, 255), _r("burstPeriodicity", 0.0, _MAX_PERIOD_MS, "ms"), _i("chirpStartIdxOffset", 0, 511),
        _i("numOfBurst", 1, 512), _i("numOfBurstLoops", 1, 64), _r("subFramePeriodicity", 0.1, _MAX_PERIOD_MS, "ms")),
    "guiMonitor": (_i("subFrameIdx", -1, 3),) + tuple(_i(n, 0, 1) for n in (
        "detectedObjects", "logMagRange", "noiseProfile", "rangeAzimuthHeatMap", "rangeDopplerHeatMap", "statsInfo")),
    "configDataPort": (_i("baudRate", 9600, 3_125_000), _i("ackPing", 0, 1)),
    # The demo stores the calibration as Q15 (x 32768, saturated): values beyond +-1 saturate.
    "compRangeBiasAndRxChanPhase": (_r("rangeBias", -100.0, 100.0, "m"),) + tuple(
        _r(f"{part}{k}", -1.0, 1.0) for k in range(12) for part in ("re", "im")),
    # TI's CFAR DPU keeps these in 8-bit fields (its cfarConfig_Test: uint8_t aveMode, winLen,
    # guardLen, cyclicMode); the device would truncate a larger value, the simulator refuses it.
    # thresholdScale is left to the OOB firmware's own check (its "Maximum value ... 100.0 dB").
    "cfarCfg": (_i("subFrameIdx", -1, 3), _i("procDirection", 0, 1), _i("averageMode", 0, 2), _i("winLen", 1, 255),
                _i("guardLen", 0, 255), _i("noiseDiv", 0, 255), _i("cyclicMode", 0, 1)),
    # CardioRadar firmware (ours): bounds ours, the physical ones are checked at sensorStart.
    "rangeBinSelCfg": (_r("rangeStart", 0.0, 100.0, "m"), _r("rangeEnd", 0.0, 100.0, "m"), _i("numBins", 1, 1024),
                       _i("reselectFrames", 0, 1_000_000)),
}


def check_args(name: str, args: list[str]) -> str | None:
    """The argument check of command ``name`` (count already checked): the first problem as
    one line naming the argument, the value and the accepted range, or None.

    Every argument must be a finite number; commands listed in ``ARG_RANGES`` are checked
    against their ranges, the others (demo options this firmware stores but does not use)
    only for being finite numbers.
    """
    ranges = ARG_RANGES.get(name)
    for i, text in enumerate(args):
        spec = ranges[i] if ranges and i < len(ranges) else ArgRange(f"argument {i + 1}", *_FINITE)
        problem = spec.problem(name, text)
        if problem:
            return problem
    v = [float(a) for a in args]
    if name in ("chirpCfg", "frameCfg") and int(v[1]) < int(v[0]):
        first, last = ("startIdx", "endIdx") if name == "chirpCfg" else ("chirpStartIdx", "chirpEndIdx")
        return f"{name} {last}: got {args[1]}, expected {first} ({args[0]}) to 511"
    if name == "profileCfg" and (int(v[13]) & 1 or not 24 <= (int(v[13]) & 0x3F) <= 52):
        return f"profileCfg rxGain: got {args[13]}, expected an even 24-52 dB in bits 5:0 (+ RF gain code in bits 7:6)"
    if name == "calibDcRangeSig":  # checked whether enabled or not, as the SDK's handler does
        n = int(v[4])
        if v[2] > 0:
            return "Invalid negative bin index"
        if v[3] - v[2] + 1 > 32:
            return "Number of bins exceeds the limit"
        if n < 1 or n & (n - 1):
            return "Number of averaging chirps is not power of two"
    if name == "rangeBinSelCfg" and not v[0] < v[1]:
        return f"rangeBinSelCfg rangeEnd: got {args[1]}, expected more than rangeStart ({args[0]})"
    return None


def _nums(args: list[str], kinds: str) -> list:
    out = []
    for a, k in zip(args, kinds):
        out.append(int(float(a)) if k == "i" else float(a))
    return out


def apply_command(cfg: RadarConfig, name: str, args: list[str]) -> RadarConfig:
    """Return ``cfg`` with one command applied. Raises ValueError on a bad argument
    (the message of ``check_args``, which callers run first to answer like the device)."""
    problem = check_args(name, args)
    if problem:
        raise ValueError(problem)
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
    if name in ("cfarCfg", "cfarFovCfg"):  # one line per direction (range 0, Doppler 1): keep both
        extra[f"{name}:{int(float(args[1]))}"] = list(args)
    return replace(cfg, extra=extra)


def parse_cfg_text(text: str, source: str = "<cfg>") -> RadarConfig:
    """Apply every command of a `.cfg` text as the module would; errors name ``source``,
    line and command. Refuses what the module's CLI refuses (same splitter, same ranges)."""
    cfg = RadarConfig()
    for lineno, line in enumerate(split_lines(text), 1):
        if len(line.encode("utf-8", errors="replace")) > MAX_LINE_BYTES:
            raise ConfigError(f"{source}:{lineno}: line of {len(line.encode('utf-8', errors='replace'))} bytes, "
                              f"expected at most {MAX_LINE_BYTES} (the module's CLI reads the rest as a new command)")
        if line.startswith("%"):
            continue  # the device skips a line whose first byte is '%'
        words = split_command(line)
        if not words:
            continue
        if "\t" in line:
            raise ConfigError(f"{source}:{lineno}: a tab at column {line.index(chr(9)) + 1} of {line!r}: the module's "
                              "CLI separates words by spaces only (TI SDK cli.c); replace the tabs with spaces")
        name, args = words[0], words[1:]
        if name.startswith("%"):
            raise ConfigError(f"{source}:{lineno}: {line!r}: a comment needs '%' in column 1, got it in column "
                              f"{line.index('%') + 1}; the module's CLI reads this line as the command {name!r}")
        if name in ("sensorStop", "sensorStart", "version", "queryDemoStatus"):
            continue
        if name not in COMMAND_ARGC:
            raise ConfigError(f"{source}:{lineno}: unknown command {name!r}: expected a command of the module's "
                              "firmware (TI SDK 3.5 out-of-box demo's, or rangeBinSelCfg); is this .cfg for "
                              "another firmware, e.g. a TI lab's?")
        if len(args) != COMMAND_ARGC[name]:
            raise ConfigError(f"{source}:{lineno}: {name}: expected {COMMAND_ARGC[name]} arguments"
                              f"{_arg_names(name)}, got {len(args)}")
        problem = check_args(name, args)
        if problem:
            raise ConfigError(f"{source}:{lineno}: {problem}")
        cfg = apply_command(cfg, name, args)
    return cfg


def _arg_names(name: str) -> str:
    """`` (a b c)``: the SDK's argument names of a short command, when all are known; else ''.

    Files for older SDKs differ mostly by one argument (SDK 1.x `adcbufCfg 0 1 0 1` lacks
    subFrameIdx, `guiMonitor` had 5-6 flags): naming them shows which."""
    ranges = ARG_RANGES.get(name, ())
    if len(ranges) != COMMAND_ARGC[name] or len(ranges) > 10:
        return ""
    return f" ({' '.join(r.name for r in ranges)})"


def load_cfg(path: str | Path) -> RadarConfig:
    path = Path(path)
    return parse_cfg_text(read_config_input(path, "radar cfg"), source=str(path))


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
    TX that channelCfg did not enable), 'range_sel' (rangeBinSelCfg window impossible),
    'frame_mode' (dfeDataOutputMode other than 1: continuous wave or advanced frames).
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
    mode = cfg.extra.get("dfeDataOutputMode")
    if mode and int(float(mode[0])) != 1:
        what = {2: "continuous wave", 3: "advanced frames: advFrameCfg + subFrameCfg"}.get(int(float(mode[0])), "?")
        return [CfgProblem("frame_mode", f"dfeDataOutputMode: got {mode[0]} ({what}), expected 1: this firmware runs "
                                         "frame mode only (frameCfg)")]
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
    first, last = p.programmed_sweep_codes
    # The band edges converted as the CLI converts a typed frequency (so "startFreq 60" is inside).
    if min(first, last) < _freq_code(lo) or max(first, last) > _freq_code(hi):
        first, last = first * START_FREQ_LSB_GHZ, last * START_FREQ_LSB_GHZ
        out.append(CfgProblem(
            "band", f"profileCfg {p.profile_id}: sweep {first:.6f}-{last:.6f} GHz "
            f"(startFreq {p.start_freq_ghz:g} GHz + freqSlopeConst {p.slope_mhz_per_us:g} MHz/us x "
            f"rampEndTime {p.ramp_end_time_us:g} us, as the device programs them), expected inside {lo:g}-{hi:g} GHz"))
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
