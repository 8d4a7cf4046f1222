"""`cardioradar fleet reprocess`: re-run a fleet's archived nights with a new model, on Ray.

Each input (a session ``.db`` with its raw ``frames`` archive, or a `sim record` folder /
``frames.bin``) goes through ``edge.runtime.replay.reprocess_session`` -- the board's own
link decoder, DSP, int8 model, stitching and post-processing -- into ``OUT/<name>.db``; the
original is only read. One Ray task per session (one CPU each).

Resumable. A session's file is written as ``<name>.db.partial`` and renamed when closed;
then its summary row is written atomically to ``<name>.done.json`` (the completion
marker). A rerun skips every input with a marker (its row is read back), and redoes the
others from scratch. A marker made with another model stops the run (use a new ``--out``).

One bad session (corrupted database, unreadable file) becomes a row with ``status`` =
``error`` and the message; the others go on. The summary (``fleet_summary.parquet`` and
``.csv``, one row per input in the order given) and ``fleet_summary.png`` are written last.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardioradar.errors import ConfigError
from cardioradar.jsonvalues import json_clean
from cardioradar.atomic import fsync_dir, write_bytes

log = logging.getLogger(__name__)

SUMMARY_NAME = "fleet_summary"
_STATS_CHUNK_S = 600.0
# The summary's columns, in order (units in the names; NaN where a value does not exist).
COLUMNS = ("source", "output", "status", "error", "reused", "model_sha256", "frames", "duration_s",
           "recorded_s", "excluded_s", "n_beats", "hr_bpm_mean", "hr_bpm_median", "hr_bpm_p05", "hr_bpm_p95",
           "br_per_min_median", "ibi_ms_mean", "ibi_ms_sd", "ibi_ms_rmssd", "af_episodes", "af_burden", "wall_s")


@dataclass(frozen=True)
class FleetJob:
    """One input to reprocess (what a Ray task receives)."""

    source: str
    out_dir: str
    name: str
    model: str | None
    board: str | None
    model_sha256: str
    archive_raw: bool = True


@dataclass
class FleetResult:
    out_dir: str
    rows: list[dict] = field(default_factory=list)
    summary_parquet: str = ""
    summary_csv: str = ""
    plot_png: str = ""
    wall_s: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        done = sum(r["status"] == "ok" for r in self.rows)
        return {"sessions": len(self.rows), "ok": done, "reused": sum(bool(r["reused"]) for r in self.rows),
                "errors": sum(r["status"] == "error" for r in self.rows)}

    def as_dict(self) -> dict:
        return {"out": self.out_dir, **self.counts, "summary_parquet": self.summary_parquet,
                "summary_csv": self.summary_csv, "plot": self.plot_png, "wall_s": round(self.wall_s, 3),
                "failed": [{"source": r["source"], "error": r["error"]} for r in self.rows if r["status"] == "error"]}


def output_name(source: str | Path) -> str:
    """``OUT/<name>.db`` for an input: the session's file stem, or the recording folder's name."""
    p = Path(source)
    if p.is_file() and p.suffix == ".bin":
        p = p.parent
    return p.stem if p.suffix == ".db" else p.name


def marker_path(out_dir: str | Path, name: str) -> Path:
    return Path(out_dir) / f"{name}.done.json"


def session_stats(path: str | Path) -> dict:
    """The summary's numbers for one (reprocessed) session file."""
    from edge.rhythm import af_burden, af_episodes
    from edge.store import SessionReader

    recorded = excluded = 0.0
    with SessionReader(path) as r:
        meta = r.metadata()
        span = r.ecg_time_range()
        t = span[0] if span else 0.0
        while span and t < span[1]:  # a night's ECG in 10-min pieces: bounded memory
            for b in r.ecg_blocks(t, t + _STATS_CHUNK_S):
                if t <= b.t0_s < t + _STATS_CHUNK_S:  # each block counted once
                    if b.excluded:
                        excluded += b.n_samples / b.fs_hz
                    else:
                        recorded += b.n_samples / b.fs_hz
            t += _STATS_CHUNK_S
        beats = r.beats()
        vitals = r.vitals()
        n_frames = r.counts().get("frames", 0)
    fs = float(meta.get("frame_rate_hz") or 100.0)
    end_s = max(span[1] if span else 0.0, n_frames / fs)
    hr = np.array([b.hr_bpm for b in beats], float)
    hr = hr[np.isfinite(hr)]
    t = np.array([b.t_s for b in beats], float)
    rr = np.array([b.rr_s for b in beats], float)
    ibi = rr[np.isfinite(rr)] * 1000.0
    succ = np.diff(rr) * 1000.0  # successive differences; NaN across a gap
    succ = succ[np.isfinite(succ)]
    br = np.array([v.br_bpm for v in vitals], float)
    br = br[np.isfinite(br)]
    episodes = af_episodes(t, rr) if len(beats) else []

    def stat(fn, x):
        return float(fn(x)) if len(x) else math.nan

    return {"frames": int(n_frames), "duration_s": float(end_s), "recorded_s": float(recorded),
            "excluded_s": float(excluded), "n_beats": len(beats), "hr_bpm_mean": stat(np.mean, hr),
            "hr_bpm_median": stat(np.median, hr), "hr_bpm_p05": stat(lambda x: np.percentile(x, 5), hr),
            "hr_bpm_p95": stat(lambda x: np.percentile(x, 95), hr), "br_per_min_median": stat(np.median, br),
            "ibi_ms_mean": stat(np.mean, ibi), "ibi_ms_sd": stat(lambda x: np.std(x, ddof=1) if len(x) > 1 else math.nan, ibi),
            "ibi_ms_rmssd": stat(lambda x: np.sqrt(np.mean(x ** 2)), succ), "af_episodes": len(episodes),
            "af_burden": af_burden(episodes, end_s)}


def _row(job: FleetJob, status: str, error: str = "", stats: dict | None = None, wall_s: float = math.nan,
         reused: bool = False) -> dict:
    row = dict.fromkeys(COLUMNS, math.nan)
    row.update({"source": job.source, "output": str(Path(job.out_dir) / f"{job.name}.db") if status == "ok" else "",
                "status": status, "error": error, "reused": reused, "model_sha256": job.model_sha256,
                "frames": 0, "n_beats": 0, "af_episodes": 0, "wall_s": wall_s})
    row.update(stats or {})
    return row


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        p.unlink(missing_ok=True)


def reprocess_one(job: FleetJob) -> dict:
    """Reprocess one input into ``OUT/<name>.db`` and write its completion marker; returns
    its summary row. Never raises for a bad input: the row says ``status`` = ``error``."""
    from boards import load_profile
    from edge.runtime.replay import reprocess_session, source_metadata

    t0 = time.perf_counter()
    out = Path(job.out_dir) / f"{job.name}.db"
    partial = Path(f"{out}.partial")
    try:
        _remove(partial)  # a run killed half-way left it: start this session again
        _remove(out)  # a session file without its marker is not finished either
        board = job.board or source_metadata(job.source).get("board") or "sim"
        reprocess_session(job.source, partial, load_profile(board), job.model, archive_raw=job.archive_raw,
                          extra_meta={"reprocessed_name": job.name})
        os.replace(partial, out)
        fsync_dir(out.parent)  # the session's name is on disk before its marker can be
        stats = session_stats(out)
        row = _row(job, "ok", stats=stats, wall_s=time.perf_counter() - t0)
        write_bytes(marker_path(job.out_dir, job.name), json.dumps(json_clean(row), indent=1).encode())
        return row
    except Exception as e:  # one bad night must not stop the fleet: reported in its row
        _remove(partial)
        log.warning("%s: %s", job.source, e)
        first = str(e).splitlines()[0] if str(e) else ""
        return _row(job, "error", f"{type(e).__name__}: {first}", wall_s=time.perf_counter() - t0)


def _from_json(row: dict) -> dict:
    return {k: (math.nan if v is None else v) for k, v in row.items()}


def plan_jobs(sources: list[str], out_dir: str | Path, model: str | None, board: str | None,
              archive_raw: bool = True) -> tuple[list[FleetJob], dict[int, dict]]:
    """The jobs for ``sources`` and, by position, the rows of those already finished."""
    from boards import load_profile
    from edge.runtime.model import model_path_for
    from edge.runtime.run import file_sha256

    if not sources:
        raise ConfigError("fleet reprocess: expected at least one session")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mpath = model_path_for(load_profile(board or "sim"), model)
    sha = file_sha256(mpath)
    names: dict[str, str] = {}
    jobs, finished = [], {}
    for i, src in enumerate(sources):
        name = output_name(src)
        if name in names:
            raise ConfigError(f"fleet reprocess: {src} and {names[name]} would both write {out / name}.db; "
                              "rename one or reprocess them into different --out folders")
        names[name] = src
        job = FleetJob(str(src), str(out), name, str(mpath), board, sha, archive_raw)
        jobs.append(job)
        marker = marker_path(out, name)
        if marker.is_file():
            try:
                row = _from_json(json.loads(marker.read_text()))
            except ValueError as e:
                raise ConfigError(f"{marker}: unreadable completion marker ({e}); delete it to redo {src}") from e
            if row.get("model_sha256") != sha:
                raise ConfigError(f"{marker}: {name} was reprocessed with model sha256 {row.get('model_sha256')}, "
                                  f"not {sha} ({mpath.name}); reprocess into a new --out folder")
            finished[i] = {**row, "source": str(src), "reused": True}
    return jobs, finished


def reprocess_fleet(sources: list[str], out_dir: str | Path, model: str | None = None, *, board: str | None = None,
                    address: str | None = None, workers: int | None = None, archive_raw: bool = True,
                    progress: bool | None = None) -> FleetResult:
    """Reprocess every input on Ray (local with ``workers`` CPUs without ``address``), skipping
    finished ones; write the summary (Parquet, CSV) and its plot. Rows keep the inputs' order."""
    import ray  # noqa: F401  -- the [scale] extra: missing, the run ends before anything is written
    from tqdm import tqdm

    from host.scale import check_address, cluster

    t0 = time.perf_counter()
    if address and address != "local":
        check_address(address)  # before the output folder is made
    jobs, finished = plan_jobs(sources, out_dir, model, board, archive_raw)
    todo = [i for i in range(len(jobs)) if i not in finished]
    rows: dict[int, dict] = dict(finished)
    bar = tqdm(total=len(jobs), initial=len(finished), desc="fleet", unit="session",
               disable=None if progress is None else not progress)
    try:
        if todo:
            with cluster(address, workers) as c:
                for i, row in zip(todo, c.map_ordered(reprocess_one, [jobs[i] for i in todo])):
                    rows[i] = row
                    bar.update(1)
                    if row["status"] == "error":
                        bar.write(f"{row['source']}: {row['error']}", file=sys.stderr)
    finally:
        bar.close()
    result = FleetResult(str(out_dir), [rows[i] for i in range(len(jobs))])
    result.summary_parquet, result.summary_csv = (str(p) for p in write_summary(result.rows, out_dir))
    result.plot_png = str(plot_summary(result.rows, Path(out_dir) / f"{SUMMARY_NAME}.png"))
    result.wall_s = time.perf_counter() - t0
    return result


def write_summary(rows: list[dict], out_dir: str | Path) -> tuple[Path, Path]:
    """``fleet_summary.parquet`` and ``.csv`` (written to temporary names, then renamed)."""
    import pandas as pd

    out = Path(out_dir)
    df = pd.DataFrame([{k: r.get(k, math.nan) for k in COLUMNS} for r in rows], columns=list(COLUMNS))
    for col in ("frames", "n_beats", "af_episodes"):
        df[col] = df[col].fillna(0).astype("int64")
    df["reused"] = df["reused"].astype(bool)
    for col in ("source", "output", "status", "error", "model_sha256"):
        df[col] = df[col].fillna("").astype(str)
    pq, csv = out / f"{SUMMARY_NAME}.parquet", out / f"{SUMMARY_NAME}.csv"
    df.to_parquet(pq.with_name(pq.name + ".tmp"), engine="pyarrow", index=False)
    os.replace(pq.with_name(pq.name + ".tmp"), pq)
    df.to_csv(csv.with_name(csv.name + ".tmp"), index=False)
    os.replace(csv.with_name(csv.name + ".tmp"), csv)
    return pq, csv


def plot_summary(rows: list[dict], out_png: str | Path) -> Path:
    """One figure: HR (median, 5th-95th percentile) per session, recorded vs excluded time,
    AF burden; failed sessions are marked in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [Path(r["source"]).name for r in rows]
    x = np.arange(len(rows))
    ok = np.array([r["status"] == "ok" for r in rows])
    g = lambda k: np.array([float(r.get(k, math.nan)) for r in rows])  # noqa: E731
    fig, axes = plt.subplots(3, 1, figsize=(max(6.0, 0.5 * len(rows) + 2), 8), sharex=True)
    med, lo, hi = g("hr_bpm_median"), g("hr_bpm_p05"), g("hr_bpm_p95")
    axes[0].errorbar(x, med, yerr=[med - lo, hi - med], fmt="o", capsize=3)
    axes[0].set_ylabel("HR (bpm)\nmedian, p5-p95")
    axes[1].bar(x, g("recorded_s") / 3600, label="recorded")
    axes[1].bar(x, g("excluded_s") / 3600, bottom=np.nan_to_num(g("recorded_s")) / 3600, label="excluded")
    axes[1].set_ylabel("ECG (h)")
    axes[1].legend(loc="upper right", fontsize=8)
    axes[2].bar(x, 100 * g("af_burden"))
    axes[2].set_ylabel("AF burden (%)")
    axes[2].set_ylim(0, max(5.0, float(np.nanmax(100 * g("af_burden"), initial=0.0)) * 1.1))
    for i in np.flatnonzero(~ok):
        for ax in axes:
            ax.axvspan(i - 0.5, i + 0.5, color="red", alpha=0.15, lw=0)
    axes[2].set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    sha = next((r["model_sha256"] for r in rows if r.get("model_sha256")), "")
    fig.suptitle(f"fleet: {int(ok.sum())}/{len(rows)} sessions reprocessed (model {sha[:12]}); red: failed")
    fig.tight_layout()
    out = Path(out_png)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out

