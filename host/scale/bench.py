"""`cardioradar bench fleet`: how fleet reprocessing scales from 1 to 2 Ray workers.

A few short nights are recorded with the simulator (`sim record`, fast front end) and run
once through the board's runtime into session files (the raw archive a board keeps). A local
Ray with 2 CPUs is started and warmed (each worker process imports the runtime and compiles
the DSP kernels once, which a real fleet of hundreds of nights amortises); then the whole
`fleet reprocess` (sessions, summary, plot) runs with 1 task at a time and with 2, alternated
``pairs`` times so that a shared machine's changing load hits both alike.

per_session_s_1w / _2w: the median run's wall time / sessions. scaling = their ratio (2.0 is
perfect on two idle cores); scaling_per_pair: each alternation's ratio.
cpu_ceiling_scaling: the same ratio for a pure-Python loop in 1 vs 2 processes (before and
after, averaged): a rough gauge of what the machine's other load left for two processes.
The 1-min load average before and after is reported too.
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


def _fleet_s(sessions: list[Path], out: Path, model: str | None, workers: int) -> float:
    """Wall time of one whole `fleet reprocess` (sessions, summary, plot) with ``workers``
    tasks at once on the Ray already running."""
    from cardioradar.errors import InputDataError
    from host.scale.fleet import reprocess_fleet

    t0 = time.perf_counter()
    r = reprocess_fleet([str(s) for s in sessions], out, model, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    if r.counts["errors"]:
        raise InputDataError(f"bench fleet: {r.counts['errors']} session(s) failed: {r.as_dict()['failed']}")
    return wall


def bench_fleet(n_sessions: int = 8, seconds: float = 60.0, seed: int = 7114, model: str | None = None,
                pairs: int = 3) -> dict:
    """Figures of ``cardioradar bench fleet`` (see the module docstring)."""
    import statistics

    import ray

    from host.scale import cluster

    if ray.is_initialized():  # its CPUs would not be ours to set
        from cardioradar.errors import ConfigError

        raise ConfigError("bench fleet: starts its own local Ray with 2 CPUs; call it with none running")
    with tempfile.TemporaryDirectory(prefix="cardioradar-fleet-") as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        sessions = make_sessions(tmp / "in", n_sessions, seconds, seed)
        load_before = _load()
        ceiling = [cpu_ceiling()]
        w1, w2 = [], []
        with cluster(None, 2):
            _fleet_s(sessions[:2], tmp / "warm", model, 2)  # both worker processes warm
            for k in range(pairs):  # alternated, so the machine's changing load hits both alike
                w1.append(_fleet_s(sessions, tmp / f"1w-{k}", model, 1))
                w2.append(_fleet_s(sessions, tmp / f"2w-{k}", model, 2))
        ceiling.append(cpu_ceiling())
    s1, s2 = statistics.median(w1) / n_sessions, statistics.median(w2) / n_sessions
    return {"sessions": n_sessions, "session_s": seconds, "per_session_s_1w": s1, "per_session_s_2w": s2,
            "scaling": s1 / s2, "scaling_per_pair": [round(x / y, 3) for x, y in zip(w1, w2)],
            "cpus": os.cpu_count(), "cpu_ceiling_scaling": round(sum(ceiling) / len(ceiling), 3),
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
