"""Post-processing: reconstructed ECG + anchors -> R peaks, HR, IBI, quality, exclusions.

Input is the stitched model output in contiguous pieces (one per hop, in order):
``ecg_mv`` (n, 12) float32 mV and ``anchors`` (n,) float32 in [0, 1] (the R-peak head),
both at the model's ECG rate, plus the DSP's classical vitals and a movement judgement
for the window. Output is what the session store takes (``edge.types``):

- R peaks from the anchor head: local maxima above ``anchor_threshold`` at least
  ``min_rr_s`` apart, each moved to the largest |lead II - median| within
  ``refine_s`` (lead II has the sharper timing). An interval longer than 1.66 times the
  recent median RR is searched again at half the threshold (Pan & Tompkins' search-back,
  IEEE Trans Biomed Eng 32(3):230-236, 1985): the head stays low on a beat that follows a
  very short RR (atrial fibrillation). Where the anchor head is silent over a
  whole piece but lead II is not, peaks come from lead II alone (band-limited slope
  energy), so a model whose anchor head is weak still yields beats.
- Artifact exclusion as in CardioRadar's overnight study: a piece whose reconstructed
  amplitude (robust peak-to-peak of lead II: 99.5th - 0.5th percentile) stays below
  ``exclusion_amp_mv`` (0.2 mV in the paper) is stored with ``excluded=True`` and an
  ``exclusion`` event -- marked, never silently dropped. Beats inside it are not reported.
- HR: median of the RR intervals of the last ``hr_span_s`` (model source) when at least
  ``min_beats`` clean beats exist; otherwise the DSP's classical HR (source 'classical').
  BR always comes from the classical path (the model has no breathing head).
- Quality 0..1: anchor peak height per beat; for vitals the clean fraction of the last
  ``hr_span_s`` times the mean beat quality, or the classical SNR mapped to 0..1.

Everything is O(piece) per call with a fixed tail of context: no growth with session length.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError
from edge.types import N_LEADS, BeatRecord, EcgBlock, SessionEvent, VitalsRecord

LEAD_II = 1
EXCLUSION_AMP_MV = 0.2  # CardioRadar's overnight study


@dataclass(frozen=True)
class PostConfig:
    """Settings of the post-processing stage (one per session, from the model's ECG rate)."""

    fs_hz: float
    exclusion_amp_mv: float = EXCLUSION_AMP_MV
    anchor_threshold: float = 0.5
    # Search-back (Pan & Tompkins 1985): an interval longer than searchback_rr x the median of
    # the last rr_history RRs is searched again at searchback_level x anchor_threshold.
    searchback_rr: float = 1.66
    searchback_level: float = 0.5
    rr_history: int = 8
    min_rr_s: float = 0.25  # 240 bpm: AF runs this fast; the ventricles stay refractory ~0.2 s
    max_rr_s: float = 2.0  # 30 bpm: a longer interval is a gap, not an RR
    refine_s: float = 0.04
    context_s: float = 2.0  # of the previous piece, at most all of it: seam peaks, search-back
    hr_span_s: float = 10.0
    min_beats: int = 3
    snr_good_db: float = 15.0  # classical heart SNR mapped to quality 1
    snr_bad_db: float = 3.0  # ... and to quality 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fs_hz) and self.fs_hz > 0):
            raise InputDataError(f"PostConfig.fs_hz: expected a positive rate, got {self.fs_hz!r}")


@dataclass(frozen=True)
class ClassicalRates:
    """The DSP's model-free rates for the same span (NaN when not yet known)."""

    hr_bpm: float
    br_bpm: float
    heart_snr_db: float


@dataclass(frozen=True)
class PostResult:
    """What one piece produced, ready for the store and the live stream."""

    block: EcgBlock
    beats: tuple[BeatRecord, ...]
    vitals: VitalsRecord
    events: tuple[SessionEvent, ...]
    amplitude_mv: float  # lead II robust peak-to-peak of the piece


def amplitude_mv(lead_mv: np.ndarray) -> float:
    """Robust peak-to-peak (99.5th - 0.5th percentile) of one lead, mV; 0 when all NaN."""
    x = np.asarray(lead_mv, float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return 0.0
    lo, hi = np.percentile(x, [0.5, 99.5])
    return float(hi - lo)


def pick_peaks(signal: np.ndarray, threshold: float, min_distance: int) -> np.ndarray:
    """Indices of local maxima >= threshold, greedy by height, at least ``min_distance`` apart."""
    x = np.asarray(signal, float)
    if len(x) < 3:
        return np.zeros(0, np.int64)
    is_max = (x[1:-1] >= x[:-2]) & (x[1:-1] > x[2:]) & (x[1:-1] >= threshold)
    cand = np.flatnonzero(is_max) + 1
    keep: list[int] = []
    for i in cand[np.argsort(-x[cand], kind="stable")]:
        if all(abs(int(i) - k) >= min_distance for k in keep):
            keep.append(int(i))
    return np.array(sorted(keep), np.int64)


def lead_peaks(lead_mv: np.ndarray, fs_hz: float, min_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """R-peak candidates from one lead alone: slope energy above half its 98th percentile.

    Returns (indices, strength 0..1). Used when the anchor head says nothing.
    """
    x = np.nan_to_num(np.asarray(lead_mv, float))
    if len(x) < 5:
        return np.zeros(0, np.int64), np.zeros(0)
    e = np.gradient(x) ** 2
    k = max(1, int(round(0.03 * fs_hz)))
    e = np.convolve(e, np.ones(k) / k, mode="same")
    ref = float(np.percentile(e, 98))
    if ref <= 0:
        return np.zeros(0, np.int64), np.zeros(0)
    idx = pick_peaks(e / ref, 0.5, min_distance)
    return idx, np.clip(e[idx] / ref, 0.0, 1.0)


class PostProcessor:
    """Stateful per session; call ``process`` with consecutive pieces, ``gap`` after a break."""

    def __init__(self, cfg: PostConfig):
        self.cfg = cfg
        self._ctx_n = int(round(cfg.context_s * cfg.fs_hz))
        self._tail_ecg = np.zeros((0, N_LEADS), np.float32)
        self._tail_anchor = np.zeros(0, np.float32)
        self._tail_t0_s = 0.0
        self._tail_excluded = False
        self._last_beat_s = math.nan
        self._rrs: deque[float] = deque(maxlen=cfg.rr_history)  # accepted RRs, for search-back
        self._recent: deque[tuple[float, float, float]] = deque()  # (t_s, rr_s, quality)
        self._pieces: deque[tuple[float, float, bool]] = deque()  # (t0_s, t1_s, excluded)

    def gap(self) -> None:
        """The stream broke (disconnect, reset): no RR across it, no context carried over."""
        self._tail_ecg = self._tail_ecg[:0]
        self._tail_anchor = self._tail_anchor[:0]
        self._last_beat_s = math.nan
        self._rrs.clear()

    def process(self, t0_s: float, ecg_mv: np.ndarray, anchors: np.ndarray | None,
                classical: ClassicalRates, movement: bool = False) -> PostResult:
        """One piece: ecg_mv float32 (n, 12) mV at cfg.fs_hz from t0_s; anchors (n,) or None."""
        cfg = self.cfg
        ecg = np.ascontiguousarray(ecg_mv, np.float32)
        if ecg.ndim != 2 or ecg.shape[1] != N_LEADS or len(ecg) == 0:
            raise InputDataError(f"post: ecg_mv expected shape (n>0, {N_LEADS}), got {ecg.shape}")
        n = len(ecg)
        if anchors is not None and np.shape(anchors) != (n,):
            raise InputDataError(f"post: anchors expected shape ({n},), got {np.shape(anchors)}")
        t1_s = t0_s + n / cfg.fs_hz
        amp = amplitude_mv(ecg[:, LEAD_II])
        excluded = amp < cfg.exclusion_amp_mv
        events = []
        if excluded:
            events.append(SessionEvent(t0_s, "exclusion",
                                       f"lead II amplitude {amp:.3f} mV < {cfg.exclusion_amp_mv:g} mV",
                                       count=n, duration_s=n / cfg.fs_hz))
        beats = () if excluded else self._beats(t0_s, ecg, anchors)
        if excluded:
            self._last_beat_s = math.nan  # no RR across an excluded stretch
        self._keep_tail(t0_s, ecg, anchors)
        self._tail_excluded = bool(excluded)
        self._pieces.append((t0_s, t1_s, excluded))
        self._recent.extend((b.t_s, b.rr_s, b.quality) for b in beats)
        self._forget_before(t1_s - cfg.hr_span_s)
        vitals = self._vitals(t1_s, classical, movement)
        block = EcgBlock(t0_s=float(t0_s), fs_hz=cfg.fs_hz, ecg_mv=ecg, excluded=bool(excluded))
        return PostResult(block, beats, vitals, tuple(events), amp)

    # ------------------------------------------------------------------ beats
    def _beats(self, t0_s: float, ecg: np.ndarray, anchors: np.ndarray | None) -> tuple[BeatRecord, ...]:
        cfg = self.cfg
        fs = cfg.fs_hz
        # Context: the previous piece's tail, when it is contiguous with this one.
        contiguous = len(self._tail_ecg) and abs(self._tail_t0_s + len(self._tail_ecg) / fs - t0_s) < 0.5 / fs
        ctx = len(self._tail_ecg) if contiguous else 0
        lead = np.concatenate([self._tail_ecg[:, LEAD_II], ecg[:, LEAD_II]]) if ctx else ecg[:, LEAD_II]
        lead = np.nan_to_num(lead.astype(float))
        base_t = t0_s - ctx / fs
        min_d = max(1, int(round(cfg.min_rr_s * fs)))
        if anchors is not None:
            anc = np.concatenate([self._tail_anchor, anchors]) if ctx else np.asarray(anchors, float)
            anc = np.nan_to_num(np.asarray(anc, float))
        else:
            anc = None
        searchable = anc is not None and np.max(anc[ctx:], initial=0.0) >= cfg.anchor_threshold
        if searchable:
            idx = pick_peaks(anc, cfg.anchor_threshold, min_d)
            strength = np.clip(anc[idx], 0.0, 1.0)
        else:
            idx, strength = lead_peaks(lead, fs, min_d)
        r = max(1, int(round(cfg.refine_s * fs)))
        centred = np.abs(lead - np.median(lead))

        def refined(i: int) -> int:
            a, b = max(0, i - r), min(len(lead), i + r + 1)
            return a + int(np.argmax(centred[a:b]))

        out = []
        for i, q in zip(idx, strength):
            j = refined(int(i))
            t = base_t + j / fs
            if j < ctx and self._tail_excluded:
                continue  # the excluded piece's context: not reported there, not here
            if math.isfinite(self._last_beat_s):
                if t - self._last_beat_s < cfg.min_rr_s:
                    continue  # reported already (the seam's context) or too close
                if searchable:
                    out.extend(self._search_back(t, anc, base_t, refined))
            out.append(self._beat(t, float(q)))
        return tuple(out)

    def _search_back(self, t_s: float, anc: np.ndarray, base_t: float, refined) -> list[BeatRecord]:
        """Beats between the last one and ``t_s`` that the lower threshold finds, when that
        interval is too long for the recent rhythm."""
        cfg, fs, found = self.cfg, self.cfg.fs_hz, []
        while len(self._rrs) >= 2 and t_s - self._last_beat_s > cfg.searchback_rr * float(np.median(self._rrs)):
            a = max(0, int(math.ceil((self._last_beat_s + cfg.min_rr_s - base_t) * fs)))
            b = min(len(anc), int((t_s - cfg.min_rr_s - base_t) * fs) + 1)
            if b - a < 3:
                break
            seg = anc[a:b]
            peaks = pick_peaks(seg, cfg.searchback_level * cfg.anchor_threshold, len(seg))
            if not len(peaks):
                break  # nothing there but the flanks of the neighbours' peaks
            k = int(peaks[0])
            t = base_t + refined(a + k) / fs
            if not (cfg.min_rr_s <= t - self._last_beat_s and t_s - t >= cfg.min_rr_s):
                break
            found.append(self._beat(t, float(np.clip(seg[k], 0.0, 1.0))))
        return found

    def _beat(self, t_s: float, quality: float) -> BeatRecord:
        """The beat at ``t_s`` after the last one: its RR (NaN across a gap), made the last."""
        rr = t_s - self._last_beat_s if math.isfinite(self._last_beat_s) else math.nan
        if not rr <= self.cfg.max_rr_s:
            rr = math.nan
        if math.isfinite(rr):
            self._rrs.append(rr)
        self._last_beat_s = t_s
        hr = 60.0 / rr if math.isfinite(rr) else math.nan
        return BeatRecord(t_s=float(t_s), rr_s=float(rr), hr_bpm=float(hr), quality=quality)

    def _keep_tail(self, t0_s: float, ecg: np.ndarray, anchors: np.ndarray | None) -> None:
        k = min(self._ctx_n, len(ecg))
        self._tail_ecg = ecg[len(ecg) - k:].copy()
        self._tail_anchor = (np.asarray(anchors, np.float32)[len(ecg) - k:].copy() if anchors is not None
                             else np.zeros(k, np.float32))
        self._tail_t0_s = t0_s + (len(ecg) - k) / self.cfg.fs_hz

    def _forget_before(self, t_s: float) -> None:
        while self._recent and self._recent[0][0] < t_s:
            self._recent.popleft()
        while self._pieces and self._pieces[0][1] <= t_s:
            self._pieces.popleft()

    # ------------------------------------------------------------------ vitals
    def _vitals(self, t_s: float, classical: ClassicalRates, movement: bool) -> VitalsRecord:
        cfg = self.cfg
        rrs = [rr for _, rr, _ in self._recent if math.isfinite(rr)]
        span = sum(b - a for a, b, _ in self._pieces)
        clean = sum(b - a for a, b, ex in self._pieces if not ex)
        if len(rrs) >= cfg.min_beats - 1 and len(self._recent) >= cfg.min_beats and not movement:
            q = (clean / span if span > 0 else 0.0) * float(np.mean([q for _, _, q in self._recent]))
            return VitalsRecord(t_s, 60.0 / float(np.median(rrs)), classical.br_bpm, float(np.clip(q, 0, 1)), "model")
        snr = classical.heart_snr_db
        q = (snr - cfg.snr_bad_db) / (cfg.snr_good_db - cfg.snr_bad_db) if math.isfinite(snr) else 0.0
        if movement:
            q *= 0.5  # a rate measured through a movement is less trustworthy
        return VitalsRecord(t_s, classical.hr_bpm, classical.br_bpm, float(np.clip(q, 0, 1)), "classical")


class MovementDetector:
    """Body movement from the DSP's per-window moving-echo power and voxel re-selection.

    A window is flagged when its strongest moving-echo power exceeds ``ratio`` times the
    median of the last ``history`` windows (a person turning moves far more than a
    breathing chest), or when the voxel selector re-selected because the echo moved.
    """

    def __init__(self, ratio: float = 6.0, history: int = 8):
        self.ratio = ratio
        self._hist: deque[float] = deque(maxlen=history)

    def update(self, max_power: float, reselected_moved: bool) -> tuple[bool, str]:
        ref = float(np.median(self._hist)) if len(self._hist) >= 3 else math.nan
        self._hist.append(float(max_power))
        if reselected_moved:
            return True, "voxel selection moved (the strongest echo changed range bin or angle)"
        if math.isfinite(ref) and ref > 0 and max_power > self.ratio * ref:
            return True, f"moving-echo power {max_power / ref:.1f}x the recent median"
        return False, ""
