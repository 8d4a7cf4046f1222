"""Real-time factor of the front end: 15 range bins x 12 virtual antennas at 100 Hz.

The scene is ~8 point scatterers on a chest at 0.6 m moving with breathing and heartbeat
sinusoids (plus static clutter), evaluated by numpy. Numba compilation is excluded (one
warm-up call before timing). Everything runs on one core (the kernels are serial).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from boards import load_profile
from boards.radarcfg import load_cfg
from hardware_sim.types import Scatterers

from .engine import MODES, FrontEnd
from .noise import NoiseSettings


@dataclass(frozen=True)
class SinusoidScene:
    """Scatterers p0 + sum_k amp_k sin(2 pi f_k t + phase_k) along each one's line of sight.

    p0_m (n_s, 3) m; reflectivity (n_s,) m; amp_m (n_s, n_k) m; freq_hz (n_k,); phase_rad (n_s, n_k).
    """

    p0_m: np.ndarray
    reflectivity: np.ndarray
    amp_m: np.ndarray
    freq_hz: np.ndarray
    phase_rad: np.ndarray

    @classmethod
    def chest(cls, n_subject: int = 6, n_clutter: int = 2, seed: int = 0) -> "SinusoidScene":
        rng = np.random.default_rng(seed)
        n = n_subject + n_clutter
        p0 = np.c_[rng.uniform(-0.1, 0.1, n), rng.uniform(0.55, 0.65, n), rng.uniform(-0.1, 0.1, n)]
        p0[n_subject:, 1] = rng.uniform(0.9, 1.4, n_clutter)
        refl = np.r_[np.full(n_subject, np.sqrt(0.5 / n_subject)), np.full(n_clutter, 0.5)]
        amp = np.zeros((n, 2))
        amp[:n_subject, 0] = rng.uniform(2e-3, 5e-3, n_subject)  # breathing
        amp[:n_subject, 1] = rng.uniform(1e-4, 4e-4, n_subject)  # heartbeat
        return cls(p0, refl, amp, np.array([0.25, 1.2]), rng.uniform(0, 2 * np.pi, (n, 2)))

    def scatterers_at(self, t_s: np.ndarray) -> Scatterers:
        t = np.asarray(t_s, float)
        arg = 2 * np.pi * self.freq_hz * t[:, None, None] + self.phase_rad[None]
        d = (np.sin(arg) * self.amp_m[None]).sum(-1)  # (n_t, n_s) m along the line of sight
        u = self.p0_m / np.linalg.norm(self.p0_m, axis=1, keepdims=True)
        pos = self.p0_m[None] + d[:, :, None] * u[None]
        return Scatterers(pos, self.reflectivity, self.amp_m[:, 0] > 0)


def bench_frontend(seconds: float = 5.0, mode: str = "adc", *, board: str = "sim", batch: int = 100) -> dict:
    """Generate ``seconds`` of frames; real-time factors frame by frame and in batches.

    Returns mode, n_frames, frame_rate_hz, wall_s and us_per_frame of each way, and
    ``realtime_factor`` (batched, what dataset generation uses) and
    ``realtime_factor_single`` (``frame()`` per frame, what the module's frame clock uses).
    """
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    profile = load_profile(board)
    radar = load_cfg(profile.cfg_path)
    fe = FrontEnd(radar, profile.antennas, mode=mode, seed=1, noise=NoiseSettings())
    scene = SinusoidScene.chest()
    period_s = fe.timing.frame_period_s
    n = max(1, int(round(seconds / period_s)))
    centre = fe.bin_of_range(0.6)
    bins = np.arange(centre - 7, centre + 8)
    fe.frames(scene, np.arange(2), np.arange(2) * period_s, bins)  # compile / load cache

    t0 = time.perf_counter()
    for k in range(n):
        fe.frame(scene, k, k * period_s, bins)
    wall_single = time.perf_counter() - t0

    t0 = time.perf_counter()
    for k0 in range(0, n, batch):
        idx = np.arange(k0, min(n, k0 + batch))
        fe.frames(scene, idx, idx * period_s, bins)
    wall_batch = time.perf_counter() - t0
    return {
        "mode": mode,
        "n_frames": n,
        "frame_rate_hz": 1.0 / period_s,
        "bins": len(bins),
        "n_virtual": fe.n_virtual,
        "n_scatterers": len(scene.reflectivity),
        "wall_s_single": wall_single,
        "wall_s_batched": wall_batch,
        "us_per_frame_single": 1e6 * wall_single / n,
        "us_per_frame_batched": 1e6 * wall_batch / n,
        "realtime_factor_single": n * period_s / wall_single,
        "realtime_factor": n * period_s / wall_batch,
    }
