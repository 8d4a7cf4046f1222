"""The runtime's processing core, without threads: link items in, session records out.

``EdgeCore.feed(item, now_s)`` takes what the link delivers (`RadarFrame` or `LinkEvent`)
and returns `Output`s in order: raw frames to archive, ECG pieces with their beats and
vitals (`edge.post.PostResult`), session events. The caller (`edge.runtime.run` on the
board, ``bench edge`` on a recorded stream) decides where they go.

Session clock. A frame's session time is its stream index / fs, the index advancing by
the device frame counter's step (so lost frames keep their place on the clock). A jump
the counter cannot explain (module restart) advances by the host time instead.

Gaps. Up to ``max_fill_frames`` missing frames are filled by holding the last frame (the
windows stay contiguous; the loss is in the events). A longer gap ends the segment: the
stitcher is flushed, the DSP restarts, and the next segment's ECG starts after it (the
stretch between has no ECG blocks: a 'no data' gap in exports, with its events).

Stitching: ``edge.infer.CrossFadeStitcher`` (flushed at the end of each segment).

AF screening: the beats of every piece go to ``af`` (``edge.rhythm.AfTracker``); where the
model's ECG is excluded, the radar's own beats (``ClassicalVitals.beats_s``) go to ``af_radar``
instead, whose events say "radar beats" (docs/rhythm.md).

Latency. For every ECG sample the time from the arrival (``host_time_s``) of its frame
to the moment the piece holding it is ready is added to a fixed histogram
(`LatencyStats`): bounded memory whatever the length of the night.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge.dsp.config import DspConfig
from edge.dsp.pipeline import DspFeatures, DspPipeline
from edge.infer import CrossFadeStitcher, StitchedPiece
from edge.link.types import DISCONNECT, RECONNECT, LinkEvent, RadarFrame
from edge.post import ClassicalRates, MovementDetector, PostConfig, PostProcessor, PostResult
from edge.rhythm import AfConfig, AfTracker
from edge.runtime.packet import frame_packet
from edge.types import N_LEADS, BeatRecord, RawFrame, SessionEvent

log = logging.getLogger(__name__)

_COUNTER = 1 << 32
# AF from the radar's own beats where the model's ECG is excluded: looser beats score higher on
# a regular rhythm, so a higher threshold (chosen on simulated subjects, docs/rhythm.md).
RADAR_AF = AfConfig(threshold=0.7)
RADAR_MIN_RR_S = 0.2  # a radar beat this close after the last one pushed is the same beat seen by the next span


@dataclass(frozen=True)
class CoreConfig:
    """chunk_frames: frames batched per DSP push (a push is also made when the link is idle).
    max_fill_frames: longest gap bridged by holding the last frame. archive_raw: keep packets."""

    chunk_frames: int = 16
    max_fill_frames: int = 25
    archive_raw: bool = True
    max_counter_step: int = 360_000  # 1 h at 100 Hz: a larger step is a restart, not a gap


@dataclass(frozen=True)
class Output:
    """One thing for the store / live stream: exactly one of the fields is set."""

    raw: RawFrame | None = None
    result: PostResult | None = None
    event: SessionEvent | None = None


class LatencyStats:
    """Histogram of frame-arrival -> ECG-available latencies, 10 ms bins up to 60 s."""

    BIN_S = 0.01
    N_BINS = 6000

    def __init__(self):
        self.counts = np.zeros(self.N_BINS + 1, np.int64)  # last bin: >= 60 s
        self.max_s = 0.0

    def add(self, latencies_s: np.ndarray) -> None:
        lat = np.asarray(latencies_s, float)
        lat = lat[np.isfinite(lat)]
        if len(lat):
            idx = np.clip((np.maximum(lat, 0.0) / self.BIN_S).astype(np.int64), 0, self.N_BINS)
            np.add.at(self.counts, idx, 1)
            self.max_s = max(self.max_s, float(lat.max()))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def quantile_s(self, q: float) -> float:
        """Upper edge of the bin holding quantile q (NaN when empty)."""
        n = self.n
        if n == 0:
            return math.nan
        k = int(np.searchsorted(np.cumsum(self.counts), q * n))
        return min((k + 1) * self.BIN_S, self.max_s) if k < self.N_BINS else self.max_s


class EdgeCore:
    """Frames -> DSP -> model windows -> stitching -> post-processing, single-threaded."""

    """``model``: what ``edge.infer.EcgModel`` provides -- ``input_spec`` (ModelInputSpec) and
    ``predict_int8(x int8) -> (ecg_mv (N, 12) mV, anchors (N,) or None, cycle_s)``, N = the
    model's ECG samples per window (the ECG rate is N / window duration)."""

    def __init__(self, dsp_cfg: DspConfig, model, cfg: CoreConfig | None = None,
                 clock: Callable[[], float] | None = None):
        import time

        self.dsp_cfg = dsp_cfg
        self.model = model
        self.cfg = cfg or CoreConfig()
        self._clock = clock or time.monotonic
        self.fs_hz = dsp_cfg.fs_hz
        self.latency = LatencyStats()
        self.frames_received = 0
        self.frames_filled = 0
        self.frames_lost = 0  # as reported by the link (drop + overflow + ...)
        self.windows = 0
        self.segments = 0
        self.last_vitals = None
        self.last_result: PostResult | None = None
        self._movement = MovementDetector()
        self.af = AfTracker()  # AF episodes from the model's beats (a gap or exclusion: NaN RR, no decision)
        self.af_radar = AfTracker(RADAR_AF, "radar beats")  # ... from the radar's beats where it is excluded
        self._radar_from = self._radar_last = math.nan  # excluded stretch's start, last radar beat pushed
        self._move_flag = False
        self._classical = ClassicalRates(math.nan, math.nan, math.nan)
        self._post: PostProcessor | None = None
        self._stitch: CrossFadeStitcher | None = None
        self._seg_first_window: int | None = None  # start_frame of the segment's first window
        self._ecg_per_frame: float | None = None
        self._new_segment(0)
        self._last_fn: int | None = None
        self._last_host_s: float | None = None
        self._next_idx = 0  # session index of the next frame expected
        self._pending: list[np.ndarray] = []
        self._pending_first_idx = 0
        self._last_heatmap: np.ndarray | None = None
        self._arrival = np.full(8192, np.nan)  # ring: session frame index -> host_time_s
        self._disconnect_at: float | None = None

    # ------------------------------------------------------------------ input
    def feed(self, item: RadarFrame | LinkEvent) -> list[Output]:
        if isinstance(item, RadarFrame):
            return self._frame(item)
        return self._event(item)

    def idle(self) -> list[Output]:
        """The link has nothing right now: process the frames batched so far."""
        return self._push()

    def finish(self) -> list[Output]:
        """End of the session: process what is batched, flush the stitcher."""
        out = self._push()
        out += self._flush_segment()
        out += [Output(event=e) for e in self.af.finish()]
        out += [Output(event=e) for e in self.af_radar.finish()]
        return out

    @property
    def t_s(self) -> float:
        """Session time of the next frame expected."""
        return self._next_idx / self.fs_hz

    # ------------------------------------------------------------------ frames
    def _frame(self, f: RadarFrame) -> list[Output]:
        out: list[Output] = []
        idx, by_clock = self._index_of(f)
        if self._last_fn is not None and idx > self._next_idx:
            missing = idx - self._next_idx
            if by_clock:  # counter restarted (module reset): the reader could not count these
                self.frames_lost += missing
                out.append(Output(event=SessionEvent(self.t_s, "drop", f"~{missing} frames missing by the host "
                                                     "clock across a frame-counter restart", count=missing)))
            if missing <= self.cfg.max_fill_frames and self._last_heatmap is not None:
                for k in range(missing):  # hold the last frame: windows stay contiguous
                    self._queue_frame(self._last_heatmap, self._next_idx + k, math.nan)
                self.frames_filled += missing
                out += self._push()
            else:
                out += self._push()
                out += self._flush_segment()
                self._new_segment(idx)
        self._last_fn, self._last_host_s = f.frame_number, f.host_time_s
        self.frames_received += 1
        if self.cfg.archive_raw:
            out.append(Output(raw=RawFrame(f.frame_number, f.time_cpu_cycles, f.host_time_s, frame_packet(f))))
        self._last_heatmap = f.heatmap_iq
        self._queue_frame(f.heatmap_iq, idx, f.host_time_s)
        if len(self._pending) >= self.cfg.chunk_frames:
            out += self._push()
        return out

    def _index_of(self, f: RadarFrame) -> tuple[int, bool]:
        """The frame's stream index, and whether it was placed by the host clock."""
        if self._last_fn is None:
            return self._next_idx, False
        step = (f.frame_number - self._last_fn) % _COUNTER
        if 1 <= step <= self.cfg.max_counter_step:
            return self._next_idx - 1 + step, False
        # The counter cannot be trusted (restart): place the frame by the host clock.
        dt = max(0.0, f.host_time_s - (self._last_host_s or f.host_time_s))
        return self._next_idx + max(0, int(round(dt * self.fs_hz)) - 1), True

    def _queue_frame(self, heatmap: np.ndarray, idx: int, host_s: float) -> None:
        if not self._pending:
            self._pending_first_idx = idx
        self._pending.append(heatmap)
        self._arrival[idx % len(self._arrival)] = host_s
        self._next_idx = idx + 1

    # ------------------------------------------------------------------ DSP -> model -> post
    def _push(self) -> list[Output]:
        if not self._pending:
            return []
        frames = np.stack(self._pending)
        self._pending = []
        out: list[Output] = []
        for feats in self._dsp.push(frames):
            out += self._window(feats)
        return out

    def _window(self, feats: DspFeatures) -> list[Output]:
        self.windows += 1
        vit = feats.vitals
        self._classical = ClassicalRates(vit.heart_rate_bpm, vit.breathing_rate_bpm, vit.heart_snr_db)
        out: list[Output] = []
        if feats.refreshed:  # the grid is new only then; between refreshes the flag stands
            moved, why = self._movement.update(float(np.max(feats.grid.power)), feats.choice.reason == "moved")
            t_win = (self._seg_offset + feats.start_frame) / self.fs_hz
            if moved:
                out.append(Output(event=SessionEvent(t_win, "movement", why,
                                                     duration_s=self.dsp_cfg.window_samples / self.fs_hz)))
            self._move_flag = moved
        ecg, anchors, _cycle_s = self.model.predict_int8(feats.model_input)
        ecg = np.asarray(ecg, np.float32).reshape(-1, N_LEADS)
        anchors = np.zeros(len(ecg), np.float32) if anchors is None else np.asarray(anchors, np.float32).reshape(-1)
        if self._stitch is None:
            c = self.dsp_cfg
            self._ecg_per_frame = len(ecg) / c.window_samples
            per = self._ecg_per_frame
            self._stitch = CrossFadeStitcher(len(ecg), int(round(c.hop_samples * per)), int(round(c.lag_samples * per)))
            self._post = PostProcessor(PostConfig(fs_hz=self.fs_hz * self._ecg_per_frame))
        if self._seg_first_window is None:
            self._seg_first_window = feats.start_frame
        out += self._piece(self._stitch.push(ecg, anchors))
        return out

    def _piece(self, piece: StitchedPiece) -> list[Output]:
        per = self._ecg_per_frame
        fs_ecg = self.fs_hz * per
        t0 = (self._seg_offset + self._seg_first_window) / self.fs_hz + piece.start / fs_ecg
        res = self._post.process(t0, piece.ecg_mv, piece.anchors, self._classical, self._move_flag)
        if res.vitals.source == "model":  # the classical HR keeps to it through a movement
            self._dsp.trust_hr(res.vitals.hr_bpm)
        # latency of every ECG sample: its frame's arrival -> now
        first = self._seg_offset + self._seg_first_window + int(piece.start / per)
        n_frames = max(1, int(round(len(piece.ecg_mv) / per)))
        idx = (np.arange(first, first + n_frames)) % len(self._arrival)
        self.latency.add(np.repeat(self._clock() - self._arrival[idx], max(1, int(round(per)))))
        self.last_vitals = res.vitals
        self.last_result = res
        out = [Output(result=res)]
        out += [Output(event=e) for e in res.events]
        if res.block.excluded:
            self.af.gap()
            out += self._radar_af(res.block.t0_s, res.block.t0_s + len(piece.ecg_mv) / fs_ecg)
        else:
            self._radar_gap()
        out += [Output(event=e) for e in self.af.push(res.beats)]
        return out

    def _radar_af(self, t0_s: float, t1_s: float) -> list[Output]:
        """The classical fallback of AF screening over an excluded piece [t0_s, t1_s): the
        radar's own beats (``ClassicalVitals.beats_s``, known up to a margin before the span's
        end, so a piece's last beats may come with the next piece) into ``af_radar``. Not
        through a movement (the beats are the movement's)."""
        if self._move_flag:
            self._radar_gap()
            return []
        if math.isnan(self._radar_from):
            self._radar_from = t0_s
        after = self._radar_from if math.isnan(self._radar_last) else self._radar_last + RADAR_MIN_RR_S
        t = self._dsp.vitals.beats_s() + self._seg_offset / self.fs_hz
        beats = []
        for t_s in t[(t >= after) & (t < t1_s)]:
            rr = t_s - self._radar_last if not math.isnan(self._radar_last) else math.nan
            beats.append(BeatRecord(float(t_s), rr, 60.0 / rr if rr > 0 else math.nan, 0.0))
            self._radar_last = float(t_s)
        return [Output(event=e) for e in self.af_radar.push(beats)]

    def _radar_gap(self) -> None:
        """The radar's beats break here: the next excluded stretch starts a new series."""
        self._radar_from = self._radar_last = math.nan
        self.af_radar.gap()

    def _flush_segment(self) -> list[Output]:
        if self._stitch is None:
            return []
        piece = self._stitch.flush()
        out = self._piece(piece) if piece is not None else []
        self._seg_first_window = None
        return out

    def _new_segment(self, first_idx: int) -> None:
        self._seg_offset = first_idx
        self._dsp = DspPipeline(self.dsp_cfg, self.model.input_spec)
        self._seg_first_window = None
        if self._post is not None:
            self._post.gap()
        self.af.gap()
        self._radar_gap()
        self.segments += 1
        self._next_idx = first_idx

    # ------------------------------------------------------------------ link events
    def _event(self, ev: LinkEvent) -> list[Output]:
        out = self._push() if ev.kind == DISCONNECT else []
        t = self.t_s
        duration = 0.0
        if ev.kind == DISCONNECT:
            self._disconnect_at = ev.host_time_s
        elif ev.kind == RECONNECT and self._disconnect_at is not None:
            duration = max(0.0, ev.host_time_s - self._disconnect_at)
            self._disconnect_at = None
        if ev.kind in ("drop", "overflow"):
            self.frames_lost += int(ev.count)
        detail = ev.detail if ev.frame_number is None else f"{ev.detail} (frame {ev.frame_number})"
        out.append(Output(event=SessionEvent(t, ev.kind, detail, count=int(ev.count), duration_s=duration)))
        return out
