"""AF screening scored the way a product is judged: ROC AUC, sensitivity, specificity.

The detector is the product's own (``edge.rhythm``: Dash et al.'s RR irregularity, the
windows ``window_scores`` makes, the stream ``AfTracker`` runs on the board). Its input is
what the board has: the R peaks ``edge.post`` finds in the stitched model output
(``host.scoring.board_tracks``, the one scorer's path), one run of beats per stretch of
consecutive windows. Within a run the interval is the beat-to-beat time (a missed beat gives
a long interval, which the detector's own correction splits); an interval over
``edge.rhythm.BRIDGE_S`` or a new run breaks the series, as ``AfTracker`` does on the board.

A recording's score is the mean of its window scores (0..1); one with no full window (fewer
than 32 intervals in a run) has no decision and scores 0 (not flagged). Decisions use the
detector's own threshold (``AfConfig.threshold``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError
from edge.rhythm import BRIDGE_S, AfConfig, AfTracker, af_burden, window_scores


@dataclass(frozen=True)
class Beat:
    t_s: float
    rr_s: float


@dataclass(frozen=True)
class AfResult:
    """One recording: score 0..1 (mean window score; 0 when ``n_windows`` is 0), the window
    scores, the AF burden the board's ``AfTracker`` finds on the same beats."""

    name: str
    condition: str
    is_af: bool
    score: float
    window_scores: np.ndarray
    burden: float
    n_beats: int

    @property
    def n_windows(self) -> int:
        return len(self.window_scores)


def beat_series(runs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Beat times of each run (s) -> (t_s, rr_s) of the whole recording: the first beat of a
    run and any interval over ``BRIDGE_S`` are NaN (a break no window spans)."""
    ts, rrs = [], []
    for r in runs:
        t = np.sort(np.asarray(r, float))
        if not len(t):
            continue
        rr = np.concatenate([[math.nan], np.diff(t)])
        rr[rr > BRIDGE_S] = math.nan
        ts.append(t)
        rrs.append(rr)
    if not ts:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(ts), np.concatenate(rrs)


def score_recording(runs: list[np.ndarray], seconds: float, *, name: str, condition: str, is_af: bool,
                    cfg: AfConfig = AfConfig()) -> AfResult:
    """The detector on one recording's runs of beat times (see the module doc)."""
    t, rr = beat_series(runs)
    scores = np.array([s for _, _, s in window_scores(t, rr, cfg)], float)
    tracker = AfTracker(cfg)
    for r in runs:  # the board's stream: a break between runs
        tracker.gap()
        tt, rrr = beat_series([r])
        tracker.push([Beat(float(a), float(b)) for a, b in zip(tt, rrr)])
    tracker.finish()
    score = float(np.mean(scores)) if len(scores) else 0.0
    return AfResult(name, condition, bool(is_af), score, scores, af_burden(tracker.episodes, seconds), len(t))


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve: the probability that a positive scores above a negative (ties
    count half; the Mann-Whitney U / (n_pos n_neg)). NaN when a class is empty."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    if s.shape != y.shape:
        raise InputDataError(f"roc_auc: {s.shape} scores and {y.shape} labels: expected the same shape")
    if np.any(~np.isfinite(s)):
        raise InputDataError("roc_auc: scores must be finite")
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return math.nan
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def sens_spec(scores, labels, threshold: float) -> tuple[float, float]:
    """(sensitivity, specificity) of "score >= threshold is positive"; NaN for an empty class."""
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    flag = s >= threshold
    sens = float(np.mean(flag[y])) if y.any() else math.nan
    spec = float(np.mean(~flag[~y])) if (~y).any() else math.nan
    return sens, spec


def summary(results: list[AfResult], threshold: float = AfConfig.threshold) -> dict:
    """Per-recording and per-window ROC AUC, sensitivity and specificity, counts."""
    s = [r.score for r in results]
    y = [r.is_af for r in results]
    ws = np.concatenate([r.window_scores for r in results]) if results else np.zeros(0)
    wy = np.concatenate([np.full(r.n_windows, r.is_af) for r in results]) if results else np.zeros(0, bool)
    sens, spec = sens_spec(s, y, threshold)
    wsens, wspec = sens_spec(ws, wy, threshold)
    return {"auc": roc_auc(s, y), "sensitivity": sens, "specificity": spec,
            "window_auc": roc_auc(ws, wy), "window_sensitivity": wsens, "window_specificity": wspec,
            "n_af": int(sum(y)), "n_other": int(len(y) - sum(y)), "n_windows": int(len(ws)),
            "n_undecided": int(sum(r.n_windows == 0 for r in results)),
            "burden_af_median": _median([r.burden for r in results if r.is_af]),
            "burden_other_median": _median([r.burden for r in results if not r.is_af])}


def _median(x) -> float:
    return float(np.median(x)) if len(x) else math.nan
