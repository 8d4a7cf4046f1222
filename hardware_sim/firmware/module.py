"""``RadarModule``: the simulated module as a whole, minus its serial ports.

Config bytes go in (``config_input``); after a successful ``sensorStart`` every call of
``next_frame`` produces one radar frame: the packet the data UART carries (or nothing, when
the UART is still busy with the previous packet) and a truth row.

Frame clock. The device counts frames with its own crystal, off by ``clock_drift_ppm``
(drawn from the seed, within +-20 ppm): a nominal period P lasts P / (1 + drift) seconds on
the simulation clock. Frame k (0-based after sensorStart, ``frameNumber`` k + 1) starts its
chirps at ``t_start_s + frameTriggerDelay + k * period``. ``timeCpuCycles`` is the 200 MHz
device counter (seeded start value, wraps at 2**32) when the packet is built, i.e. after the
chirps and the inter-frame processing.

Range-bin selection (``rangeBinSelCfg``; default ``0.25 1.50 15 0`` when the .cfg has none):
on the first frame after sensorStart, and every ``reselectFrames`` frames when that is > 0,
the firmware sums |x|^2 over the virtual antennas in every range bin of the window and
streams ``numBins`` consecutive bins centred on the strongest one.

Padding bytes are a counter-based function of (seed, frame index) (``tlv.padding_block``):
the same seed gives the same bytes whatever the batch size.

UART budget. A packet of n bytes takes 10 n / baud seconds (8N1). It is ready at the end of
the frame's inter-frame processing; if the UART is still sending the previous packet then,
the new packet is dropped (its frame number is skipped on the wire) and the next stats TLV
shows a transmit time longer than the period and a zero margin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Protocol

import numpy as np

from boards import AntennaConfig, BoardProfile
from boards.radarcfg import RadarConfig, RangeBinSelCfg
from hardware_sim.firmware.cli import BANNER_68XX, CliCode, ConfigCli, StartVeto
from hardware_sim.firmware.tlv import (
    FrameStats, PacketTemplate, RangeWindow, Temperature, heatmap_payload, padding_block,
)
from hardware_sim.types import ScatterSource

log = logging.getLogger(__name__)

CPU_HZ = 200e6
DEFAULT_RANGE_SEL = RangeBinSelCfg(0.25, 1.50, 15, 0)
MAX_DRIFT_PPM = 20.0
UART_BITS_PER_BYTE = 10  # start + 8 data + stop


class FrameSource(Protocol):
    """What the firmware needs from the RF front end (``hardware_sim.frontend.FrontEnd``)."""

    n_fft: int

    def frame(self, scene: ScatterSource, frame_index: int, t_frame_s: float, bins: np.ndarray) -> np.ndarray:
        """int16 (len(bins), n_virtual, 2): range-FFT output, [..., 0] real, [..., 1] imaginary."""

    def bin_of_range(self, range_m: float) -> int:
        """Range bin index that holds ``range_m``."""


FrontEndFactory = Callable[[RadarConfig, AntennaConfig], FrameSource]


@dataclass(frozen=True)
class ModuleFrame:
    """One radar frame as the module produced it.

    packet: the bytes on the data UART (b"" when dropped). t_frame_s: start of the frame's
    chirps on the simulation clock. t_send_s: when its first byte goes out (None if dropped).
    heatmap: int16 (num_bins, n_virtual, 2) real/imag as sent, or None.
    """

    frame_number: int
    frame_index: int
    t_frame_s: float
    t_send_s: float | None
    tx_duration_s: float
    time_cpu_cycles: int
    first_bin: int
    num_bins: int
    dropped: bool
    packet: bytes
    heatmap: np.ndarray | None


_FRAME_FIELDS = tuple(ModuleFrame.__dataclass_fields__)


def _module_frame(*values) -> ModuleFrame:
    """``ModuleFrame(*values)`` without the frozen __init__'s per-field object.__setattr__
    (a third of the module's per-frame Python time); same fields, same object."""
    frame = object.__new__(ModuleFrame)
    frame.__dict__.update(zip(_FRAME_FIELDS, values))
    return frame


def default_front_end_factory(mode: str, seed: int, noise=None) -> FrontEndFactory:
    """The real front end (imported late: the firmware layers do not need it)."""

    def make(radar: RadarConfig, antennas: AntennaConfig) -> FrameSource:
        from hardware_sim.frontend import FrontEnd

        kwargs = {} if noise is None else {"noise": noise}
        return FrontEnd(radar, antennas, mode=mode, seed=seed, **kwargs)

    return make


def antennas_for(profile: BoardProfile, cfg: RadarConfig) -> AntennaConfig:
    """The board's TX/RX geometry with the chirp order of ``cfg`` (which the host may change)."""
    a = profile.antennas
    order = cfg.chirp_tx_order()
    n_rx = cfg.channel.n_rx if cfg.channel else len(a.rx_positions)
    rx = [list(p) for p in a.rx_positions[:n_rx]]
    virt = [[a.tx_positions[t][0] + r[0], a.tx_positions[t][1] + r[1]] for t in order for r in rx]
    rot = a.phase_rotation if order == list(a.chirp_tx_order) and n_rx == len(a.rx_positions) else None
    return replace(a, rx_positions=rx, chirp_tx_order=order, virtual_positions=virt, phase_rotation=rot)


class RadarModule:
    """The simulated IWR6843-class module: config CLI, frame clock, front end, TLV encoder."""

    def __init__(
        self,
        profile: BoardProfile,
        scene: ScatterSource,
        *,
        mode: str = "adc",
        seed: int = 0,
        noise=None,
        front_end_factory: FrontEndFactory | None = None,
        banner: str = BANNER_68XX,
        processing_us_per_sample: float = 0.5,
        batch_frames: int = 100,
    ):
        if mode not in ("adc", "fast"):
            raise ValueError(f"mode: expected 'adc' or 'fast', got {mode!r}")
        self.profile = profile
        self.scene = scene
        self.mode = mode
        ss = np.random.SeedSequence(seed)
        clock_ss, pad_ss, fe_ss, temp_ss = ss.spawn(4)
        clock_rng = np.random.default_rng(clock_ss)
        self.clock_drift_ppm = float(clock_rng.uniform(-MAX_DRIFT_PPM, MAX_DRIFT_PPM))
        self._cycle_offset = int(clock_rng.integers(0, 2**32))
        self._pad_key = int(pad_ss.generate_state(1, np.uint64)[0])
        temp_rng = np.random.default_rng(temp_ss)
        self._temp_offsets_c = temp_rng.normal(0.0, 1.5, size=10)
        self._factory = front_end_factory or default_front_end_factory(mode, int(fe_ss.generate_state(1)[0]), noise)
        self._proc_us_per_sample = processing_us_per_sample
        # Frames computed ahead per front-end call: large for records, small when served live
        # (a batch is computed just before its first frame is due).
        self.batch_frames = max(1, int(batch_frames))
        # Frames computed ahead: heatmaps and their wire bytes of frames _ahead_first, ...
        self._ahead: list[np.ndarray] = []
        self._ahead_wire: list[memoryview] = []
        self._ahead_first = 0
        self._template: PacketTemplate | None = None
        self.cli = ConfigCli(banner, start_check=self._start_check)
        self._fe: FrameSource | None = None
        self._pending_fe: FrameSource | None = None
        self._cfg: RadarConfig | None = None
        self._k = 0
        self._t_start_s = 0.0
        self._uart_busy_until_s = -np.inf
        self._first_bin = 0
        self._last_stats: tuple[FrameStats, bytes] | None = None  # and its TLV payload

    # -- config UART ------------------------------------------------------------------------

    def banner(self) -> bytes:
        return self.cli.banner()

    def config_input(self, data: bytes, t_s: float = 0.0) -> tuple[bytes, bytes]:
        """Bytes received on the config UART at simulation time ``t_s``.

        Returns (bytes for the config UART, bytes for the data UART).
        """
        out_cfg, out_data = b"", b""
        for reply in self.cli.feed(data):
            out_cfg += reply.text
            out_data += reply.data
            if reply.event == "start":
                self._on_start(t_s)
            elif reply.event == "stop":
                log.info("sensor stopped after %d frames", self._k)
        self._template = None  # rebuilt with the current baud rate before the next frame
        return out_cfg, out_data

    def run_cfg_text(self, text: str, t_s: float = 0.0) -> tuple[bytes, bytes]:
        """Send a whole .cfg, one line at a time, as a host would."""
        out_cfg, out_data = b"", b""
        for line in text.splitlines():
            c, d = self.config_input(line.encode() + b"\n", t_s)
            out_cfg, out_data = out_cfg + c, out_data + d
        return out_cfg, out_data

    @property
    def running(self) -> bool:
        return self.cli.running and not self._finished()

    @property
    def config(self) -> RadarConfig | None:
        """The configuration the sensor runs with (None before the first sensorStart)."""
        return self._cfg

    @property
    def data_baud(self) -> int:
        return self.cli.data_baud

    @property
    def frame_period_s(self) -> float:
        """Frame period on the simulation clock (crystal drift included)."""
        if self._cfg is None:
            raise RuntimeError("sensor never started")
        return self._cfg.frame.period_ms * 1e-3 / (1.0 + self.clock_drift_ppm * 1e-6)

    def _start_check(self, cfg: RadarConfig) -> None:
        try:
            self._pending_fe = self._factory(cfg, antennas_for(self.profile, cfg))
        except (ValueError, NotImplementedError) as e:
            raise StartVeto(CliCode.FRONT_END, f"front end: {e}") from e
        except Exception as e:  # the front end's own error kinds: name them, refuse the start
            if type(e).__module__.startswith("cardioradar"):
                raise StartVeto(CliCode.FRONT_END, f"front end: {e}") from e
            raise

    def _on_start(self, t_s: float) -> None:
        self._cfg = self.cli.running_cfg
        self._fe, self._pending_fe = self._pending_fe, None
        self._k = 0
        self._t_start_s = t_s + self._cfg.frame.trigger_delay_ms * 1e-3
        self._uart_busy_until_s = -np.inf
        self._last_stats = None
        self._ahead, self._ahead_wire, self._ahead_first = [], [], 0
        self._stats_cache: dict[tuple[float, float], tuple[FrameStats, bytes]] = {}
        self._temp_cache: tuple[int, Temperature, bytes] | None = None
        self._template: PacketTemplate | None = None
        self._pad: tuple[int, int, bytes] = (0, 0, b"")  # first frame, count, padding rows
        cfg, gm = self._cfg, self._cfg.gui_monitor
        # What every frame of this run does: fixed from sensorStart on.
        self._sel = cfg.range_sel or DEFAULT_RANGE_SEL
        self._want_heatmap = gm is not None and gm.range_azimuth_heatmap == 1
        self._want_stats = gm is not None and gm.stats_info == 1
        self._want_points = gm is not None and gm.detected_objects == 1
        self._active_s = self._active_frame_s()
        self._drift = 1.0 + self.clock_drift_ppm * 1e-6
        self._period_s = self.frame_period_s
        self._num_frames = cfg.frame.num_frames
        self._proc_us = 100.0
        log.info("sensor started at t=%.6f s, period %.9f s (drift %+.2f ppm)",
                 t_s, self.frame_period_s, self.clock_drift_ppm)

    def _finished(self) -> bool:  # (inlined in next_frame)
        return self._cfg is not None and 0 < self._cfg.frame.num_frames <= self._k

    # -- frames -----------------------------------------------------------------------------

    @property
    def frames_made(self) -> int:
        """Frames made since the last sensorStart (sent or dropped)."""
        return self._k

    def next_frame_time_s(self) -> float:
        """Simulation time at which the next frame's chirps start."""
        return self._t_start_s + self._k * self.frame_period_s

    def next_frame(self) -> ModuleFrame | None:
        """Produce the next frame; None when the sensor is stopped or numFrames are done."""
        if not self.cli.running or 0 < self._num_frames <= self._k:
            return None
        k, sel = self._k, self._sel
        t_frame_s = self._t_start_s + k * self._period_s
        heatmap = wire = None
        if self._want_heatmap:
            if k == 0 or (sel.reselect_frames > 0 and k % sel.reselect_frames == 0):
                self._first_bin = self._select_bins(self._fe, k, t_frame_s, sel)
                self._ahead, self._ahead_wire, self._template = [], [], None
            j = k - self._ahead_first
            if not 0 <= j < len(self._ahead):
                self._compute_ahead(self._fe, k, sel)
                j = 0
            heatmap, wire = self._ahead[j], self._ahead_wire[j]
        template = self._template or self._make_template(heatmap)
        t_ready_s = t_frame_s + self._active_s + self._proc_us * 1e-6
        cycles = (int(round((t_ready_s * self._drift) * CPU_HZ)) + self._cycle_offset) % 2**32
        stats_b = temp_b = None
        if self._want_stats:
            stats_b = (self._last_stats or self._stats_entry(self._proc_us, 0.0))[1]
            temp = self._temp_cache
            temp_b = (temp if temp is not None and temp[0] == int(t_ready_s) else self._temperature_entry(t_ready_s))[2]
        packet = template.encode(k + 1, cycles, self._padding(k, template.pad_bytes), wire, stats_b, temp_b)
        tx_s = self._tx_s
        dropped = self._uart_busy_until_s > t_ready_s
        if dropped:
            log.debug("frame %d dropped: UART busy until %.6f s, packet ready at %.6f s",
                      k + 1, self._uart_busy_until_s, t_ready_s)
            # The dropped frame's own output time is what the next stats report.
            self._last_stats = self._stats_entry(self._proc_us, self._uart_busy_until_s - t_ready_s + tx_s)
        else:
            self._uart_busy_until_s = t_ready_s + tx_s
            self._last_stats = self._stats_entry(self._proc_us, tx_s)
        self._k = k + 1
        return _module_frame(k + 1, k, t_frame_s, None if dropped else t_ready_s, tx_s, cycles, self._first_bin,
                             sel.num_bins, dropped, b"" if dropped else packet, heatmap)

    def _make_template(self, heatmap: np.ndarray | None) -> PacketTemplate:
        """The packet layout of this run (rebuilt when the range window moves)."""
        window = None
        if heatmap is not None:
            window = RangeWindow(self._first_bin, self._sel.num_bins, heatmap.shape[1],
                                 self._cfg.profile.range_resolution_m)
        self._template = PacketTemplate(
            heatmap_shape=None if heatmap is None else heatmap.shape[:2], range_window=window,
            stats=self._want_stats, temperature=self._want_stats, detected_points=self._want_points)
        self._proc_us = 100.0 + self._proc_us_per_sample * (heatmap.size // 2 if heatmap is not None else 0)
        self._tx_s = self._template.total_bytes * UART_BITS_PER_BYTE / self.data_baud
        return self._template

    def _padding(self, k: int, n: int) -> bytes:
        """Padding of frame k: seeded non-zero bytes, a pure function of (seed, k)."""
        first, count, rows = self._pad
        if not first <= k < first + count:
            count = max(self.batch_frames, 1)
            first, rows = k, padding_block(self._pad_key, k, count).tobytes()
            self._pad = (first, count, rows)
        at = (k - first) * 32
        return rows[at:at + n]

    def _compute_ahead(self, fe: FrameSource, k: int, sel: RangeBinSelCfg) -> None:
        """Heatmaps of frames k.. up to the batch size, the next reselection or numFrames.

        The front end's batch call (``frames``) is byte-identical to one call per frame and
        evaluates the scene for all of them at once, which is where the time goes.
        """
        n = self.batch_frames
        if sel.reselect_frames > 0:
            n = min(n, sel.reselect_frames - k % sel.reselect_frames)
        if self._cfg.frame.num_frames > 0:
            n = min(n, self._cfg.frame.num_frames - k)
        idx = np.arange(k, k + max(1, n))
        t_s = self._t_start_s + idx * self.frame_period_s
        bins = np.arange(self._first_bin, self._first_bin + sel.num_bins)
        if hasattr(fe, "frames"):
            block = np.asarray(fe.frames(self.scene, idx, t_s, bins), dtype=np.int16)
        else:
            block = np.stack([np.asarray(fe.frame(self.scene, int(i), float(t), bins), np.int16)
                              for i, t in zip(idx, t_s)])
        self._ahead = list(block)
        wire = memoryview(heatmap_payload(block.reshape(-1, *block.shape[2:])))
        step = len(wire) // len(block)
        self._ahead_wire = [wire[j:j + step] for j in range(0, len(wire), step)]
        self._ahead_first = k

    def _select_bins(self, fe: FrameSource, k: int, t_frame_s: float, sel: RangeBinSelCfg) -> int:
        lo = max(0, fe.bin_of_range(sel.range_start_m))
        hi = max(lo, fe.bin_of_range(sel.range_end_m))
        window = np.arange(lo, hi + 1)
        x = np.asarray(fe.frame(self.scene, k, t_frame_s, window), dtype=np.float64)
        power = (x**2).sum(axis=(1, 2))
        centre = int(window[int(np.argmax(power))])
        n_valid = fe.n_fft if (self._cfg.adc is None or self._cfg.adc.output_fmt != 0) else fe.n_fft // 2
        first = int(np.clip(centre - sel.num_bins // 2, 0, max(0, n_valid - sel.num_bins)))
        log.info("frame %d: strongest reflector in %.2f-%.2f m at bin %d; streaming bins %d-%d",
                 k + 1, sel.range_start_m, sel.range_end_m, centre, first, first + sel.num_bins - 1)
        return first

    def _active_frame_s(self) -> float:
        cfg = self._cfg
        n_chirps = cfg.frame.chirp_end_idx - cfg.frame.chirp_start_idx + 1
        return n_chirps * cfg.frame.num_loops * cfg.profile.chirp_time_us * 1e-6

    def _stats_entry(self, proc_us: float, tx_s: float) -> tuple[FrameStats, bytes]:
        """Stats of a frame and their TLV payload."""
        key = (proc_us, tx_s)
        got = self._stats_cache.get(key)
        if got is None:  # the same few values every frame: compute once
            stats = self._compute_stats(proc_us, tx_s)
            got = self._stats_cache[key] = (stats, PacketTemplate.stats_payload(stats))
        return got

    def _compute_stats(self, proc_us: float, tx_s: float) -> FrameStats:
        period_us = self._cfg.frame.period_ms * 1e3
        active_us = self._active_frame_s() * 1e6
        inter_us = max(1.0, period_us - active_us)
        margin_us = max(0.0, inter_us - proc_us - tx_s * 1e6)
        return FrameStats(
            inter_frame_processing_time_us=int(proc_us),
            transmit_output_time_us=int(round(tx_s * 1e6)),
            inter_frame_processing_margin_us=int(margin_us),
            inter_chirp_processing_margin_us=int(max(0.0, self._cfg.profile.idle_time_us - 2.0)),
            active_frame_cpu_load_pct=min(100, int(round(100 * 2.0 / max(self._cfg.profile.chirp_time_us, 1.0)))),
            inter_frame_cpu_load_pct=min(100, int(round(100 * proc_us / inter_us))),
        )

    def _temperature_entry(self, t_s: float) -> tuple[int, Temperature, bytes]:
        # The radar SS reports temperature about once a second; the last report is repeated.
        second = int(t_s)
        if self._temp_cache is None or self._temp_cache[0] != second:
            temp = self._temperature_report(float(second))
            self._temp_cache = (second, temp, PacketTemplate.temperature_payload(temp))
        return self._temp_cache

    def _temperature_report(self, t_s: float) -> Temperature:
        # The die warms from 35 C towards 48 C over ~10 minutes after the start.
        warm_c = 35.0 + 13.0 * (1.0 - np.exp(-(t_s - self._t_start_s) / 600.0))
        sensors = tuple(int(round(warm_c + o)) for o in self._temp_offsets_c)
        return Temperature(valid=0, time_ms=int(t_s * 1e3), sensors_c=sensors)
