"""The module's second firmware: TI's mmWave SDK 3.5 xwr68xx out-of-box (OOB) demo behaviour.

``RadarModule(..., firmware="oob")`` (or ``[radar] firmware = "oob"`` in the board profile, or
``sim serve --firmware oob``) runs it instead of the CardioRadar range-matrix firmware: the
same config CLI, frame clock and UART budget, but frames carry the demo's TLVs computed from
``numLoops`` chirps per TX (range FFT by the front end, then ``oob_dsp``). What is simulated
and what is refused is the envelope table in docs/radar-module.md, "OOB firmware".

The front end sees one long TDM schedule: the frame's chirps repeated ``numLoops`` times
(``loop_config``), so its fast and ADC-level modes work unchanged; its output
(n_range, loops x chirps x n_rx) is the demo's radar cube.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from boards.radarcfg import ChirpCfg, RadarConfig, range_fft_size
from cardioradar import __version__
from hardware_sim.firmware.cli import CliCode, ConfigCli, StartVeto
from hardware_sim.firmware.module import (
    CPU_HZ, UART_BITS_PER_BYTE, FrameBlock, _module_frame, _uart_schedule, antennas_for,
)
from hardware_sim.firmware.oob_dsp import CfarCfg, OobChain, process_frame
from hardware_sim.firmware.oob_tlv import encode_oob_packet
from hardware_sim.firmware.tlv import padding_block

log = logging.getLogger(__name__)

OOB_FIRMWARE_NAME = "TI mmWave SDK 3.5 xwr68xx OOB demo emulation"
ISK_TX_POSITIONS = [[0, 1], [2, 0], [4, 1]]  # the layout the 68xx demo's angle code assumes
C_TI = 3.0e8  # MMWDEMO_RFPARSER_SPEED_OF_LIGHT_IN_METERS_PER_SEC
ELEV_TX_MASK, AZIM_TX_MASK = 0x2, 0x5  # MmwDemo_RFParserHwCfg for SOC_XWR68XX


class OobCli(ConfigCli):
    """The config CLI of the OOB firmware: every ``guiMonitor`` output is available, and
    ``version`` names this firmware."""

    def _dispatch(self, name: str, args: list[str]):
        # MmwDemo_CLICfarCfg refuses a threshold above 100 dB with this line, then returns -1.
        if name == "cfarCfg" and len(args) == 9 and not self.running and _number(args[7]) > 100.0:
            return ["Error: Maximum value for CFAR thresholdScale is 100.0 dB.", f"Error {int(CliCode.HANDLER)}"], b"", None
        return super()._dispatch(name, args)

    def _sensor_start(self):
        if not self.running:
            missing = [c for c in REQUIRED_COMMANDS if not _given(self.cfg, c)]
            if missing:  # the demo's first-start check (mmw_cli.c, MmwDemo_isAllCfgInPendingState)
                return ["Error: Full configuration must be provided before sensor can be started the first time",
                        f"(simulator: missing {', '.join(missing)})", f"Error {int(CliCode.HANDLER)}"], b"", None
        gm = self.cfg.gui_monitor
        if gm is None:
            return super()._sensor_start()
        # The CardioRadar firmware's check refuses TLVs 2, 3, 5: hide guiMonitor from it.
        self.cfg = replace(self.cfg, gui_monitor=None)
        try:
            answer = super()._sensor_start()
        finally:
            self.cfg = replace(self.cfg, gui_monitor=gm)
        if answer[2] == "start":
            self.running_cfg = self.cfg
        return answer

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.firmware = (OOB_FIRMWARE_NAME, __version__)  # `version` names it; a flashed image overrides it


# The commands the demo needs before its first sensorStart (mss_main.c, the pending flags that
# MmwDemo_isAllCfgInPendingState checks); "cfarCfg:0" is cfarCfg with procDirection 0, etc.
REQUIRED_COMMANDS = ("adcbufCfg", "guiMonitor", "cfarCfg:0", "cfarCfg:1", "cfarFovCfg:0", "cfarFovCfg:1",
                     "multiObjBeamForming", "calibDcRangeSig", "clutterRemoval", "aoaFovCfg",
                     "extendedMaxVelocity", "bpmCfg", "lvdsStreamCfg", "compRangeBiasAndRxChanPhase",
                     "measureRangeBiasAndRxChanPhase", "analogMonitor")


def _given(cfg: RadarConfig, name: str) -> bool:
    if name == "guiMonitor":
        return cfg.gui_monitor is not None
    if name == "compRangeBiasAndRxChanPhase":
        return bool(cfg.comp_rx_chan_phase)
    return name in cfg.extra


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _arg(cfg: RadarConfig, name: str, i: int, default: float = 0.0) -> float:
    args = cfg.extra.get(name)
    return float(args[i]) if args and len(args) > i else default


def oob_problems(cfg: RadarConfig, tx_positions: list) -> str | None:
    """Why the OOB firmware cannot run ``cfg`` on this board (one line), or None."""
    if [list(p) for p in tx_positions] != ISK_TX_POSITIONS:
        return (f"OOB firmware: angle estimation is simulated for the ISK antenna layout (TX at {ISK_TX_POSITIONS} "
                f"lambda/2, the xwr68xx demo's), this board has TX at {tx_positions}")
    if cfg.profile.slope_mhz_per_us <= 0:
        return "profileCfg freqSlopeConst: the demo supports positive slopes only (mmwdemo_rfparser.c)"
    if int(_arg(cfg, "dfeDataOutputMode", 0, 1)) != 1:
        return "OOB firmware: dfeDataOutputMode: expected 1 (frame mode); advanced frames (subframes) are not simulated"
    masks = cfg.chirp_tx_masks()
    if any(bin(m).count("1") != 1 for m in masks) or len(set(masks)) != len(masks):
        return f"OOB firmware: chirp TX masks {masks}: expected one distinct TX per chirp of a loop (TDM-MIMO)"
    loops = cfg.frame.num_loops
    if loops % 4 or (1 << (loops - 1).bit_length()) < 16:
        return (f"frameCfg numLoops: expected a multiple of 4 giving >= 16 Doppler bins (SDK dopplerprocdsp), "
                f"got {loops}")
    for name, i, what in (("lvdsStreamCfg", (1, 2, 3), "LVDS streaming"), ("bpmCfg", (1,), "BPM"),
                          ("extendedMaxVelocity", (1,), "extended maximum velocity"),
                          ("calibDcRangeSig", (1,), "DC range calibration"),
                          ("measureRangeBiasAndRxChanPhase", (0,), "range bias / phase measurement")):
        if any(_arg(cfg, name, j) != 0 for j in i):
            return f"OOB firmware: {name}: {what} is not simulated; disable it"
    return None


def loop_config(cfg: RadarConfig) -> RadarConfig:
    """``cfg`` with the frame's chirps unrolled over its loops (numLoops 1): the front end's view."""
    masks, p = cfg.chirp_tx_masks(), cfg.profile
    n = len(masks) * cfg.frame.num_loops
    chirps = tuple(ChirpCfg(i, i, p.profile_id, 0.0, 0.0, 0.0, 0.0, masks[i % len(masks)]) for i in range(n))
    return replace(cfg, chirps=chirps, frame=replace(cfg.frame, chirp_start_idx=0, chirp_end_idx=n - 1, num_loops=1))


def chain_for(cfg: RadarConfig) -> OobChain:
    """The DSP chain's settings from the running configuration (the demo's rfparser + CLI)."""
    p, masks = cfg.profile, cfg.chirp_tx_masks()
    order = [m.bit_length() - 1 for m in masks]
    n_rx = cfg.channel.n_rx
    n_tx = len(masks)
    n_elev_tx = int(any(m & ELEV_TX_MASK for m in masks))
    n_azim_tx = sum(1 for m in masks if m & AZIM_TX_MASK)
    n_virt = n_tx * n_rx
    n_range = range_fft_size(p)
    n_doppler = 1 << (cfg.frame.num_loops - 1).bit_length()
    slope = p.slope_hz_per_s
    fs = p.adc_rate_ksps * 1e3
    centre = p.start_freq_ghz * 1e9 + slope * p.num_adc_samples / fs * 0.5 + p.adc_start_time_us * 1e-6 * slope
    range_step = C_TI * fs / (2.0 * slope * n_range)
    doppler_step = C_TI / (2.0 * n_doppler * n_tx * centre * (p.idle_time_us + p.ramp_end_time_us) * 1e-6)
    scale = (256.0 / 6.0) * n_virt / (1 << (n_virt - 1).bit_length())

    def cfar(d: int) -> CfarCfg:
        a = [float(x) for x in cfg.extra[f"cfarCfg:{d}"]]
        coded = int(a[7] * 100.0) & 0xFFFF  # MMWDEMO_CFAR_THRESHOLD_ENCODING_FACTOR, uint16
        return CfarCfg(int(a[2]), int(a[3]), int(a[4]), int(a[5]), int(a[6]), int(coded / 100.0 * scale), int(a[8]))

    comp = np.ones(n_virt, complex)
    if len(cfg.comp_rx_chan_phase) >= 12:  # indexed [TX][RX] by physical TX; the DPC reorders by slot
        v = np.array(cfg.comp_rx_chan_phase, complex)
        phys = np.clip(v.real, -1, 32767 / 32768) + 1j * np.clip(v.imag, -1, 32767 / 32768)  # Q15, saturated
        comp = np.array([phys[order[s] * 4 + r] for s in range(n_tx) for r in range(n_rx)])
    bias = cfg.comp_range_bias_m
    rmin = _arg(cfg, "cfarFovCfg:0", 2, 0.0) + bias if "cfarFovCfg:0" in cfg.extra else 0.0
    rmax = _arg(cfg, "cfarFovCfg:0", 3, n_range * range_step)
    dmin = _arg(cfg, "cfarFovCfg:1", 2, -1e9)
    dmax = _arg(cfg, "cfarFovCfg:1", 3, 1e9)

    def dop_idx(v: float) -> int:
        x = v / doppler_step
        return int(np.clip(x - 0.5 if x < 0 else x + 0.5, -32768, 32767))

    fov = [np.sin(np.deg2rad(_arg(cfg, "aoaFovCfg", i, dflt))) for i, dflt in ((1, -90), (2, 90), (3, -90), (4, 90))]
    multi = _arg(cfg, "multiObjBeamForming", 2) if _arg(cfg, "multiObjBeamForming", 1) else None
    return OobChain(
        n_range=n_range, n_loops=cfg.frame.num_loops, n_doppler=n_doppler, n_tx=n_tx, n_rx=n_rx,
        n_virt_azim=n_azim_tx * n_rx, n_virt_elev=n_elev_tx * n_rx, range_step_m=range_step,
        doppler_step_mps=doppler_step, cfar_range=cfar(0), cfar_doppler=cfar(1),
        fov_range_idx=(int(rmin / range_step + 0.5), int(rmax / range_step + 0.5)),
        fov_doppler_idx=(dop_idx(dmin), dop_idx(dmax)), fov_sin=tuple(float(f) for f in fov),
        multi_obj_threshold=multi, clutter_removal=bool(_arg(cfg, "clutterRemoval", 1)),
        comp=comp, range_bias_m=bias)


@dataclass
class OobEngine:
    """What the OOB firmware fixed at sensorStart: the front end over the unrolled chirps and
    the chain. ``make_block`` is the module's ``_make_block`` for this firmware."""

    front_end: object
    chain: OobChain
    n_fft: int = field(init=False)

    def __post_init__(self):
        self.n_fft = self.chain.n_range

    def bin_of_range(self, range_m: float) -> int:  # the FrameSource protocol (unused by this firmware)
        return int(round(range_m / self.chain.range_step_m))

    def cubes(self, scene, idx: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """complex64 (n, n_range, n_loops, n_virtual): the radar cubes of frames ``idx`` (int16 values)."""
        c = self.chain
        raw = self.front_end.frames(scene, idx, t_s, np.arange(c.n_range))
        cube = raw.astype(np.float32).view(np.complex64)[..., 0]  # exact for int16 values
        return cube.reshape(len(idx), c.n_range, c.n_loops, c.n_virtual)

    def make_block(self, module, max_frames: int):
        """Frames k.. of ``module`` (its clock, UART, stats and temperature), nothing committed."""
        m, k = module, module._k
        n = max_frames if m._num_frames <= 0 else min(max_frames, m._num_frames - k)
        n = max(1, n)
        idx = np.arange(k, k + n)
        t_frame = m._t_start_s + idx * m._period_s
        gui = m._cfg.gui_monitor
        results = [process_frame(cube, self.chain, bool(gui.range_azimuth_heatmap)) for cube in self.cubes(m.scene, idx, t_frame)]
        t_ready = t_frame + m._active_s + m._proc_us * 1e-6
        cycles = (np.rint((t_ready * m._drift) * CPU_HZ).astype(np.int64) + m._cycle_offset) % 2**32
        pad = padding_block(m._pad_key, k, n)
        stats_on = gui.stats_info == 1
        zeros = (bytes(24), bytes(28)) if stats_on else (None, None)
        sizes = np.array([len(encode_oob_packet(r, gui, 0, 0, pad[j], *zeros)) for j, r in enumerate(results)])
        tx_s = sizes * UART_BITS_PER_BYTE / m.data_baud
        dropped, reported, busy = np.zeros(n, bool), np.empty(n), np.empty(n)
        state = m._uart_busy_until_s
        for j in range(n):  # the module's UART model, one packet length at a time
            d, rep, b = _uart_schedule(t_ready[j:j + 1], float(tx_s[j]), state)
            dropped[j], reported[j], busy[j], state = d[0], rep[0], b[0], b[0]
        stats = m._stats_rows(reported) if stats_on else None
        temps = m._temperature_rows(t_ready) if stats_on else None
        packets = tuple(encode_oob_packet(r, gui, k + j + 1, int(cycles[j]), pad[j],
                                          None if stats is None else stats[j].tobytes(),
                                          None if temps is None else temps[j].tobytes())
                        for j, r in enumerate(results))
        if dropped.any():
            log.debug("frames %d-%d: %d dropped (UART busy)", k + 1, k + n, int(dropped.sum()))
        return _oob_block(k, t_frame, t_ready, cycles, dropped, tx_s, packets, busy, reported, results)


@dataclass(frozen=True)
class OobFrameBlock(FrameBlock):
    """A ``FrameBlock`` whose packets vary in length (the point cloud does): ``packet_list``
    holds them, ``tx_s`` (n,) their line times, ``results`` the chain's ``OobResult`` per frame."""

    packet_list: tuple = ()
    tx_s: np.ndarray | None = None
    results: tuple = ()

    def data(self) -> bytes:
        return b"".join(p for p, d in zip(self.packet_list, self.dropped) if not d)

    def frame(self, j: int):
        dropped = bool(self.dropped[j])
        return _module_frame(self.frame_index0 + j + 1, self.frame_index0 + j, float(self.t_frame_s[j]),
                             None if dropped else float(self.t_ready_s[j]), float(self.tx_s[j]),
                             int(self.time_cpu_cycles[j]), 0, 0, dropped,
                             b"" if dropped else self.packet_list[j], None)

    def slice(self, start: int, stop: int) -> "OobFrameBlock":
        sl = slice(start, min(stop, len(self)))
        return _oob_block(self.frame_index0 + start, self.t_frame_s[sl], self.t_ready_s[sl],
                          self.time_cpu_cycles[sl], self.dropped[sl], self.tx_s[sl], self.packet_list[sl],
                          self._busy_after_s[sl], self._reported_tx_s[sl], self.results[sl])


def _oob_block(k, t_frame, t_ready, cycles, dropped, tx_s, packets, busy, reported, results) -> OobFrameBlock:
    return OobFrameBlock(k, t_frame, t_ready, cycles, dropped, float(np.max(tx_s)) if len(tx_s) else 0.0, 0, 0,
                         None, np.zeros((len(t_frame), 0), np.uint8), busy, reported,
                         packet_list=tuple(packets), tx_s=tx_s, results=tuple(results))


def make_engine(cfg: RadarConfig, profile, factory) -> OobEngine:
    """Check ``cfg`` for this firmware and build its engine; ``StartVeto`` when it cannot run."""
    problem = oob_problems(cfg, profile.antennas.tx_positions)
    if problem:
        raise StartVeto(CliCode.FRONT_END, problem)
    unrolled = loop_config(cfg)
    try:
        fe = factory(unrolled, antennas_for(profile, unrolled))
    except (ValueError, NotImplementedError) as e:
        raise StartVeto(CliCode.FRONT_END, f"front end: {e}") from e
    except Exception as e:
        if type(e).__module__.startswith("cardioradar"):
            raise StartVeto(CliCode.FRONT_END, f"front end: {e}") from e
        raise
    return OobEngine(fe, chain_for(cfg))
