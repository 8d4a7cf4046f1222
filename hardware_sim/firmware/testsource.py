"""A small analytic frame source behind the front end's ``frame()`` signature.

Point reflectors at fixed ranges, each a sinc-shaped peak in range with a plane-wave phase
across the virtual array, plus seeded Gaussian noise. Fast and exact enough to test the
firmware layers (bin selection, TLVs, pacing) without the ADC-level front end.
"""

from __future__ import annotations

import numpy as np

from boards import AntennaConfig
from boards.radarcfg import RadarConfig, range_fft_size


class PointTargetSource:
    """``targets``: (range_m, amplitude in int16 counts) pairs; ``noise_counts``: std per I/Q."""

    def __init__(self, radar: RadarConfig, antennas: AntennaConfig, *, seed: int = 0,
                 targets: tuple[tuple[float, float], ...] = ((0.8, 3000.0),), noise_counts: float = 20.0):
        self.n_fft = range_fft_size(radar.profile)
        self.range_step_m = radar.profile.range_resolution_m * radar.profile.num_adc_samples / self.n_fft
        self.n_virtual = len(antennas.virtual_positions)
        self._pos = np.asarray(antennas.virtual_positions, float)
        self._targets = targets
        self._noise = noise_counts
        self._seed = seed

    def bin_of_range(self, range_m: float) -> int:
        return int(round(range_m / self.range_step_m))

    def frame(self, scene, frame_index: int, t_frame_s: float, bins: np.ndarray) -> np.ndarray:
        bins = np.asarray(bins)
        rng = np.random.default_rng([self._seed, frame_index])
        x = np.zeros((len(bins), self.n_virtual), complex)
        for r_m, amp in self._targets:
            offset = bins - r_m / self.range_step_m
            steer = np.exp(1j * np.pi * 0.1 * self._pos[:, 0])
            x += amp * np.sinc(offset)[:, None] * steer[None, :] * np.exp(1j * 2 * np.pi * 0.01 * frame_index)
        x += self._noise * (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape))
        out = np.stack([x.real, x.imag], axis=-1)
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)
