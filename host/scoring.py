"""The one scorer: `eval`, `quantize model`'s report, `report` and `demo` all score here.

What is scored is what the board produces: the model's windows joined by the board's own
``edge.infer.CrossFadeStitcher`` (flushed at every gap, as ``edge.runtime`` does) and the R
peaks of the board's own ``edge.post.PostProcessor`` (anchor head, refined on lead II;
pieces whose lead II is below the artifact-exclusion amplitude carry no ECG and no beats,
as in the session store). A recorded session (``report``/``demo``) is already that, so it
is scored directly. The truth is the reference ECG at the same sample times and the true
R-peak times.

Metrics (the seed papers', ``host.metrics``), per recording (a subject, a file or a session):

- PCC: max normalised cross-correlation over lags |lag| <= 0.5 s on non-overlapping 2.56 s
  windows, per lead (CardioRadar); only windows whose every sample the board kept count.
  The recording's PCC is the median over windows of the mean over leads.
- RMSE in mV per lead over the kept samples; the recording's RMSE is the mean over leads.
- R peaks: board peaks matched to true peaks within 150 ms (radarODE-MTL): R-peak timing
  error (mean |dt|), IBI error (mean over IBIs whose two ends are matched), MDR = missed /
  true beats, HR error |60/mean IBI| on 30-s pieces (median over pieces).
- PPI error (windows only): |model cycle length - true mean RR| per window, ms.
Across recordings: medians (radarODE-MTL), MDR pooled over all beats.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError
from edge.types import LEADS, N_LEADS
from host import metrics

LEAD_II = 1
HR_PIECE_S = 30.0
PCC_FAIL = 0.6  # radarODE-MTL: a reconstruction "fails" below 60 % PCC


@dataclass(frozen=True)
class Run:
    """One stretch without a gap, on one sample grid: sample k is at t0_s + k / fs_hz.

    recon_mv: float (n, 12) what the board kept, NaN where it kept nothing (excluded piece);
    truth_mv: float (n, 12) the reference at the same times, NaN for leads it lacks;
    pred_r_s / true_r_s: R-peak times (s) of the board and of the truth, same clock.
    """

    t0_s: float
    fs_hz: float
    recon_mv: np.ndarray
    truth_mv: np.ndarray
    pred_r_s: np.ndarray
    true_r_s: np.ndarray

    def __post_init__(self) -> None:
        r, t = np.shape(self.recon_mv), np.shape(self.truth_mv)
        if len(r) != 2 or r != t or r[1] != N_LEADS:
            raise InputDataError(f"scoring: expected recon and truth of shape (n, {N_LEADS}); got {r} and {t}")

    @property
    def n(self) -> int:
        return len(self.recon_mv)

    @property
    def t1_s(self) -> float:
        return self.t0_s + self.n / self.fs_hz

    @property
    def kept(self) -> np.ndarray:
        """(n,) bool: samples the board kept (not excluded, not missing)."""
        return np.any(np.isfinite(self.recon_mv), axis=1)


@dataclass(frozen=True)
class Score:
    """One recording scored. pcc_windows: (k,) mean-over-leads PCC of each kept 2.56 s window;
    pcc_lead / rmse_lead_mv: (12,), NaN for leads the truth lacks."""

    name: str
    subject_id: int
    condition: str
    n_windows: int  # model windows (0 for a session)
    seconds: float
    pcc: float
    pcc_windows: np.ndarray
    pcc_lead: np.ndarray
    rmse_mv: float
    rmse_lead_mv: np.ndarray
    n_beats: int
    n_missed: int
    rpeak_err_ms: float
    ibi_mae_ms: float
    hr_err_bpm: float
    ppi_err_ms: float
    excluded_fraction: float

    @property
    def mdr(self) -> float:
        return self.n_missed / self.n_beats if self.n_beats else float("nan")


def nanmedian(x) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else float("nan")


def nanmean(x) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.mean(x)) if len(x) else float("nan")


# ---- scoring runs --------------------------------------------------------------------------
def score_runs(runs: list[Run], *, name: str = "", subject_id: int = 0, condition: str = "",
               n_windows: int = 0, ppi_err_ms: float = float("nan")) -> Score:
    """The papers' metrics of one recording made of ``runs`` (see the module doc)."""
    pcc_rows, tim, ibi, hr = [], [], [], []
    sq = np.zeros(N_LEADS)
    cnt = np.zeros(N_LEADS)
    n_true = n_missed = 0
    n_all = n_kept = 0
    for run in runs:
        if run.n == 0:
            continue
        fs = run.fs_hz
        x = np.asarray(run.recon_mv, float)
        y = np.asarray(run.truth_mv, float)
        kept = run.kept
        n_all += run.n
        n_kept += int(kept.sum())
        w = int(round(metrics.PCC_WINDOW_S * fs))
        if run.n >= w:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                p = metrics.window_pcc(x, y, fs)
            whole = kept[: len(p) * w].reshape(len(p), w).all(axis=1)
            p[~whole] = np.nan  # a window counts only if the board kept all of it
            pcc_rows.append(p)
        d2 = (x - y) ** 2
        ok = np.isfinite(d2)
        sq += np.where(ok, d2, 0.0).sum(axis=0)
        cnt += ok.sum(axis=0)
        t_true = _within(run.true_r_s, run.t0_s, run.t1_s)
        t_pred = _within(run.pred_r_s, run.t0_s, run.t1_s)
        m = metrics.match_peaks(t_true, t_pred)
        n_true += len(m.true_s)
        n_missed += m.n_missed
        tim.append(m.timing_errors_ms)
        ibi.append(m.ibi_errors_ms)
        dur = run.n / fs
        for p0 in np.arange(0.0, max(dur - HR_PIECE_S / 2, 0.0) + 1e-9, HR_PIECE_S):
            a, b = run.t0_s + p0, run.t0_s + p0 + HR_PIECE_S
            hr.append(metrics.hr_error_bpm(t_true[(t_true >= a) & (t_true < b)], t_pred[(t_pred >= a) & (t_pred < b)]))
    pcc = np.concatenate(pcc_rows) if pcc_rows else np.zeros((0, N_LEADS))
    pcc = pcc[np.any(np.isfinite(pcc), axis=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pcc_win = np.nanmean(pcc, axis=1) if len(pcc) else np.zeros(0)
        pcc_lead = np.nanmedian(pcc, axis=0) if len(pcc) else np.full(N_LEADS, np.nan)
        rmse_lead = np.where(cnt > 0, np.sqrt(sq / np.maximum(cnt, 1)), np.nan)
    tim_a = np.concatenate(tim) if tim else np.zeros(0)
    ibi_a = np.concatenate(ibi) if ibi else np.zeros(0)
    fs0 = runs[0].fs_hz if runs else 1.0
    return Score(
        name=name, subject_id=int(subject_id), condition=str(condition), n_windows=int(n_windows),
        seconds=float(n_all / fs0), pcc=nanmedian(pcc_win), pcc_windows=pcc_win, pcc_lead=pcc_lead,
        rmse_mv=nanmean(rmse_lead), rmse_lead_mv=rmse_lead, n_beats=n_true, n_missed=n_missed,
        rpeak_err_ms=nanmean(tim_a), ibi_mae_ms=nanmean(ibi_a), hr_err_bpm=nanmedian(hr), ppi_err_ms=float(ppi_err_ms),
        excluded_fraction=float(1.0 - n_kept / n_all) if n_all else float("nan"),
    )


def _within(t_s, t0: float, t1: float) -> np.ndarray:
    t = np.sort(np.asarray(t_s, float))
    return t[(t >= t0) & (t < t1)]


# ---- the board's stitching and R peaks over model windows ---------------------------------
@dataclass(frozen=True)
class BoardTrack:
    """What the board makes of one run of consecutive windows: t0_s of sample 0, ecg_mv
    float32 (n, 12) NaN in excluded pieces (as the store keeps it), r_peaks_s of edge.post."""

    t0_s: float
    ecg_mv: np.ndarray
    r_peaks_s: np.ndarray


def window_runs(starts: np.ndarray, hop_samples: int) -> list[np.ndarray]:
    """Indices of consecutive windows (start k+1 = start k + hop) in order; ``starts`` in samples."""
    order = np.argsort(starts, kind="stable")
    runs: list[list[int]] = []
    for i in order:
        if runs and starts[i] - starts[runs[-1][-1]] == hop_samples:
            runs[-1].append(int(i))
        else:
            runs.append([int(i)])
    return [np.array(r, np.int64) for r in runs]


def board_tracks(ecg_windows: np.ndarray, anchor_windows: np.ndarray, starts_s: np.ndarray, fs_hz: float,
                 hop_samples: int, lag_samples: int | None = None) -> list[tuple[np.ndarray, BoardTrack]]:
    """Windows (N, T, 12) / (N, T) starting at ``starts_s`` (N,) -> per run of consecutive
    windows (window indices, BoardTrack), joined and post-processed as ``edge.runtime`` does
    (``lag_samples``: the stitcher's hold-back, ``DspConfig.lag_samples``; None: T - hop)."""
    from edge.infer import CrossFadeStitcher
    from edge.post import ClassicalRates, PostConfig, PostProcessor

    n, t = np.shape(ecg_windows)[:2]
    if np.shape(anchor_windows) != (n, t) or len(starts_s) != n:
        raise InputDataError(f"scoring: expected anchors ({n}, {t}) and {n} start times; "
                             f"got {np.shape(anchor_windows)} and {len(starts_s)}")
    starts = np.rint((np.asarray(starts_s, float) - float(np.min(starts_s))) * fs_hz).astype(np.int64) if n else []
    post = PostProcessor(PostConfig(fs_hz=fs_hz))
    nan_rates = ClassicalRates(math.nan, math.nan, math.nan)  # beats do not use them
    out = []
    for idx in window_runs(np.asarray(starts), hop_samples) if n else []:
        stitcher = CrossFadeStitcher(t, hop_samples, lag_samples)
        t0 = float(starts_s[idx[0]])
        post.gap()  # a new run: no RR or context across the break
        pieces, beats = [], []

        def take(piece):
            res = post.process(t0 + piece.start / fs_hz, piece.ecg_mv, piece.anchors, nan_rates)
            ecg = np.array(piece.ecg_mv, np.float32)
            if res.block.excluded:
                ecg[:] = np.nan
            pieces.append(ecg)
            beats.extend(b.t_s for b in res.beats)

        for i in idx:
            take(stitcher.push(ecg_windows[i], anchor_windows[i]))
        last = stitcher.flush()
        if last is not None:
            take(last)
        out.append((idx, BoardTrack(t0, np.concatenate(pieces), np.asarray(beats, float))))
    return out


def truth_track(truth_windows: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Truth windows (k, T, ...) of one run, ``starts`` in samples from the run's start -> (length, ...)."""
    out = np.full((length,) + truth_windows.shape[2:], np.nan)
    for s, v in zip(starts, truth_windows):
        out[s:s + len(v)] = v  # the truth is the same in every window that covers a sample
    return out


def score_windows(ws, ecg_windows: np.ndarray, anchor_windows: np.ndarray, cycle_s: np.ndarray, *,
                  fs_hz: float, hop_samples: int, lag_samples: int | None = None,
                  names: dict | None = None) -> list[Score]:
    """Per subject of the ``host.data.format.WindowSet`` ``ws``: the model's windows through the
    board's stitcher and post-processing, scored against the windows' truth."""
    if len(ecg_windows) != len(ws) or len(anchor_windows) != len(ws) or len(cycle_s) != len(ws):
        raise InputDataError(f"scoring: {len(ws)} windows, but predictions for {len(ecg_windows)}, "
                             f"{len(anchor_windows)}, {len(cycle_s)}")
    out = []
    for sid in ws.subjects():
        sel = np.flatnonzero(ws.subject_id == sid)
        sub = ws.select(sel)
        runs = []
        for idx, tr in board_tracks(ecg_windows[sel], anchor_windows[sel], sub.window_start_s, fs_hz, hop_samples,
                                    lag_samples):
            st = np.rint((sub.window_start_s[idx] - tr.t0_s) * fs_hz).astype(np.int64)
            truth = truth_track(sub.ecg_mv[idx].astype(float), st, len(tr.ecg_mv))
            mask = truth_track(sub.r_peak_mask[idx].astype(float), st, len(tr.ecg_mv))
            true_r = tr.t0_s + np.flatnonzero(mask > 0.5) / fs_hz
            runs.append(Run(tr.t0_s, fs_hz, tr.ecg_mv, truth, tr.r_peaks_s, true_r))
        ppi = nanmean(1000.0 * np.abs(np.asarray(cycle_s, float)[sel] - sub.cycle_s))
        name = (names or {}).get(int(sid), f"subject {int(sid)}")
        out.append(score_runs(runs, name=name, subject_id=int(sid), condition=str(sub.condition[0]),
                              n_windows=len(sel), ppi_err_ms=ppi))
    return out


# ---- summaries across recordings ------------------------------------------------------------
def summarise(scores: Iterable[Score]) -> dict:
    """Medians across recordings (pooled MDR and window PCC statistics); the JSON keys."""
    scores = list(scores)
    pw = np.concatenate([s.pcc_windows for s in scores]) if scores else np.zeros(0)
    pw = pw[np.isfinite(pw)]
    n_beats = int(sum(s.n_beats for s in scores))
    return {
        "pcc_median": nanmedian([s.pcc for s in scores]),
        "pcc_window_mean": nanmean(pw),
        "pcc_window_median": nanmedian(pw),
        "fail_rate": float(np.mean(pw < PCC_FAIL)) if len(pw) else float("nan"),
        "rmse_mv_median": nanmedian([s.rmse_mv for s in scores]),
        "ibi_mae_ms_median": nanmedian([s.ibi_mae_ms for s in scores]),
        "rpeak_err_ms_median": nanmedian([s.rpeak_err_ms for s in scores]),
        "mdr": sum(s.n_missed for s in scores) / n_beats if n_beats else float("nan"),
        "mdr_median": nanmedian([s.mdr for s in scores]),
        "hr_err_bpm_median": nanmedian([s.hr_err_bpm for s in scores]),
        "ppi_err_ms_median": nanmedian([s.ppi_err_ms for s in scores]),
        "excluded_fraction": nanmean([s.excluded_fraction for s in scores]),
        "n_beats": n_beats,
        "n_subjects": len(scores),
        "n_windows": int(sum(s.n_windows for s in scores)),
        "n_pcc_windows": int(len(pw)),
        "seconds": float(sum(s.seconds for s in scores)),
    }


def per_lead(scores: Iterable[Score]) -> dict:
    """lead -> {pcc_median, rmse_mv_median} across recordings."""
    scores = list(scores)
    return {lead: {"pcc_median": nanmedian([s.pcc_lead[j] for s in scores]),
                   "rmse_mv_median": nanmedian([s.rmse_lead_mv[j] for s in scores])}
            for j, lead in enumerate(LEADS)}


def per_condition(scores: Iterable[Score]) -> dict:
    """condition (rhythm) -> ``summarise`` of its recordings."""
    scores = list(scores)
    return {c: summarise([s for s in scores if s.condition == c]) for c in sorted({s.condition for s in scores})}
