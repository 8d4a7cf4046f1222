"""Datasets from the simulator: virtual subjects -> module bytes -> edge.link -> edge.dsp -> windows.

Subjects come from ``random_population(n, seed)`` and are split into train / val / test by
subject before anything is simulated. Each subject is recorded by ``sim record`` in the
front end's fast mode (the data UART's bytes, no serial port), decoded by the edge's own
frame decoder and run through the edge DSP; targets come from the recording's truth.

Subject i's recording seed depends only on (seed, i), and results are gathered in subject
order, so the same seed gives the same bytes whatever the number of workers.
"""

from __future__ import annotations

import logging
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from boards import load_profile
from cardioradar import __version__
from cardioradar.errors import ConfigError
from host.data.format import SPLITS, FORMAT_VERSION, ShardWriter, WindowSet, write_manifest

log = logging.getLogger(__name__)

_RECORD_SEED_KEY = 0x5EED  # keeps recording seeds apart from random_population's own streams
# ~2048 windows = ~75 MB uncompressed, ~90 subjects of 60 s: a shard loads in well under a second
DEFAULT_WINDOWS_PER_SHARD = 2048


def split_subjects(n: int, seed: int, val_frac: float, test_frac: float) -> dict[str, list[int]]:
    """Subject indices per split (seeded permutation; at least one each when n >= 3)."""
    if n < 1:
        raise ConfigError(f"--subjects: expected >= 1, got {n}")
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ConfigError(f"split fractions: expected val + test < 1, got val {val_frac}, test {test_frac}")
    order = np.random.default_rng([int(seed), 0x5B17]).permutation(n)
    n_test = int(round(n * test_frac))
    n_val = int(round(n * val_frac))
    if n >= 3:
        n_test = max(n_test, 1 if test_frac > 0 else 0)
        n_val = max(n_val, 1 if val_frac > 0 else 0)
    if n_test + n_val >= n:
        raise ConfigError(f"--subjects {n}: too few for val {val_frac} and test {test_frac} (train would be empty)")
    return {"test": sorted(order[:n_test].tolist()), "val": sorted(order[n_test:n_test + n_val].tolist()),
            "train": sorted(order[n_test + n_val:].tolist())}


def write_order(splits: dict[str, list[int]], seed: int) -> dict[str, list[int]]:
    """Each split's subjects in a seeded order, the order they are written in: every shard then
    holds a mix of the whole population. Training streams a few shards at a time; shards cut
    from the sorted indices (synthetic first, learned last) made each epoch end on one kind of
    subject, and the validation loss swung with it from epoch to epoch."""
    return {s: [splits[s][j] for j in np.random.default_rng([int(seed), 0x5A4D, k]).permutation(len(splits[s]))]
            for k, s in enumerate(SPLITS)}


def recording_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([int(seed), _RECORD_SEED_KEY, int(index)]).generate_state(1)[0])


def simulate_windows(params, index: int, seconds: float, seed: int, board: str = "sim",
                     noises: tuple = (None,), noise_seed: int = 0, drive_ecg=None,
                     dataset: bool = False) -> tuple[WindowSet, ...]:
    """Record one subject (fast mode) and turn it into windows, once per entry of ``noises``
    (``host.noise.NoiseSpec`` or None = clean; all from the same recording). ``drive_ecg``: a
    ``hardware_sim.record.DriveEcg`` to drive the heart from a recording instead of ``params``.
    ``dataset``: windows every ``refresh_samples`` (a training set's stride) instead of every
    hop (what the board runs, what eval scores)."""
    from edge.dsp.config import DspConfig
    from hardware_sim.record import record_session
    from host.data.recording import load_sim_recording, recording_windows

    profile = load_profile(board)
    with tempfile.TemporaryDirectory(prefix="cardioradar-sim-") as tmp:
        record_session(tmp, seconds, drive_ecg if drive_ecg is not None else params,
                       seed=recording_seed(seed, index), mode="fast", board=profile)
        rec = load_sim_recording(tmp, profile)
    cfg = DspConfig.from_profile(profile)
    if dataset:
        cfg = cfg.for_dataset()
    return tuple(recording_windows(rec, cfg, index, nz, noise_seed) for nz in noises)


def _job(args) -> tuple[WindowSet, ...]:
    subject, index, seconds, seed, board, noises, dataset = args
    from hardware_sim.record import DriveEcg

    drive = subject if isinstance(subject, DriveEcg) else None  # a learned subject: its ECG drives the heart
    return simulate_windows(None if drive else subject, index, seconds, seed, board, noises,
                            recording_seed(seed, index) ^ 0x401, drive_ecg=drive, dataset=dataset)


def iter_population(population: list, indices: list[int], seconds: float, seed: int, workers: int = 2,
                    board: str = "sim", noises: tuple = (None,), desc: str = "subjects", dataset: bool = False):
    """Per listed subject (in the order given), its windows for each entry of ``noises``, as
    they are ready (``dataset``: see ``simulate_windows``). Parallel over subjects (Ray tasks while a ``host.scale.cluster`` is open, else
    a process pool); each subject's seeds depend only on (seed, index)."""
    from tqdm import tqdm

    jobs = [(population[i], i, seconds, seed, board, tuple(noises), dataset) for i in indices]
    bar = tqdm(total=len(jobs), desc=desc, unit="subject", disable=None)
    try:
        from host.scale import active  # a Ray cluster opened by the caller (`data build --address`)

        if (cluster := active()) is not None:
            for ws in cluster.map_ordered(_job, jobs):  # subject order, as the pool below
                yield ws
                bar.update(1)
            return
        if workers <= 1 or len(jobs) <= 1:
            for j in jobs:
                yield _job(j)
                bar.update(1)
            return
        # spawn: numba and threads do not survive fork well; each worker starts clean
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for ws in pool.map(_job, jobs, chunksize=1):  # map keeps subject order
                yield ws
                bar.update(1)
    finally:
        bar.close()


def simulate_population(population: list, indices: list[int], seconds: float, seed: int, workers: int = 2,
                        board: str = "sim", noises: tuple = (None,), desc: str = "subjects") -> list[tuple[WindowSet, ...]]:
    """``iter_population`` gathered into a list."""
    return list(iter_population(population, indices, seconds, seed, workers, board, noises, desc))


def subject_summary(subject, index: int) -> dict:
    p = getattr(subject, "params", None) or subject  # a DriveEcg carries its subject's params
    source = "learned" if p is not subject else "synthetic"
    return {"index": index, "id": p.subject_id, "source": source, "age_y": round(p.age_y, 1), "sex": p.sex,
            "condition": p.condition, "hr_bpm": round(float(getattr(p.electrical, "hr_bpm", float("nan"))), 1),
            "distance_m": round(p.placement.distance_m, 3), "azimuth_deg": round(p.placement.azimuth_deg, 1),
            "elevation_deg": round(p.placement.elevation_deg, 1), "posture": p.placement.posture}


def dsp_settings(board: str = "sim") -> dict:
    d = load_profile(board).dsp
    return {"board": board, "frame_rate_hz": d.frame_rate_hz, "window_samples": d.window_samples,
            "hop_samples": d.refresh_samples or d.hop_samples, "n_voxels": d.n_voxels, "range_bins": d.range_bins,
            "cardiac_band_hz": list(d.cardiac_band_hz), "breathing_band_hz": list(d.breathing_band_hz),
            "features": "features_q15 (T, V, C) int16 Q15, channels phase_dd, i_dd, q_dd"}


def build_sim_dataset(out_dir: str | Path, n_subjects: int, seconds: float, seed: int, workers: int = 2,
                      val_frac: float = 0.15, test_frac: float = 0.15, board: str = "sim",
                      windows_per_shard: int = DEFAULT_WINDOWS_PER_SHARD, n_learned: int = 0) -> Path:
    """Write the train / val / test splits + manifest.json into ``out_dir``; returns it.

    Subjects are simulated in split order and written as they finish, so memory holds one
    shard at a time whatever the population size (a split larger than ``windows_per_shard``
    windows becomes several shard files, see ``host.data.format``).

    ``n_learned`` more subjects have hearts driven by learned 12-lead morphologies
    (``host.data.learned``, the deepfake-ecg generator; indices ``n_subjects ..``), the rest of
    each drawn like the population's; they are split with the others."""
    from hardware_sim.record import DriveEcg
    from hardware_sim.subject.params import random_population

    if not seconds > 0:
        raise ConfigError(f"--seconds: expected > 0, got {seconds}")
    if n_learned < 0:
        raise ConfigError(f"--learned: expected >= 0, got {n_learned}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = split_subjects(n_subjects + n_learned, seed, val_frac, test_frac)  # before anything is simulated
    population: list = random_population(n_subjects, seed)
    if n_learned:
        from host.data.learned import learned_subjects

        population += [DriveEcg(recording=rec, params=params) for rec, params in learned_subjects(n_learned, seed)]
    splits = write_order(splits, seed)
    order = [i for s in SPLITS for i in splits[s]]
    manifest = {
        "format_version": FORMAT_VERSION, "source": "simulator", "seed": int(seed), "seconds_per_subject": seconds,
        "n_subjects": n_subjects + n_learned, "n_learned": n_learned, "val_frac": val_frac, "test_frac": test_frac,
        "software_version": __version__, "dsp": dsp_settings(board), "splits": {},
    }
    results = iter_population(population, order, seconds, seed, workers, board, dataset=True)
    for split in SPLITS:
        writer = ShardWriter(out, split, windows_per_shard)
        for _ in splits[split]:
            writer.add(next(results)[0])
        files = writer.close()
        n_windows = sum(f["n_windows"] for f in files)
        manifest["splits"][split] = {"n_windows": n_windows,
                                     "subjects": [subject_summary(population[i], i) for i in splits[split]]}
        if len(files) > 1:
            manifest["splits"][split]["files"] = files
        log.info("%s: %d subjects, %d windows in %d file(s)", split, len(splits[split]), n_windows, len(files))
    write_manifest(out, manifest)
    return out
