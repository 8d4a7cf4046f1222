"""`cardioradar bench fleet`: how fleet reprocessing scales from 1 to 2 Ray workers.

A few short nights are recorded with the simulator (`sim record`, fast front end) and run
once through the board's runtime into session files (the raw archive a board keeps), then
the fleet is reprocessed on a local Ray with 1 worker and again with 2. Each Ray is warmed
first (every worker process imports the runtime and compiles the DSP kernels once, which a
real fleet of hundreds of nights amortises), so the timings are the steady state.

scaling = per_session_s_1w / per_session_s_2w (2.0 is perfect on two idle cores).
cpu_ceiling_scaling: the same ratio for a pure-Python loop in 1 vs 2 processes, measured in
the same run (before and after, averaged): what the machine's other load left for two
processes. The 1-min load average before and after is reported too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path


def make_sessions(folder: Path, n: int, seconds: float, seed: int, board: str = "sim") -> list[Path]:
    """``n`` simulated nights as session files with their raw frames (what a board records)."""
    from boards import load_profile
    from edge.runtime.replay import reprocess_session
    from hardware_sim.record import record_session
    from hardware_sim.subject.params import random_population

    profile = load_profile(board)
    out = []
    for i, subject in enumerate(random_population(n, seed)):
        rec = folder / f"rec{i}"
        record_session(rec, seconds, subject, seed=seed + i, mode="fast", board=profile)
        db = folder / f"night{i}.db"
        reprocess_session(rec, db, profile)  # the board's runtime over the module's bytes
        shutil.rmtree(rec)
        out.append(db)
    return out


def _timed(sessions: list[Path], out: Path, model: str | None, workers: int) -> float:
    from host.scale import cluster
    from host.scale.fleet import reprocess_fleet

    with cluster(None, workers):
        # Warm every worker: one throw-away session per worker, all at once.
        warm = out.with_name(out.name + "-warm")
        reprocess_fleet([str(s) for s in sessions[:workers]], warm, model, progress=False)
        t0 = time.perf_counter()
        r = reprocess_fleet([str(s) for s in sessions], out, model, progress=False)
        wall = time.perf_counter() - t0
    if r.counts["errors"]:
        from cardioradar.errors import InputDataError

        raise InputDataError(f"bench fleet: {r.counts['errors']} session(s) failed: {r.as_dict()['failed']}")
    return wall


def bench_fleet(n_sessions: int = 8, seconds: float = 60.0, seed: int = 7114, model: str | None = None) -> dict:
    """Figures of ``cardioradar bench fleet`` (see the module docstring)."""
    import ray

    if ray.is_initialized():  # its worker count would not be ours to set
        from cardioradar.errors import ConfigError

        raise ConfigError("bench fleet: starts its own local Ray with 1, then 2 CPUs; call it with none running")
    with tempfile.TemporaryDirectory(prefix="cardioradar-fleet-") as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        sessions = make_sessions(tmp / "in", n_sessions, seconds, seed)
        load_before = _load()
        ceiling = [cpu_ceiling()]
        w1 = _timed(sessions, tmp / "out1", model, 1)
        w2 = _timed(sessions, tmp / "out2", model, 2)
        ceiling.append(cpu_ceiling())
    return {"sessions": n_sessions, "session_s": seconds, "per_session_s_1w": w1 / n_sessions,
            "per_session_s_2w": w2 / n_sessions, "scaling": w1 / w2, "cpus": os.cpu_count(),
            "cpu_ceiling_scaling": round(sum(ceiling) / len(ceiling), 3),
            "load_avg_1min_before": load_before, "load_avg_1min_after": _load()}


def _spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i
    return s


def cpu_ceiling(n: int = 5_000_000, repeats: int = 3) -> float:
    """What this machine gives two processes right now: a pure-Python loop run twice in one
    process, then once in each of two; the median over ``repeats`` alternations of the time
    ratio (2.0 on two idle cores). A rough gauge: other sessions' load comes in bursts."""
    import multiprocessing
    import statistics

    ratios = []
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # workers started before the clock
        for _ in range(repeats):
            t0 = time.perf_counter()
            _spin(n)
            _spin(n)
            t1 = time.perf_counter()
            pool.map(_spin, [n, n])
            ratios.append((t1 - t0) / (time.perf_counter() - t1))
    return statistics.median(ratios)


def _load() -> float:
    """The machine's 1-min load average: other work on it slows the 2-worker run most."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else float("nan")
