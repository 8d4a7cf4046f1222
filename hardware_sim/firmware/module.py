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

Range-bin selection (``rangeBinSelCfg``; default ``0.25 1.50 15 50`` when the .cfg has none):
``window.WindowTracker`` streams ``numBins`` bins centred where the chest moves (vital-sign
band energy of the slow-time signal), re-checked every ``reselectFrames`` frames with
hysteresis; a static reflector never decides it.

Padding bytes are a counter-based function of (seed, frame index) (``tlv.padding_block``):
the same seed gives the same bytes whatever the batch size.

UART budget. A packet of n bytes takes 10 n / baud seconds (8N1). It is ready at the end of
the frame's inter-frame processing; if the UART is still sending the previous packet then,
the new packet is dropped (its frame number is skipped on the wire) and the next stats TLV
shows a transmit time longer than the period and a zero margin. The SDK demo reports the
same overrun on its CLI (``overrun_exception_line``; docs/radar-module.md, "Frame overrun").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Protocol

import numpy as np
from numba import njit

from boards import AntennaConfig, BoardProfile
from boards.radarcfg import RadarConfig
from hardware_sim.firmware.cli import BANNER_68XX, EOL, PROMPT, CliCode, ConfigCli, StartVeto
from hardware_sim.firmware.tlv import (
    FrameStats, PacketTemplate, RangeWindow, Temperature, padding_block,
)
from hardware_sim.firmware.window import DEFAULT_RANGE_SEL, WindowTracker
from hardware_sim.types import ScatterSource

log = logging.getLogger(__name__)

CPU_HZ = 200e6
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


@dataclass(frozen=True)
class FrameBlock:
    """Frames ``frame_index0`` .. ``frame_index0 + n - 1`` as arrays (the module's batch path).

    t_frame_s (n,) float64: start of each frame's chirps, s (simulation clock).
    t_ready_s (n,) float64: when each packet is ready; the send time of the frames sent, s.
    time_cpu_cycles (n,) int64: the header's timeCpuCycles (0 .. 2**32 - 1).
    dropped (n,) bool: True where the UART was still busy (no bytes sent).
    heatmaps: int16 (n, num_bins, n_virtual, 2) real/imag as sent, or None.
    packets: uint8 (n, packet_bytes): every frame's packet (also what a dropped one would
    have been); ``data()`` is what the data UART carried.
    """

    frame_index0: int
    t_frame_s: np.ndarray
    t_ready_s: np.ndarray
    time_cpu_cycles: np.ndarray
    dropped: np.ndarray
    tx_duration_s: float
    first_bin: int
    num_bins: int
    heatmaps: np.ndarray | None
    packets: np.ndarray
    # UART state after each frame: busy until (s), and the output time the next stats report.
    _busy_after_s: np.ndarray = field(repr=False)
    _reported_tx_s: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.t_frame_s)

    @property
    def frame_numbers(self) -> np.ndarray:
        """(n,) int64: the header's frameNumber (frame index + 1)."""
        return np.arange(self.frame_index0 + 1, self.frame_index0 + 1 + len(self))

    def data(self) -> bytes:
        """The bytes on the data UART for these frames (the sent packets, in order)."""
        if not self.dropped.any():
            return self.packets.tobytes()
        return self.packets[~self.dropped].tobytes()

    def frame(self, j: int) -> ModuleFrame:
        """Frame j of the block as a ``ModuleFrame``."""
        dropped = bool(self.dropped[j])
        t_ready = float(self.t_ready_s[j])
        return _module_frame(self.frame_index0 + j + 1, self.frame_index0 + j, float(self.t_frame_s[j]),
                             None if dropped else t_ready, self.tx_duration_s, int(self.time_cpu_cycles[j]),
                             self.first_bin, self.num_bins, dropped,
                             b"" if dropped else self.packets[j].tobytes(),
                             None if self.heatmaps is None else self.heatmaps[j])

    def __iter__(self) -> Iterator[ModuleFrame]:
        return (self.frame(j) for j in range(len(self)))

    def slice(self, start: int, stop: int) -> FrameBlock:
        """Frames start .. stop - 1 of this block (views, no copies)."""
        sl = slice(start, min(stop, len(self)))
        return FrameBlock(self.frame_index0 + start, self.t_frame_s[sl], self.t_ready_s[sl],
                          self.time_cpu_cycles[sl], self.dropped[sl], self.tx_duration_s, self.first_bin,
                          self.num_bins, None if self.heatmaps is None else self.heatmaps[sl],
                          self.packets[sl], self._busy_after_s[sl], self._reported_tx_s[sl])


@njit(cache=True)
def _uart_schedule(t_ready_s, tx_s, busy_until_s):
    """The data UART over consecutive packets of tx_s seconds each, ready at t_ready_s (n,).

    Returns dropped (n,) bool, the output time each frame's successor reports in its stats
    (n,) s, and the time the UART is busy until after each frame (n,) s.
    """
    n = t_ready_s.shape[0]
    dropped = np.zeros(n, np.bool_)
    reported = np.empty(n)
    busy_after = np.empty(n)
    busy = busy_until_s
    for j in range(n):
        if busy > t_ready_s[j]:
            dropped[j] = True
            reported[j] = busy - t_ready_s[j] + tx_s  # the dropped frame's own output time
        else:
            busy = t_ready_s[j] + tx_s
            reported[j] = tx_s
        busy_after[j] = busy
    return dropped, reported, busy_after


def overrun_exception_line() -> bytes:
    """What the config UART shows when a frame's packet is still on the wire as the next one
    is ready. The SDK 3.x mmw demo asserts at frame start that the previous frame was exported
    (``DPC_ObjectDetection_frameStart``: ``interSubFrameProcToken == 0``, released only after
    the UART write) and its DPM report handler prints ``Obj Det DPC Exception: <file>, line
    <n>.``; the simulator names its own check (``_uart_schedule``) as file and line."""
    line = _uart_schedule.py_func.__code__.co_firstlineno
    return f"Obj Det DPC Exception: hardware_sim/firmware/module.py, line {line}.\r\n".encode()


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
        firmware: str | None = None,
    ):
        if mode not in ("adc", "fast"):
            raise ValueError(f"mode: expected 'adc' or 'fast', got {mode!r}")
        # Which firmware runs: "cardioradar" (range matrix) or "oob" (TI's demo, firmware/oob.py).
        self.firmware = firmware or getattr(profile.radar, "firmware", "cardioradar")
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
        # Frames made ahead, served one at a time by next_frame (None: make the next block).
        self._block: FrameBlock | None = None
        self._template: PacketTemplate | None = None
        self.cli = self._new_cli(banner)
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
                try:
                    self._on_start(t_s)
                except Exception as e:  # noqa: BLE001 - never let a start end the config UART
                    log.error("sensorStart: could not start the frame clock: %s", e, exc_info=True)
                    self.cli.running = False
                    out_cfg += f"{EOL}Error: sensor could not start: {type(e).__name__}{EOL}{PROMPT}".encode()
            elif reply.event == "stop":
                log.info("sensor stopped after %d frames", self._k)
        self._template = None  # rebuilt with the current baud rate before the next frame
        self._block = None  # its packets were made with the old settings
        return out_cfg, out_data

    def run_cfg_text(self, text: str, t_s: float = 0.0) -> tuple[bytes, bytes]:
        """Send a whole .cfg, one line at a time, as a host would."""
        out_cfg, out_data = b"", b""
        for line in text.splitlines():
            c, d = self.config_input(line.encode() + b"\n", t_s)
            out_cfg, out_data = out_cfg + c, out_data + d
        return out_cfg, out_data

    def power_cycle(self) -> None:
        """Reset like the device on a USB replug / DTR toggle: sensor stopped, config cleared.

        The scene and the seeded clock/front-end identity stay (it is the same chip); frames
        stop until a whole .cfg with sensorStart is received again, and the frame counter
        restarts from the beginning.
        """
        self.cli = self._new_cli(self.cli.banner_text)
        self._fe = self._pending_fe = None
        self._cfg = None
        self._block = None
        self._template = None
        self._k = 0
        log.info("module power-cycled: sensor stopped, config cleared")

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

    def _new_cli(self, banner: str) -> ConfigCli:
        if self.firmware == "oob":
            from hardware_sim.firmware.oob import OobCli

            return OobCli(banner, start_check=self._start_check)
        if self.firmware != "cardioradar":
            raise ValueError(f"firmware: expected 'cardioradar' or 'oob', got {self.firmware!r}")
        return ConfigCli(banner, start_check=self._start_check)

    def select_firmware(self, firmware: str) -> None:
        """Run ``firmware`` ('cardioradar' or 'oob') from now on, as after flashing and a reset."""
        old, self.firmware = self.firmware, firmware
        try:
            self.power_cycle()
        except ValueError:
            self.firmware = old
            raise

    def _start_check(self, cfg: RadarConfig) -> None:
        if self.firmware == "oob":  # its own checks and front end view (firmware/oob.py)
            from hardware_sim.firmware.oob import make_engine

            self._pending_fe = make_engine(cfg, self.profile, self._factory)
            return
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
        self._block = None
        self._stats_cache: dict[tuple[float, float], tuple[FrameStats, bytes]] = {}
        self._temp_cache: tuple[int, Temperature, bytes] | None = None
        self._template: PacketTemplate | None = None
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
        self._tracker = None
        if self._want_heatmap and self.firmware != "oob":
            n_valid = self._fe.n_fft if (cfg.adc is None or cfg.adc.output_fmt != 0) else self._fe.n_fft // 2
            self._tracker = WindowTracker(self._sel, cfg.frame.frame_rate_hz, n_valid, self._fe.bin_of_range,
                                          antennas_for(self.profile, cfg).n_virtual)
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

    def prepare_frames(self) -> None:
        """Make the next block of frames now (the server calls it right after sensorStart, so
        the first frame is not late); same bytes as making it on the first ``next_frame``."""
        if not self.cli.running or 0 < self._num_frames <= self._k:
            return
        block = self._block
        if block is None or not 0 <= self._k - block.frame_index0 < len(block):
            self._block = self._make_block(self.batch_frames)

    def next_frame(self) -> ModuleFrame | None:
        """Produce the next frame; None when the sensor is stopped or numFrames are done.

        Served from a block of ``batch_frames`` frames made ahead (``next_frames``' batch
        path); the frame's object is built only here.
        """
        if not self.cli.running or 0 < self._num_frames <= self._k:
            return None
        block = self._block
        j = self._k - block.frame_index0 if block is not None else -1
        if not 0 <= j < len(block or ()):
            block = self._block = self._make_block(self.batch_frames)
            j = 0
        self._commit(block, j + 1)
        return block.frame(j)

    def next_frames(self, max_frames: int | None = None) -> FrameBlock | None:
        """The next frames at once (at most ``max_frames``, default ``batch_frames``; fewer at
        a range-bin reselection or the end of numFrames); None when the sensor is stopped or
        numFrames are done. Byte-identical to as many ``next_frame`` calls."""
        if not self.cli.running or 0 < self._num_frames <= self._k:
            return None
        n = self.batch_frames if max_frames is None else max(1, int(max_frames))
        block = self._block
        j = self._k - block.frame_index0 if block is not None else -1
        if 0 <= j < len(block or ()):
            block = block.slice(j, j + n)  # rest of the block next_frame was serving
        else:
            block = self._make_block(n)
        self._block = None
        self._commit(block, len(block))
        return block

    def _commit(self, block: FrameBlock, n: int) -> None:
        """The module's state after the first n frames of ``block``."""
        self._k = block.frame_index0 + n
        self._uart_busy_until_s = float(block._busy_after_s[n - 1])
        self._last_stats = self._stats_entry(self._proc_us, float(block._reported_tx_s[n - 1]))

    def _make_block(self, max_frames: int) -> FrameBlock:
        """Frames k.. (k = frames made) up to max_frames, a range-window move or numFrames,
        from the module's current state (nothing committed)."""
        if self.firmware == "oob":
            return self._fe.make_block(self, max_frames)
        k, sel = self._k, self._sel
        n = max_frames
        if self._num_frames > 0:
            n = min(n, self._num_frames - k)
        n = max(1, n)
        heatmaps = None
        if self._tracker is not None:
            first, n, heatmaps = self._tracker.block(self._fe, self.scene, k, n,
                                                     lambda i: self._t_start_s + i * self._period_s)
            if first != self._first_bin or k == 0:
                self._first_bin, self._template = first, None
        idx = np.arange(k, k + n)
        t_frame_s = self._t_start_s + idx * self._period_s
        template = self._template or self._make_template(None if heatmaps is None else heatmaps[0])
        tx_s = self._tx_s
        t_ready_s = t_frame_s + self._active_s + self._proc_us * 1e-6
        cycles = (np.rint((t_ready_s * self._drift) * CPU_HZ).astype(np.int64) + self._cycle_offset) % 2**32
        dropped, reported_s, busy_s = _uart_schedule(t_ready_s, tx_s, self._uart_busy_until_s)
        stats_rows = temp_rows = None
        if self._want_stats:
            stats_rows = self._stats_rows(reported_s)
            temp_rows = self._temperature_rows(t_ready_s)
        packets = template.encode_block(idx + 1, cycles, padding_block(self._pad_key, k, n), heatmaps,
                                        stats_rows, temp_rows)
        n_dropped = int(np.count_nonzero(dropped))
        if n_dropped:
            log.debug("frames %d-%d: %d dropped (UART busy)", k + 1, k + n, n_dropped)
        return FrameBlock(k, t_frame_s, t_ready_s, cycles, dropped, tx_s, self._first_bin, sel.num_bins,
                          heatmaps, packets, busy_s, reported_s)

    def _stats_rows(self, reported_s: np.ndarray) -> np.ndarray:
        """(n, 24) uint8 stats payloads: frame j reports frame j - 1's output time."""
        first = (self._last_stats or self._stats_entry(self._proc_us, 0.0))[1]
        prev = reported_s[:-1]
        if len(prev) == 0 or bool(np.all(prev == prev[0])):  # the usual case: one value
            keys, inverse = prev[:1], np.zeros(len(prev), np.intp)
        else:
            keys, inverse = np.unique(prev, return_inverse=True)
        table = np.frombuffer(first + b"".join(self._stats_entry(self._proc_us, float(x))[1] for x in keys),
                              np.uint8).reshape(-1, len(first))
        return table[np.concatenate([[0], inverse + 1])]

    def _temperature_rows(self, t_ready_s: np.ndarray) -> np.ndarray:
        """(n, 24) uint8 temperature payloads, one report per second of the device clock."""
        seconds = t_ready_s.astype(np.int64)
        step = np.diff(seconds)
        if bool(np.all(step >= 0)):  # the usual case, time running forward: runs of one second
            new = np.concatenate([[True], step > 0])
            keys, inverse = seconds[new], np.cumsum(new) - 1
        else:
            keys, inverse = np.unique(seconds, return_inverse=True)
        table = np.frombuffer(b"".join(self._temperature_entry(float(x))[2] for x in keys),
                              np.uint8).reshape(len(keys), -1)
        return table[inverse]

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
        sensors = tuple(np.rint(warm_c + self._temp_offsets_c).astype(np.int64).tolist())  # round()'s values
        return Temperature(valid=0, time_ms=int(t_s * 1e3), sensors_c=sensors)
