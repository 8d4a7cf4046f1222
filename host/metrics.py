"""The seed papers' reconstruction metrics, computed the way the papers compute them.

- Window PCC (CardioRadar eq. 13): on 2.56 s windows, the maximum normalised
  cross-correlation between reconstruction and truth over lags. The paper reports
  "the maximum across all lags" to absorb sub-second timing offsets; we bound the
  lag at ``max_lag_s`` (0.5 s by default, i.e. sub-second) so that a window cannot
  score by aligning with the *next* beat. Per lead and mean over leads.
- RMSE in mV, per lead.
- R peaks by NeuroKit2 on lead II of both truth and reconstruction (CardioRadar);
  peaks are matched within 150 ms (radarODE-MTL); R-peak timing error = mean |dt|
  of matched peaks; MDR = missed true peaks / true peaks; IBI MAE over IBIs whose
  two ends are both matched; HR error from the mean IBIs.
- dm% (radarODE-MTL): mean over tasks of the mean signed relative change against
  a baseline, positive = better.

All inputs are numpy arrays in mV / seconds with the sampling rate given as
``fs_hz``; functions are pure and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError

PCC_WINDOW_S = 2.56
MAX_LAG_S = 0.5
MATCH_TOLERANCE_S = 0.150


def max_ncc(recon: np.ndarray, truth: np.ndarray, max_lag: int) -> float:
    """Maximum over lags |tau| <= max_lag of the Pearson correlation of the overlap.

    ``recon``, ``truth``: (n,) float. Returns NaN when either is flat.
    """
    x = np.asarray(recon, float)
    y = np.asarray(truth, float)
    n = len(x)
    if len(y) != n:
        raise InputDataError(f"max_ncc: lengths differ: recon {n}, truth {len(y)}")
    best = -np.inf
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            a, b = x[: n - lag], y[lag:]
        else:
            a, b = x[-lag:], y[: n + lag]
        if len(a) < 3:
            continue
        a = a - a.mean()
        b = b - b.mean()
        den = np.sqrt(np.dot(a, a) * np.dot(b, b))
        if den > 0:
            best = max(best, float(np.dot(a, b) / den))
    return best if np.isfinite(best) else float("nan")


def window_pcc(
    recon_mv: np.ndarray,
    truth_mv: np.ndarray,
    fs_hz: float,
    window_s: float = PCC_WINDOW_S,
    max_lag_s: float = MAX_LAG_S,
) -> np.ndarray:
    """(n_windows, n_leads) max-NCC per non-overlapping window and lead.

    ``recon_mv``, ``truth_mv``: (n,) or (n, n_leads) at ``fs_hz``.
    """
    x, y = _as_2d(recon_mv, truth_mv)
    w = int(round(window_s * fs_hz))
    lag = int(round(max_lag_s * fs_hz))
    n_win = len(x) // w
    out = np.full((n_win, x.shape[1]), np.nan)
    for i in range(n_win):
        s = slice(i * w, (i + 1) * w)
        for j in range(x.shape[1]):
            out[i, j] = max_ncc(x[s, j], y[s, j], lag)
    return out


def rmse_mv(recon_mv: np.ndarray, truth_mv: np.ndarray) -> np.ndarray:
    """(n_leads,) root mean square error in mV."""
    x, y = _as_2d(recon_mv, truth_mv)
    return np.sqrt(np.nanmean((x - y) ** 2, axis=0))


def detect_r_peaks_s(ecg_mv: np.ndarray, fs_hz: float) -> np.ndarray:
    """R-peak times (s) of one lead by NeuroKit2 (clean + ecg_peaks), as CardioRadar does."""
    import neurokit2 as nk  # heavy import; only evaluation needs it

    sig = np.asarray(ecg_mv, float)
    if len(sig) < int(2 * fs_hz) or not np.all(np.isfinite(sig)) or np.ptp(sig) == 0:
        return np.zeros(0)
    cleaned = nk.ecg_clean(sig, sampling_rate=int(round(fs_hz)))
    _, info = nk.ecg_peaks(cleaned, sampling_rate=int(round(fs_hz)))
    return np.asarray(info["ECG_R_Peaks"], float) / fs_hz


@dataclass(frozen=True)
class PeakMatch:
    """Greedy one-to-one matching of predicted to true R peaks within a tolerance."""

    true_s: np.ndarray  # (n_true,)
    pred_s: np.ndarray  # (n_pred,)
    pred_index: np.ndarray  # (n_true,) index into pred_s, -1 where missed

    @property
    def matched(self) -> np.ndarray:
        return self.pred_index >= 0

    @property
    def n_missed(self) -> int:
        return int(np.sum(~self.matched))

    @property
    def mdr(self) -> float:
        return self.n_missed / len(self.true_s) if len(self.true_s) else float("nan")

    @property
    def timing_errors_ms(self) -> np.ndarray:
        m = self.matched
        return 1000.0 * np.abs(self.pred_s[self.pred_index[m]] - self.true_s[m])

    @property
    def ibi_errors_ms(self) -> np.ndarray:
        """|IBI_pred - IBI_true| for consecutive true beats that are both matched."""
        m = self.matched
        both = m[1:] & m[:-1]
        if not np.any(both):
            return np.zeros(0)
        ibi_t = np.diff(self.true_s)[both]
        p = self.pred_s[self.pred_index[np.r_[both, False]]], self.pred_s[self.pred_index[np.r_[False, both]]]
        return 1000.0 * np.abs((p[1] - p[0]) - ibi_t)


def match_peaks(true_s: np.ndarray, pred_s: np.ndarray, tol_s: float = MATCH_TOLERANCE_S) -> PeakMatch:
    """Match each true peak to the nearest unused predicted peak within ``tol_s``."""
    t = np.sort(np.asarray(true_s, float))
    p = np.sort(np.asarray(pred_s, float))
    idx = np.full(len(t), -1, dtype=np.int64)
    used = np.zeros(len(p), bool)
    if len(p):
        # Closest pairs first, so one spurious peak cannot steal a better partner's match.
        cand = []
        for i, ti in enumerate(t):
            j = int(np.searchsorted(p, ti))
            for k in (j - 1, j):
                if 0 <= k < len(p) and abs(p[k] - ti) <= tol_s:
                    cand.append((abs(p[k] - ti), i, k))
        for _, i, k in sorted(cand):
            if idx[i] < 0 and not used[k]:
                idx[i] = k
                used[k] = True
    return PeakMatch(true_s=t, pred_s=p, pred_index=idx)


def hr_error_bpm(true_s: np.ndarray, pred_s: np.ndarray) -> float:
    """|HR_true - HR_pred| with each HR = 60 / mean IBI over the recording."""
    if len(true_s) < 2 or len(pred_s) < 2:
        return float("nan")
    return abs(60.0 / np.mean(np.diff(np.sort(true_s))) - 60.0 / np.mean(np.diff(np.sort(pred_s))))


def dm_percent(model: dict[str, float], baseline: dict[str, float], higher_is_better: dict[str, bool]) -> float:
    """radarODE-MTL multi-task score for one task group: mean signed relative change in %.

    For several tasks, average the per-task results (the paper's outer 1/n sum).
    """
    terms = []
    for key, better_high in higher_is_better.items():
        m, b = model[key], baseline[key]
        if not (np.isfinite(m) and np.isfinite(b)) or b == 0:
            raise InputDataError(f"dm_percent: metric {key!r} needs finite, non-zero baseline; got {b} and {m}")
        terms.append((1.0 if better_high else -1.0) * (m - b) / abs(b) * 100.0)
    return float(np.mean(terms))


def _as_2d(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if x.shape != y.shape:
        raise InputDataError(f"metrics: shapes differ: reconstruction {x.shape}, truth {y.shape}")
    return x, y
