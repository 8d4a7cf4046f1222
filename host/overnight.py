"""`cardioradar report SESSION --overnight [--out report.pdf]`: a printable night report.

A multi-page PDF (matplotlib ``PdfPages``), A4 or Letter landscape, no font under 8 pt:

1. Summary: the session (subject, board, model and its SHA-256 prefix, software), duration
   and how it splits into recorded (valid ECG) / excluded (artifact exclusion) / missing (no
   ECG block: warm-up, disconnects, drops); HR and BR statistics (median, 5th-95th
   percentile, range) from the stored vitals; IBI statistics from the stored beats (mean,
   SDNN, RMSSD over successive intervals only); the AF episodes the board flagged (events
   of kind "af", ``edge.rhythm.AfTracker``) and their burden (``edge.rhythm.af_burden``,
   over the recorded time); event counts; an hourly table.
2. The night at a glance: HR, BR and quality over the whole night, AF shaded, markers drawn.
3. Per hour: a trend page (HR by source, BR, quality with excluded / missing spans, event
   and marker lines), then a 12-lead page at the hour's cleanest 10 s drawn by
   ``host.report`` (the same 3 x 4 + lead II layout as the one-page report) at true scale:
   the ECG axes are exactly 258 x 120 mm on the page (8 mm of calibration pulses), so 25 mm/s and 10 mm/mV hold when
   printed at 100 % (no "fit to page").
4. The event list (clock time, session time, kind, duration, detail), markers in bold;
   bursts of the same routine kind (drop, exclusion, movement, ...) within 60 s are merged
   into one row with their count.

Cleanest 10 s of an hour: among the 10-s windows on a 10-s grid, the largest share of valid
samples (no exclusion, no gap), then the highest mean beat quality (the anchor head's peak
height, ``edge.post``). Our own rule, not a published one.

Memory: the ECG is read in 60-s pieces (``SessionReader.ecg``) and only per-window
numbers are kept; beats, vitals and events are lists (an 8-h night: ~30 000 beats, ~11 000
vitals, a few MB). No scoring against a truth here (that is ``host.scoring`` via the
one-page report's ``--truth``).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cardioradar.errors import InputDataError
from edge.rhythm import AfEpisode, af_burden, episodes_from_events
from edge.store import DAMAGED, EXCLUDED, VALID, SessionReader
from host.report import CAL_MM, MM_PER_S, ROW_MM, STRIP_S, _draw_leads

log = logging.getLogger(__name__)

PAPER_IN = {"a4": (297 / 25.4, 210 / 25.4), "letter": (11.0, 8.5)}  # landscape
CHUNK_S = 60.0  # ECG read per piece
HOUR_S = 3600.0
MARKER = "marker"  # events a tester adds during the night (the live web page)
MERGE_KINDS = ("drop", "resync", "overflow", "exclusion", "movement", "reconfigure", "watchdog")
MERGE_S = 60.0
EVENT_ROWS_PER_PAGE = 34
MAX_EVENT_PAGES = 12
FONT_PT = 9  # body text; nothing on a page is smaller than 8 pt


@dataclass(frozen=True)
class Stats:
    """Summary of one measure (NaN when there is no value)."""

    n: int
    median: float
    p5: float
    p95: float
    min: float
    max: float

    @classmethod
    def of(cls, values) -> Stats:
        x = np.asarray(values, float)
        x = x[np.isfinite(x)]
        if len(x) == 0:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        p5, med, p95 = np.percentile(x, [5, 50, 95])
        return cls(len(x), float(med), float(p5), float(p95), float(x.min()), float(x.max()))

    def text(self, unit: str, fmt: str = ".0f") -> str:
        if self.n == 0:
            return "no value"
        return (f"median {self.median:{fmt}} {unit} (5-95 %: {self.p5:{fmt}}-{self.p95:{fmt}}, "
                f"range {self.min:{fmt}}-{self.max:{fmt}}; n = {self.n})")


@dataclass(frozen=True)
class HourSummary:
    index: int
    t0_s: float
    t1_s: float
    recorded_s: float
    excluded_s: float
    missing_s: float
    hr_bpm: Stats
    br_bpm: Stats
    quality_mean: float
    strip_t0_s: float  # NaN: no ECG in this hour
    strip_valid_frac: float
    strip_beat_quality: float


@dataclass(frozen=True)
class NightSummary:
    session: str
    start_utc: str
    duration_s: float
    recorded_s: float
    excluded_s: float
    missing_s: float
    hr_bpm: Stats
    hr_model_share: float  # share of vitals from the model (the rest: classical)
    br_bpm: Stats
    ibi_ms: Stats
    sdnn_ms: float
    rmssd_ms: float
    n_beats: int
    af_episodes: list[AfEpisode]
    af_burden: float  # of the recorded time
    event_counts: dict[str, int]
    hours: list[HourSummary] = field(default_factory=list)

    def as_dict(self) -> dict:
        def clean(v):
            if isinstance(v, float):
                return None if not math.isfinite(v) else round(v, 4)
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        return clean(asdict(self))


def _start(meta: dict) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(meta.get("start_time_utc")))
    except ValueError:
        return None


def _clock(start: dt.datetime | None, t_s: float, seconds: bool = False) -> str:
    if start is None or not math.isfinite(t_s):
        return f"{t_s / 3600:.2f} h"
    return (start + dt.timedelta(seconds=t_s)).strftime("%H:%M:%S" if seconds else "%H:%M")


def _hms(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def summarise(reader: SessionReader) -> tuple[NightSummary, list, list, list]:
    """The night's numbers with bounded memory; returns (summary, beats, vitals, events)."""
    fs = reader.ecg_fs_hz()
    if fs is None:
        raise InputDataError(f"{reader.path}: the session holds no ECG blocks: nothing to report")
    meta = reader.metadata()
    beats, vitals, events = reader.beats(), reader.vitals(), reader.events()
    _, hi = reader.ecg_time_range()
    duration = max([hi] + [v.t_s for v in vitals[-1:]] + [e.t_s + e.duration_s for e in events[-1:]])
    n_hours = max(1, math.ceil(duration / HOUR_S - 1e-9))
    rec = np.zeros(n_hours)
    exc = np.zeros(n_hours)
    win_t, win_valid = [], []  # per 10-s window: start, share of valid samples
    t = 0.0
    while t < duration - 1e-9:
        n = int(round(min(CHUNK_S, duration - t) * fs))
        if n <= 0:
            break
        st = reader.ecg(t, n).status
        h = min(int(t // HOUR_S), n_hours - 1)
        rec[h] += np.count_nonzero(st == VALID) / fs
        exc[h] += np.count_nonzero(st == EXCLUDED) / fs
        w = int(round(STRIP_S * fs))
        for k in range(0, n - w + 1, w):
            win_t.append(t + k / fs)
            win_valid.append(float(np.mean(st[k:k + w] == VALID)))
        t += CHUNK_S
    win_t, win_valid = np.array(win_t), np.array(win_valid)
    bt = np.array([b.t_s for b in beats], float)
    bq = np.array([b.quality for b in beats], float)
    rr = np.array([b.rr_s for b in beats], float)
    csum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(bq))])
    a, b = np.searchsorted(bt, win_t), np.searchsorted(bt, win_t + STRIP_S)
    win_q = np.where(b > a, (csum[b] - csum[a]) / np.maximum(b - a, 1), 0.0)

    hours = []
    for h in range(n_hours):
        t0, t1 = h * HOUR_S, min((h + 1) * HOUR_S, duration)
        vs = [v for v in vitals if t0 <= v.t_s < t1]
        sel = np.flatnonzero((win_t >= t0) & (win_t < t1) & (win_valid > 0))
        if len(sel):
            best = sel[np.lexsort((-win_q[sel], -win_valid[sel]))[0]]
            strip = (float(win_t[best]), float(win_valid[best]), float(win_q[best]))
        else:
            strip = (math.nan, 0.0, math.nan)
        hours.append(HourSummary(h, t0, t1, float(rec[h]), float(exc[h]), float(max(0.0, t1 - t0 - rec[h] - exc[h])),
                                 Stats.of([v.hr_bpm for v in vs]), Stats.of([v.br_bpm for v in vs]),
                                 float(np.nanmean([v.quality for v in vs])) if vs else math.nan, *strip))
    ok = np.isfinite(rr)
    succ = ok[1:] & ok[:-1]  # successive differences only between two real intervals
    d = np.diff(rr)[succ] * 1000.0
    episodes = episodes_from_events(events)
    counts: dict[str, int] = {}
    for e in events:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    recorded = float(rec.sum())
    summary = NightSummary(
        session=reader.path.name, start_utc=str(meta.get("start_time_utc", "")), duration_s=float(duration),
        recorded_s=recorded, excluded_s=float(exc.sum()), missing_s=float(max(0.0, duration - recorded - exc.sum())),
        hr_bpm=Stats.of([v.hr_bpm for v in vitals]),
        hr_model_share=float(np.mean([v.source == "model" for v in vitals])) if vitals else math.nan,
        br_bpm=Stats.of([v.br_bpm for v in vitals]), ibi_ms=Stats.of(rr * 1000.0),
        sdnn_ms=float(np.std(rr[ok] * 1000.0)) if ok.sum() > 1 else math.nan,
        rmssd_ms=float(np.sqrt(np.mean(d * d))) if len(d) else math.nan,
        n_beats=len(beats), af_episodes=episodes, af_burden=af_burden(episodes, recorded),
        event_counts=counts, hours=hours)
    return summary, beats, vitals, events


# ------------------------------------------------------------------------------ pages


def _page(plt, paper: str):
    return plt.figure(figsize=PAPER_IN[paper])


def _header(fig, summary: NightSummary, meta: dict, title: str) -> None:
    fig.text(0.04, 0.955, title, fontsize=13, weight="bold")
    fig.text(0.96, 0.955, f"{summary.session}  subject {meta.get('subject_id', '?')}  start {summary.start_utc}",
             fontsize=8, ha="right")


def _summary_page(plt, paper: str, s: NightSummary, meta: dict, start) -> object:
    fig = _page(plt, paper)
    _header(fig, s, meta, "CardioRadar overnight report")
    dur = s.duration_s or 1.0
    longest = max((e.t1_s - e.t0_s for e in s.af_episodes), default=0.0)
    sha = str(meta.get("model_sha256", ""))[:12] or "?"
    lines = [
        ("Session", f"board {meta.get('board', '?')}, model {meta.get('model', '?')} (SHA-256 {sha}...), "
                    f"software {meta.get('software_version', '?')}"),
        ("Time", f"{_clock(start, 0.0, True)} to {_clock(start, s.duration_s, True)} "
                 f"(UTC offset of the board's start time); duration {_hms(s.duration_s)}"),
        ("ECG", f"recorded {_hms(s.recorded_s)} ({s.recorded_s / dur:.0%}), excluded {_hms(s.excluded_s)} "
                f"({s.excluded_s / dur:.0%}), missing {_hms(s.missing_s)} ({s.missing_s / dur:.0%})"),
        ("Heart rate", s.hr_bpm.text("bpm") + (f"; {s.hr_model_share:.0%} from the model, the rest classical"
                                               if math.isfinite(s.hr_model_share) else "")),
        ("Breathing rate", s.br_bpm.text("/min", ".1f")),
        ("IBI", s.ibi_ms.text("ms") + f"; SDNN {s.sdnn_ms:.0f} ms, RMSSD {s.rmssd_ms:.0f} ms; {s.n_beats} beats"),
        ("AF (screening)", f"{len(s.af_episodes)} episode(s), burden {s.af_burden:.1%} of the recorded time, "
                           f"longest {_hms(longest)}" if s.af_episodes else "no AF episode flagged"),
        ("Events", ", ".join(f"{k} {n}" for k, n in sorted(s.event_counts.items())) or "none"),
    ]
    y = 0.89
    for k, v in lines:
        fig.text(0.04, y, k, fontsize=10, weight="bold")
        fig.text(0.19, y, v, fontsize=10, wrap=True)
        y -= 0.045
    fig.text(0.04, y - 0.005, "AF screening flags irregularly irregular RR intervals (edge.rhythm); it is not a "
             "diagnosis: review the 12-lead pages and the episodes' strips.", fontsize=8, style="italic")
    ax = fig.add_axes([0.04, 0.05, 0.92, max(0.1, y - 0.1)])
    ax.axis("off")
    head = ["hour", "from", "recorded", "excluded", "missing", "HR bpm (5-95 %)", "BR /min", "quality",
            "12-lead at"]
    rows = []
    for h in s.hours:
        span = max(h.t1_s - h.t0_s, 1e-9)
        rows.append([str(h.index + 1), _clock(start, h.t0_s), f"{h.recorded_s / span:.0%}",
                     f"{h.excluded_s / span:.0%}", f"{h.missing_s / span:.0%}",
                     f"{h.hr_bpm.median:.0f} ({h.hr_bpm.p5:.0f}-{h.hr_bpm.p95:.0f})" if h.hr_bpm.n else "-",
                     f"{h.br_bpm.median:.1f}" if h.br_bpm.n else "-",
                     f"{h.quality_mean:.2f}" if math.isfinite(h.quality_mean) else "-",
                     _clock(start, h.strip_t0_s, True) if math.isfinite(h.strip_t0_s) else "no ECG"])
    tab = ax.table(cellText=rows, colLabels=head, loc="upper left", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(9)
    tab.scale(1.0, 1.25)
    return fig


def _tick_step(span_s: float) -> float:
    """A clock-tick step giving 4-12 ticks over ``span_s``."""
    for step in (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0):
        if span_s / step <= 12:
            return step
    return 4 * 3600.0


def _time_axis(ax, start, t0: float, t1: float, step_s: float) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter

    # ticks on whole clock minutes / hours (the session starts at any second)
    off = 0.0 if start is None else (start.hour * 3600 + start.minute * 60 + start.second + start.microsecond / 1e6)
    ticks = np.arange(math.ceil((t0 + off) / step_s) * step_s, t1 + off + 1e-9, step_s) - off
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _clock(start, x)))
    ax.set_xlim(t0, t1)


def _trend_axes(fig, vitals, events, spans, episodes, start, t0, t1, step_s, rect_top=0.9):
    """HR / BR / quality panels over [t0, t1); ``spans``: (t0, t1, status) runs of not-valid ECG."""
    gs = fig.add_gridspec(3, 1, left=0.07, right=0.97, top=rect_top - 0.03, bottom=0.08, hspace=0.12,
                          height_ratios=[2.2, 1.2, 1.0])
    v = [x for x in vitals if t0 <= x.t_s < t1]
    ax_hr = fig.add_subplot(gs[0])
    for src, style in (("model", "C0."), ("classical", "C1x")):
        vv = [x for x in v if x.source == src]
        ax_hr.plot([x.t_s for x in vv], [x.hr_bpm for x in vv], style, ms=2.5, label=f"HR ({src})")
    ax_hr.set_ylabel("HR (bpm)", fontsize=FONT_PT)
    ax_br = fig.add_subplot(gs[1], sharex=ax_hr)
    ax_br.plot([x.t_s for x in v], [x.br_bpm for x in v], "C2.", ms=2.5)
    ax_br.set_ylabel("BR (/min)", fontsize=FONT_PT)
    ax_q = fig.add_subplot(gs[2], sharex=ax_hr)
    ax_q.plot([x.t_s for x in v], [x.quality for x in v], "k-", lw=0.7)
    labelled = set()
    for a, b, st in spans:
        if b > t0 and a < t1:
            name = {EXCLUDED: "excluded", DAMAGED: "damaged"}.get(st, "no ECG")
            ax_q.axvspan(max(a, t0), min(b, t1), color={EXCLUDED: "C3", DAMAGED: "k"}.get(st, "0.6"), alpha=0.35, lw=0,
                         label=None if name in labelled else name)
            labelled.add(name)
    ax_q.set_ylim(0, 1.05)
    ax_q.set_ylabel("quality", fontsize=FONT_PT)
    for ax in (ax_hr, ax_br, ax_q):
        for k, ep in enumerate(episodes):
            if ep.t1_s > t0 and ep.t0_s < t1:
                ax.axvspan(max(ep.t0_s, t0), min(ep.t1_s, t1), color="C6", alpha=0.2, lw=0,
                           label="AF" if (ax is ax_hr and "AF" not in labelled) else None)
                if ax is ax_hr:
                    labelled.add("AF")
        for e in events:
            if t0 <= e.t_s < t1 and e.kind in (MARKER, "disconnect", "movement"):
                ax.axvline(e.t_s, color={MARKER: "C9", "disconnect": "C3"}.get(e.kind, "C4"),
                           lw=1.0 if e.kind == MARKER else 0.5)
        ax.tick_params(labelsize=FONT_PT)
        ax.grid(True, color="0.9", lw=0.5)
    for e in events:
        if t0 <= e.t_s < t1 and e.kind == MARKER:
            ax_hr.annotate(e.detail[:24], (e.t_s, 0.98), xycoords=("data", "axes fraction"), fontsize=8,
                           rotation=90, va="top", ha="right", color="C9",
                           bbox={"fc": "white", "ec": "none", "pad": 0.5, "alpha": 0.8})
    _time_axis(ax_q, start, t0, t1, step_s)
    for ax in (ax_hr, ax_br):
        ax.tick_params(labelbottom=False)
    ax_q.set_xlabel("clock time (board's time zone)", fontsize=FONT_PT)
    handles = ax_hr.get_legend_handles_labels()[0] + ax_q.get_legend_handles_labels()[0]
    if handles:
        ax_hr.legend(handles=handles, fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=6,
                     frameon=False, borderaxespad=0.2)
    return ax_hr


def _bad_spans(reader: SessionReader, fs: float, duration: float) -> list[tuple[float, float, int]]:
    """Runs of excluded / missing ECG (merged over the 60-s pieces; a few hundred per night)."""
    spans: list[tuple[float, float, int]] = []
    t = 0.0
    while t < duration - 1e-9:
        n = int(round(min(CHUNK_S, duration - t) * fs))
        st = reader.ecg(t, n).status
        edges = np.flatnonzero(np.diff(st.astype(np.int16))) + 1
        for a, b in zip(np.r_[0, edges], np.r_[edges, n]):
            if st[a] == VALID:
                continue
            a_s, b_s = t + a / fs, t + b / fs
            if spans and spans[-1][2] == st[a] and abs(spans[-1][1] - a_s) < 1.5 / fs:
                spans[-1] = (spans[-1][0], b_s, int(st[a]))
            else:
                spans.append((a_s, b_s, int(st[a])))
        t += CHUNK_S
    return spans


def _lead_page(plt, paper: str, reader: SessionReader, fs: float, h: HourSummary, s: NightSummary, meta, start,
               beats):
    fig = _page(plt, paper)
    _header(fig, s, meta, f"Hour {h.index + 1}: 12-lead ECG")
    if not math.isfinite(h.strip_t0_s):
        fig.text(0.5, 0.5, "No ECG stored in this hour (see the trend page: missing / excluded).",
                 ha="center", fontsize=12)
        return fig
    w_mm, h_mm = PAPER_IN[paper][0] * 25.4, PAPER_IN[paper][1] * 25.4
    ecg_w, ecg_h = STRIP_S * MM_PER_S + CAL_MM, ROW_MM * 4  # 258 x 120 mm: 1 data mm = 1 mm on paper
    left, bottom = (w_mm - ecg_w) / 2 / w_mm, (h_mm - ecg_h) / 2 / h_mm - 0.03
    ax = fig.add_axes([left, bottom, ecg_w / w_mm, ecg_h / h_mm])
    series = reader.ecg(h.strip_t0_s, int(round(STRIP_S * fs)))
    _draw_leads(ax, series, fs)
    bt = np.array([b.t_s for b in beats if h.strip_t0_s <= b.t_s < h.strip_t0_s + STRIP_S])
    rr = np.diff(bt)
    hr = f"{60.0 / np.median(rr):.0f} bpm ({len(bt)} beats)" if len(rr) else "no beats found"
    fig.text(0.04, 0.9, f"{_clock(start, h.strip_t0_s, True)} - {_clock(start, h.strip_t0_s + STRIP_S, True)}  "
             f"(session t = {h.strip_t0_s:.1f} s)   HR over the strip: {hr}", fontsize=10)
    fig.text(0.04, 0.86, f"25 mm/s, 10 mm/mV (1 mV calibration pulse left of each row). "
             f"Print at 100 % (no fit to page) for the true scale.  Rows: I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6, "
             "then lead II for 10 s.", fontsize=8)
    fig.text(0.04, 0.05, f"Cleanest 10 s of the hour: {h.strip_valid_frac:.0%} of the samples valid, mean beat "
             f"quality {h.strip_beat_quality:.2f}. Reconstructed from 60 GHz radar (not a contact ECG); grey: "
             "excluded or missing samples.", fontsize=8)
    return fig


def _event_rows(events, start) -> list[tuple[str, str, str, str, str, bool]]:
    rows: list[list] = []
    for e in events:
        last = rows[-1] if rows else None
        if (last is not None and e.kind in MERGE_KINDS and last[1] == e.kind and e.t_s - last[2] <= MERGE_S):
            last[2] = e.t_s
            last[3] += 1
            continue
        rows.append([e.t_s, e.kind, e.t_s, 1, e.duration_s, e.detail])
    out = []
    for t0, kind, t1, n, dur, detail in rows:
        text = detail if n == 1 else f"{n} events until {_clock(start, t1, True)} (first: {detail})"
        out.append((_clock(start, t0, True), f"{t0:.1f}", kind, _hms(dur) if dur > 0 else "", text[:110],
                    kind == MARKER))
    return out


def _event_pages(plt, paper: str, s: NightSummary, meta, start, events) -> list:
    rows = _event_rows(events, start)
    pages = []
    n_pages = max(1, math.ceil(len(rows) / EVENT_ROWS_PER_PAGE))
    shown = min(n_pages, MAX_EVENT_PAGES)
    for p in range(shown):
        fig = _page(plt, paper)
        _header(fig, s, meta, f"Events and markers ({p + 1}/{shown})")
        chunk = rows[p * EVENT_ROWS_PER_PAGE:(p + 1) * EVENT_ROWS_PER_PAGE]
        y = 0.9
        for x, name in ((0.04, "clock"), (0.12, "session s"), (0.2, "kind"), (0.3, "duration"), (0.38, "detail")):
            fig.text(x, y, name, fontsize=9, weight="bold")
        for clock, t, kind, dur, detail, is_marker in chunk:
            y -= 0.024
            style = {"weight": "bold", "color": "C9"} if is_marker else {}
            for x, v in ((0.04, clock), (0.12, t), (0.2, kind), (0.3, dur), (0.38, detail)):
                fig.text(x, y, v, fontsize=9, **style)
        if not rows:
            fig.text(0.04, 0.85, "No events.", fontsize=10)
        if p == shown - 1 and n_pages > shown:
            fig.text(0.04, 0.03, f"... {len(rows) - shown * EVENT_ROWS_PER_PAGE} more rows: see the session's "
                     "CSV export (_events.csv) for all of them.", fontsize=9)
        pages.append(fig)
    return pages


def make_overnight_report(session: str | Path, out_pdf: str | Path | None = None, *,
                          paper: str = "a4") -> tuple[Path, NightSummary, int]:
    """Write the PDF (default: ``NAME_overnight.pdf`` beside the session); returns (path,
    summary, pages). The PDF is written to a temporary name and moved into place at the end,
    so a failed run leaves no half-written report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    if paper not in PAPER_IN:
        raise InputDataError(f"--paper: expected one of {sorted(PAPER_IN)}, got {paper!r}")
    session = Path(session)
    out = Path(out_pdf) if out_pdf is not None else session.with_name(session.stem + "_overnight.pdf")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    n_pages = 0
    with SessionReader(session) as r, plt.rc_context({"font.size": FONT_PT, "pdf.fonttype": 42}):
        summary, beats, vitals, events = summarise(r)
        meta = r.metadata()
        start = _start(meta)
        fs = r.ecg_fs_hz()
        spans = _bad_spans(r, fs, summary.duration_s)
        try:
            with PdfPages(tmp) as pdf:
                def put(fig):
                    nonlocal n_pages
                    pdf.savefig(fig)
                    plt.close(fig)
                    n_pages += 1

                put(_summary_page(plt, paper, summary, meta, start))
                fig = _page(plt, paper)
                _header(fig, summary, meta, "The night at a glance")
                _trend_axes(fig, vitals, events, spans, summary.af_episodes, start, 0.0, summary.duration_s,
                            _tick_step(summary.duration_s))
                put(fig)
                for h in summary.hours:
                    fig = _page(plt, paper)
                    _header(fig, summary, meta, f"Hour {h.index + 1}: {_clock(start, h.t0_s)} - "
                            f"{_clock(start, h.t1_s)}, trends")
                    _trend_axes(fig, vitals, events, spans, summary.af_episodes, start, h.t0_s, h.t1_s,
                                _tick_step(h.t1_s - h.t0_s))
                    put(fig)
                    put(_lead_page(plt, paper, r, fs, h, summary, meta, start, beats))
                for fig in _event_pages(plt, paper, summary, meta, start, events):
                    put(fig)
                d = pdf.infodict()
                d["Title"] = f"CardioRadar overnight report: {session.name}"
                d["Creator"] = f"cardioradar {meta.get('software_version', '')}"
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
    log.info("overnight report %s: %d pages", out, n_pages)
    return out, summary, n_pages
