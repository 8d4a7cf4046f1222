"""Atrial-fibrillation screening from the beat-to-beat (RR) intervals of the reconstructed ECG.

AF shows as an irregularly irregular ventricular rhythm. The three irregularity measures are
those of Dash et al., "Automatic real time detection of atrial fibrillation", Ann Biomed Eng
37(9):1701-1709, 2009: the RMSSD normalised by the mean RR, the Shannon entropy of the RR
histogram (16 bins) and the turning-point ratio; as there, the largest and smallest RR of a
window are trimmed first so that isolated ectopic beats (a premature beat and its pause) do not
read as AF. Our windows are shorter (``window_beats``, 32 by default, against the paper's 128,
so a tester sees an episode within half a minute) and the three measures are combined into
one continuous score (for ROC analysis) by soft thresholds; the thresholds and widths are our
own choice, set on hand-made RR series (tests/test_rhythm.py), not numbers from the paper.

Pure numpy on the RR series: the board runs it after ``edge.post``; the host scores it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError
from edge.types import SessionEvent


@dataclass(frozen=True)
class AfConfig:
    window_beats: int = 32  # RR intervals per decision
    step_beats: int = 8  # a decision every 8 beats
    trim_frac: float = 0.0625  # each side; Dash et al. drop 8 of 128
    threshold: float = 0.5  # score at or above: AF
    nrmssd_mid: float = 0.09  # soft threshold of RMSSD / mean RR ...
    nrmssd_width: float = 0.02
    entropy_mid: float = 0.55  # ... of the normalised Shannon entropy
    entropy_width: float = 0.08
    tpr_mid: float = 0.53  # ... of the turning-point ratio (a random series: 2/3)
    tpr_width: float = 0.07

    def __post_init__(self) -> None:
        if self.window_beats < 8:
            raise InputDataError(f"AfConfig.window_beats: expected >= 8, got {self.window_beats}")
        if self.step_beats < 1:
            raise InputDataError(f"AfConfig.step_beats: expected >= 1, got {self.step_beats}")
        if not 0.0 <= self.trim_frac < 0.25:
            raise InputDataError(f"AfConfig.trim_frac: expected 0 <= x < 0.25, got {self.trim_frac}")


@dataclass(frozen=True)
class RrIrregularity:
    """Dash et al.'s measures of one window of RR intervals."""

    nrmssd: float  # RMSSD / mean RR of the trimmed series
    entropy: float  # Shannon entropy of the RR histogram (bins of mean RR / 16) / log(16)
    tpr: float  # turning points / (n - 2)


@dataclass(frozen=True)
class AfEpisode:
    t0_s: float
    t1_s: float
    score: float  # the highest window score inside the episode


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def _fix_detection_errors(rr: np.ndarray) -> np.ndarray:
    """Undo the beat detector's two common slips before judging the rhythm: a missed beat (an
    interval 1.6-2.4x the window's median, split into two halves) and an extra beat (two
    intervals both < 75 % of the median that add up to it within 20 %, merged). On the
    reconstructed ECG these slips alone made a sinus rhythm read as AF (docs/rhythm.md); in AF
    an interval twice the median or such a pair is rare (the spread is 12-25 % of the mean)."""
    med = float(np.median(rr))
    out: list[float] = []
    i = 0
    while i < len(rr):
        x = float(rr[i])
        if 1.6 * med < x < 2.4 * med:
            out += [x / 2, x / 2]
            i += 1
        elif (i + 1 < len(rr) and x < 0.75 * med and rr[i + 1] < 0.75 * med
              and abs(x + rr[i + 1] - med) < 0.2 * med):
            out.append(x + float(rr[i + 1]))
            i += 2
        else:
            out.append(x)
            i += 1
    return np.asarray(out)


def _drop_ectopic_pairs(rr: np.ndarray) -> np.ndarray:
    """Remove each premature interval (< 85 % of the median) and the pause that follows it
    (> 105 %): the signature of an isolated ectopic beat (PVC: full compensatory pause; PAC:
    a shorter one), which would otherwise read as irregularity."""
    med = float(np.median(rr))
    drop = np.zeros(len(rr), bool)
    i = 0
    while i < len(rr) - 1:
        if rr[i] < 0.85 * med and rr[i + 1] > 1.05 * med:
            drop[i] = drop[i + 1] = True
            i += 2
        else:
            i += 1
    kept = rr[~drop]
    return kept if len(kept) >= 8 else rr  # a window made of such pairs is no isolated ectopy


def irregularity(rr_s: np.ndarray, trim_frac: float = AfConfig.trim_frac) -> RrIrregularity:
    """The three measures of ``rr_s`` (seconds, in order; at least 8 finite intervals)."""
    rr = np.asarray(rr_s, float)
    rr = rr[np.isfinite(rr) & (rr > 0)]
    if len(rr) < 8:
        raise InputDataError(f"RR series: expected >= 8 finite intervals, got {len(rr)}")
    rr = _drop_ectopic_pairs(_fix_detection_errors(rr))
    k = int(math.floor(len(rr) * trim_frac))
    if k:  # drop the k longest and k shortest, keep the order of the rest
        order = np.argsort(rr, kind="stable")
        keep = np.sort(order[k:len(rr) - k])
        rr = rr[keep]
    d = np.diff(rr)
    nrmssd = float(np.sqrt(np.mean(d * d)) / np.mean(rr))
    # bins of a fixed relative width (mean RR / 16): a regular rhythm fills one or two of them
    width = float(np.mean(rr)) / 16.0
    hist = np.bincount(np.floor((rr - rr.min()) / width).astype(np.int64))
    p = hist[hist > 0] / len(rr)
    entropy = float(-(p * np.log(p)).sum() / math.log(16))
    mid = rr[1:-1]
    turns = ((mid > rr[:-2]) & (mid > rr[2:])) | ((mid < rr[:-2]) & (mid < rr[2:]))
    return RrIrregularity(nrmssd, entropy, float(turns.sum() / max(len(mid), 1)))


def af_score(rr_s: np.ndarray, cfg: AfConfig = AfConfig()) -> float:
    """0..1: how much ``rr_s`` looks like AF (all three measures high together)."""
    m = irregularity(rr_s, cfg.trim_frac)
    s = (_sigmoid((m.nrmssd - cfg.nrmssd_mid) / cfg.nrmssd_width)
         * _sigmoid((m.entropy - cfg.entropy_mid) / cfg.entropy_width)
         * _sigmoid((m.tpr - cfg.tpr_mid) / cfg.tpr_width))
    return float(s ** (1.0 / 3.0))  # geometric mean: any one low measure pulls the score down


def _windows(rr: np.ndarray, cfg: AfConfig):
    """Start indices of the windows of ``cfg.window_beats`` finite intervals (never across a gap)."""
    n, i = cfg.window_beats, 0
    while i + n <= len(rr):
        bad = np.flatnonzero(~np.isfinite(rr[i:i + n]))
        if len(bad):  # restart after the gap
            i += int(bad[-1]) + 1
            continue
        yield i
        i += cfg.step_beats


def window_scores(beat_t_s: np.ndarray, rr_s: np.ndarray, cfg: AfConfig = AfConfig()) -> list[tuple[float, float, float]]:
    """(t0_s, t1_s, score) per window of ``cfg.window_beats`` consecutive RR intervals.

    ``beat_t_s``: each beat's time; ``rr_s``: the interval ending at that beat (NaN after a gap:
    a window never spans a gap)."""
    t, rr = _checked(beat_t_s, rr_s)
    n = cfg.window_beats
    return [(float(t[i] - rr[i]), float(t[i + n - 1]), af_score(rr[i:i + n], cfg)) for i in _windows(rr, cfg)]


def af_episodes(beat_t_s: np.ndarray, rr_s: np.ndarray, cfg: AfConfig = AfConfig()) -> list[AfEpisode]:
    """AF episodes (session time, s): each interval takes the mean score of the windows that hold
    it (so an episode's edges fall where the rhythm changes, not a window length away); runs of
    intervals at or above the threshold are the episodes."""
    t, rr = _checked(beat_t_s, rr_s)
    total, count = np.zeros(len(rr)), np.zeros(len(rr))
    n = cfg.window_beats
    for i in _windows(rr, cfg):
        total[i:i + n] += af_score(rr[i:i + n], cfg)
        count[i:i + n] += 1
    score = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    is_af = score >= cfg.threshold
    episodes = []
    for a, b in _runs(is_af):
        episodes.append(AfEpisode(float(t[a] - rr[a]), float(t[b - 1]), float(score[a:b].max())))
    return episodes


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _checked(beat_t_s, rr_s) -> tuple[np.ndarray, np.ndarray]:
    t, rr = np.asarray(beat_t_s, float), np.asarray(rr_s, float)
    if t.shape != rr.shape:
        raise InputDataError(f"beat times {t.shape} and RR intervals {rr.shape}: expected the same shape")
    return t, rr


def af_burden(episodes: list[AfEpisode], duration_s: float) -> float:
    """Fraction of ``duration_s`` spent in AF episodes."""
    if not duration_s > 0:
        return 0.0
    return float(min(1.0, sum(e.t1_s - e.t0_s for e in episodes) / duration_s))


AF_EVENT = "af"  # SessionEvent kind of an AF episode (edge.types.EVENT_KINDS)
BRIDGE_S = 3.0  # AfTracker: longest beat-to-beat time taken as an interval where edge.post gave none


class AfTracker:
    """``af_episodes`` as a stream, for the board: beats in, "af" ``SessionEvent``s out.

    Feed the beats of each post-processed piece in order (``push``); ``finish`` at the end of
    the session. It keeps only the intervals a future window can still hold (at most
    ``window_beats + step_beats``): bounded memory for any night. An interval's score is final
    once the next window starts after it, so the episodes are exactly those ``af_episodes``
    finds on the whole series, told about ``window_beats`` beats late (half a minute at 60
    bpm). Per episode two events: at its onset time an open one (``duration_s`` 0, the
    episode has just been recognised) and, when it ends (or at ``finish``), the closed one
    with the episode's duration. ``gap()`` says the stream broke (a disconnect, an excluded
    piece): the next beat's interval is unknown and breaks the series, so no window, and no
    decision, spans it. A beat with a NaN ``rr_s`` but no gap before it is a detector miss
    (``edge.post`` gives no interval over ``max_rr_s``, 2 s): its time from the last beat is
    taken as the interval when at most ``BRIDGE_S``, and ``_fix_detection_errors`` splits it.
    Without that, the misses of the shipped model's beats in AF broke nearly every 32-beat
    window (docs/rhythm.md). ``af_episodes`` on stored beats has no gap information and keeps
    every NaN as a break. ``source`` (e.g. "radar beats") is named in the events' details.
    """

    def __init__(self, cfg: AfConfig = AfConfig(), source: str = ""):
        self.cfg = cfg
        self._source = f", {source}" if source else ""  # named in the events' details
        self._t: list[float] = []  # buffered intervals: beat time, RR, score sum, window count
        self._rr: list[float] = []
        self._sum: list[float] = []
        self._cnt: list[int] = []
        self._first = 0  # absolute index of the first buffered interval
        self._next_start = 0  # absolute index where the next window starts
        self._open: tuple[float, float, float] | None = None  # (onset, last AF beat, max score)
        self.episodes: list[AfEpisode] = []  # closed ones, kept for a summary (a few per night)
        self._last_t: float | None = None
        self._gap = True  # nothing before the first beat

    def gap(self) -> None:
        """The stream broke (disconnect, excluded piece): no interval across it."""
        self._gap = True

    def push(self, beats) -> list:
        """``beats``: objects with ``t_s`` and ``rr_s`` (``edge.types.BeatRecord``), in order."""
        out = []
        n, step = self.cfg.window_beats, self.cfg.step_beats
        for b in beats:
            rr = float(b.rr_s)
            if not math.isfinite(rr) and not self._gap and self._last_t is not None \
                    and 0.0 < b.t_s - self._last_t <= BRIDGE_S:
                rr = float(b.t_s) - self._last_t  # a missed beat, not a break
            self._gap, self._last_t = False, float(b.t_s)
            self._t.append(float(b.t_s))
            self._rr.append(rr if math.isfinite(rr) and rr > 0 else math.nan)
            self._sum.append(0.0)
            self._cnt.append(0)
            last = self._first + len(self._t) - 1
            if not math.isfinite(self._rr[-1]):  # no window spans it: start after it
                self._next_start = last + 1
            elif self._next_start + n - 1 == last:  # a window is complete
                a = self._next_start - self._first
                s = af_score(np.array(self._rr[a:a + n]), self.cfg)
                for k in range(a, a + n):
                    self._sum[k] += s
                    self._cnt[k] += 1
                self._next_start += step
            out += self._settle(self._next_start)
        return out

    def finish(self) -> list:
        """The session ended: every buffered interval is final; an open episode is closed."""
        out = self._settle(self._first + len(self._t))
        if self._open is not None:
            out.append(self._close())
        return out

    def _settle(self, upto: int) -> list:
        """Final scores for the intervals before absolute index ``upto``."""
        out = []
        k = min(upto - self._first, len(self._t))
        for i in range(k):
            score = self._sum[i] / self._cnt[i] if self._cnt[i] else 0.0
            if score >= self.cfg.threshold:
                if self._open is None:
                    self._open = (self._t[i] - self._rr[i], self._t[i], score)
                    out.append(SessionEvent(self._open[0], AF_EVENT, f"AF onset (score {score:.2f}{self._source})"))
                else:
                    self._open = (self._open[0], self._t[i], max(self._open[2], score))
            elif self._open is not None:
                out.append(self._close())
        if k > 0:
            del self._t[:k], self._rr[:k], self._sum[:k], self._cnt[:k]
            self._first += k
        return out

    def _close(self):
        t0, t1, score = self._open
        self._open = None
        ep = AfEpisode(t0, t1, score)
        self.episodes.append(ep)
        return SessionEvent(t0, AF_EVENT, f"AF episode {t1 - t0:.0f} s (max score {score:.2f}{self._source})",
                            duration_s=max(0.0, t1 - t0))


def episodes_from_events(events) -> list[AfEpisode]:
    """The closed AF episodes among a session's events (those of kind "af" with a duration)."""
    out = []
    for e in events:
        if e.kind == AF_EVENT and e.duration_s > 0:
            m = re.search(r"max score ([0-9.]+)", e.detail)
            out.append(AfEpisode(e.t_s, e.t_s + e.duration_s, float(m.group(1)) if m else math.nan))
    return sorted(out, key=lambda e: e.t0_s)
