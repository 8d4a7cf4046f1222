"""The session report (`cardioradar report SESSION [--out PNG] [--truth NPZ]`): one page per session.

The page: the 12 leads on the standard ECG grid (25 mm/s, 10 mm/mV, 1 mm minor and 5 mm
major lines), 3 x 4 layout of 2.5 s per lead (I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6)
plus a 10-s lead II rhythm strip, a 1-mV calibration pulse left of each row, drawn in
millimetres so the scale is exact on the page;
the HR trend (model and classical sources); quality and the exclusion / event timeline, with
the AF episodes the board flagged (``edge.rhythm.AfTracker``, events of kind "af") and their burden.

Metrics against the truth (``truth``: an ``.npz`` with ``ecg_mv`` (n, 12) mV, ``ecg_fs_hz``
and ``r_peaks_s``, all in *session* time, as `cardioradar demo` writes it) come from the one
scorer, ``host.scoring`` (the one `eval` and `quantize model` use): the truth is taken at the
session's ECG sample times (``host.data.targets.Reference.at``, as datasets make their
targets); what the board stored (its stitched ECG, NaN where excluded) and its R peaks
(``edge.post``, in the session) are scored: window PCC (2.56 s, max NCC over +-0.5 s lags,
windows the board kept whole), RMSE, R-peak error, IBI error, MDR, HR error.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardioradar.errors import InputDataError
from edge.rhythm import af_burden, episodes_from_events
from edge.store import VALID, SessionReader
from edge.types import LEADS

log = logging.getLogger(__name__)

LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
MM_PER_S = 25.0
MM_PER_MV = 10.0
STRIP_S = 10.0
ROW_MM = 30.0
CAL_MM = 8.0  # left margin of the lead drawing holding the calibration pulses


@dataclass(frozen=True)
class ReportMetrics:
    """One session against its truth (``host.scoring``); the names are eval's JSON keys
    (a session is one recording, so its "median" is its own value)."""

    pcc_median: float
    pcc_lead_ii_median: float
    rmse_mv_median: float
    ibi_mae_ms_median: float
    mdr: float
    n_windows: int  # 2.56-s PCC windows the board kept whole
    excluded_fraction: float  # of the session's ECG span: excluded or missing
    rpeak_err_ms_median: float = math.nan
    hr_err_bpm_median: float = math.nan
    n_beats: int = 0

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.__dict__.items()}


def truth_metrics(reader: SessionReader, truth_path: Path) -> ReportMetrics:
    from edge.store import MISSING
    from host import scoring
    from host.data.targets import Reference

    with np.load(truth_path) as z:
        t_ecg, t_fs, t_r = z["ecg_mv"].astype(np.float32), float(z["ecg_fs_hz"]), z["r_peaks_s"].astype(float)
    fs = reader.ecg_fs_hz()
    span = reader.ecg_time_range()
    if fs is None or span is None:
        raise InputDataError(f"{reader.path}: no ECG to compare with the truth")
    if t_ecg.ndim != 2 or t_ecg.shape[1] != len(LEADS):
        raise InputDataError(f"{truth_path}: ecg_mv: expected shape (n, {len(LEADS)}), got {t_ecg.shape}")
    k0 = int(round(span[0] * fs))
    n = int(round(span[1] * fs)) - k0
    series = reader.ecg(k0 / fs, n)
    truth = Reference(t_ecg, t_fs, 0.0, np.sort(t_r)).at(series.t_s(), fs)  # NaN outside the truth
    beats = np.array([b.t_s for b in reader.beats()], float)
    present = np.r_[0, (series.status != MISSING).astype(np.int8), 0]
    edges = np.diff(present)
    runs = [scoring.Run(k0 / fs + a / fs, fs, series.ecg_mv[a:b].astype(float), truth[a:b].astype(float), beats, t_r)
            for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]
    sc = scoring.score_runs(runs, name=str(reader.path), condition="session")
    excluded = float(np.mean(series.status != VALID)) if n > 0 else math.nan
    return ReportMetrics(sc.pcc, float(sc.pcc_lead[1]), sc.rmse_mv, sc.ibi_mae_ms, sc.mdr, len(sc.pcc_windows), excluded,
                         sc.rpeak_err_ms, sc.hr_err_bpm, sc.n_beats)


def _strip_start(reader: SessionReader, fs: float) -> float:
    """Start of the first 10 s with every sample valid (else the first ECG sample)."""
    lo, hi = reader.ecg_time_range()
    n = int(round((hi - lo) * fs))
    st = reader.ecg(lo, n).status == VALID
    w = int(STRIP_S * fs)
    if len(st) >= w:
        run = np.convolve(st.astype(int), np.ones(w, int), mode="valid")
        ok = np.flatnonzero(run == w)
        if len(ok):
            return lo + ok[0] / fs
    return lo


def _grid(ax, width_mm: float, height_mm: float, x0_mm: float = 0.0) -> None:
    """1-mm minor and 5-mm major lines (two line collections: ~400 separate lines per page
    took most of an overnight report's drawing time)."""
    from matplotlib.collections import LineCollection

    segs = {True: [], False: []}
    for x in np.arange(x0_mm, width_mm + 0.01, 1.0):
        segs[abs(x / 5 - round(x / 5)) < 1e-6].append([(x, 0), (x, height_mm)])
    for y in np.arange(0, height_mm + 0.01, 1.0):
        segs[abs(y / 5 - round(y / 5)) < 1e-6].append([(x0_mm, y), (width_mm, y)])
    ax.add_collection(LineCollection(segs[False], colors="#fbdada", linewidths=0.25, zorder=0))
    ax.add_collection(LineCollection(segs[True], colors="#f4a6a6", linewidths=0.6, zorder=0))


def _draw_leads(ax, series, fs: float) -> None:
    quarter = int(STRIP_S / 4 * fs)
    height = ROW_MM * 4
    _grid(ax, STRIP_S * MM_PER_S, height, -CAL_MM)
    for r, row in enumerate(LAYOUT + (("II",),)):
        base = height - ROW_MM * (r + 0.5)
        for c, lead in enumerate(row):
            j = LEADS.index(lead)
            seg = slice(c * quarter, (c + 1) * quarter) if len(row) == 4 else slice(0, 4 * quarter)
            y = series.ecg_mv[seg, j].astype(float)
            x0 = (seg.start / fs) * MM_PER_S
            x = x0 + np.arange(len(y)) / fs * MM_PER_S
            ax.plot(x, base + (y - np.nanmedian(y) if np.any(np.isfinite(y)) else y) * MM_PER_MV, "k", lw=0.7)
            ax.text(x0 + 1, base + 10, lead, fontsize=8, bbox={"fc": "white", "ec": "none", "pad": 0.5, "alpha": 0.8})
            if c > 0:  # lead change: a short separator, as on a printed 12-lead
                ax.plot([x0, x0], [base - 4, base + 4], "k", lw=0.8)
            bad = series.status[seg] != VALID
            if bad.any():
                ax.fill_between(x, base - ROW_MM / 2, base + ROW_MM / 2, where=bad, color="0.85", zorder=0.5)
        # 1 mV calibration pulse (10 mm high, 0.2 s wide) left of each row, clear of the trace
        ax.plot([-CAL_MM + 0.5, -CAL_MM + 1.5, -CAL_MM + 1.5, -CAL_MM + 6.5, -CAL_MM + 6.5, -1.0],
                [base, base, base + MM_PER_MV, base + MM_PER_MV, base, base], "k", lw=0.8)
    ax.set_xlim(-CAL_MM, STRIP_S * MM_PER_S)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def make_report(session: str | Path, out_png: str | Path | None = None,
                truth: str | Path | None = None) -> tuple[Path, ReportMetrics | None]:
    """Write the report PNG (default: beside the session); returns (path, metrics or None)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    session = Path(session)
    out = Path(out_png) if out_png is not None else session.with_suffix(".png")
    with SessionReader(session) as r:
        fs = r.ecg_fs_hz()
        if fs is None:
            raise InputDataError(f"{session}: the session holds no ECG blocks: nothing to report")
        t0 = _strip_start(r, fs)
        series = r.ecg(t0, int(round(STRIP_S * fs)))
        vitals, events, meta = r.vitals(), r.events(), r.metadata()
        lo, hi = r.ecg_time_range()
        full = r.ecg(lo, int(round((hi - lo) * fs)))
        metrics = truth_metrics(r, Path(truth)) if truth is not None else None
    fig = plt.figure(figsize=(11.0, 10.0))
    gs = fig.add_gridspec(3, 1, height_ratios=[3.2, 1.1, 0.9], hspace=0.3)
    ax = fig.add_subplot(gs[0])
    _draw_leads(ax, series, fs)
    title = (f"{session.name}  board {meta.get('board', '?')}  model {meta.get('model', '?')}  "
             f"leads from t = {t0:.1f} s  (25 mm/s, 10 mm/mV)")
    ax.set_title(title, fontsize=9)
    ax_hr = fig.add_subplot(gs[1])
    for src, style in (("model", "C0."), ("classical", "C1x")):
        v = [x for x in vitals if x.source == src]
        ax_hr.plot([x.t_s for x in v], [x.hr_bpm for x in v], style, ms=3, label=f"HR ({src})")
    ax_hr.plot([x.t_s for x in vitals], [x.br_bpm for x in vitals], "C2-", lw=0.8, label="BR /min")
    ax_hr.set_ylabel("per min")
    episodes = episodes_from_events(events)
    ax_hr.set_title(f"AF (edge.rhythm): {len(episodes)} episode(s), burden "
                    f"{af_burden(episodes, hi - lo):.1%} of the ECG span", fontsize=8, loc="left")
    ax_hr.legend(fontsize=7, loc="upper right")
    ax_hr.set_xlim(0, hi)
    ax_q = fig.add_subplot(gs[2], sharex=ax_hr)
    ax_q.plot([x.t_s for x in vitals], [x.quality for x in vitals], "k-", lw=0.8, label="quality")
    tt = full.t_s()
    ax_q.fill_between(tt, 0, 1, where=full.status == 1, color="C3", alpha=0.3, label="excluded")
    ax_q.fill_between(tt, 0, 1, where=full.status == 2, color="0.6", alpha=0.3, label="no data")
    if (full.status == 3).any():  # edge.store.DAMAGED: a block that failed its checksum
        ax_q.fill_between(tt, 0, 1, where=full.status == 3, color="k", alpha=0.3, label="damaged")
    for e in events:
        if e.kind in ("disconnect", "reconnect", "movement", "drop", "overflow"):
            ax_q.axvline(e.t_s, color={"movement": "C4"}.get(e.kind, "C3"), lw=0.6)
    for k, ep in enumerate(episodes):
        ax_q.axvspan(ep.t0_s, ep.t1_s, color="C6", alpha=0.25, label="AF" if k == 0 else None)
    ax_q.set_ylim(0, 1.05)
    ax_q.set_xlabel("session time (s)")
    ax_q.legend(fontsize=7, loc="lower right")
    if metrics is not None:
        fig.text(0.02, 0.005, f"vs truth: PCC median {metrics.pcc_median:.2f} (lead II {metrics.pcc_lead_ii_median:.2f}), "
                 f"RMSE median {metrics.rmse_mv_median:.3f} mV, IBI error median {metrics.ibi_mae_ms_median:.1f} ms, "
                 f"MDR {metrics.mdr:.1%}, {metrics.n_windows} clean windows, {metrics.excluded_fraction:.0%} "
                 "excluded/missing", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    log.info("report %s written", out)
    return out, metrics

