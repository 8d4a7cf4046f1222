"""`cardioradar bench dsp`: the whole fixed-point DSP chain on one core (a host tool: it times the
board's kernels on a simulator recording or on frames given as .npy)."""

from __future__ import annotations

import os
import time

import numpy as np

from cardioradar.errors import InputDataError


def load_frames(frames_path, profile, *, subject: str, seconds: float, seed: int) -> np.ndarray:
    """``frames_path`` (.npy) when given, else a simulator recording of ``subject``."""
    if frames_path:
        try:
            frames = np.load(frames_path)
        except (OSError, ValueError) as e:
            raise InputDataError(f"--frames {frames_path}: cannot read a .npy array: {e}") from e
        return frames
    from quantize.simdata import simulate

    return simulate(subject, seconds, seed, board=profile).frames


REPEATS = 5


def bench_dsp(frames: np.ndarray, cfg) -> dict:
    """Time ``process_recording`` on ``frames`` with ``cfg`` (an `edge.dsp.config.DspConfig`)
    pinned to one CPU (JIT compiled first)."""
    from edge.dsp.pipeline import process_recording
    from edge.dsp.tensor import FeatureLayout, ModelInputSpec

    spec = ModelInputSpec(2.0 / 255, 0, FeatureLayout(cfg.window_samples, cfg.n_voxels, cfg.fs_hz))
    need = cfg.window_samples + cfg.warmup_samples + 3 + cfg.hop_samples
    if len(frames) < need:
        raise InputDataError(f"bench dsp: expected at least {need} frames, got {len(frames)}")
    process_recording(frames[:need], cfg, spec)  # compile / load the numba cache
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cpus:
        os.sched_setaffinity(0, {min(cpus)})
    try:  # the median of REPEATS runs: one run is ~0.3 s, where one descheduling of the VM moves it by 1/3
        walls = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            windows = process_recording(frames, cfg, spec)
            walls.append(time.perf_counter() - t0)
        dt = float(np.median(walls))
    finally:
        if cpus:
            os.sched_setaffinity(0, cpus)
    return {"frames": len(frames), "windows": len(windows), "seconds": dt,
            "rtf": len(frames) / cfg.fs_hz / dt, "frames_per_s": len(frames) / dt}
