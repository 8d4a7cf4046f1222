"""Noise added to the module's raw int16 frames (radarODE-MTL robustness protocol, sec. IV-D).

- Constant: white Gaussian noise over the whole recording at ``snr_db`` (6, 3, 0, -1, -2,
  -3 dB in the paper).
- Bursts ("abrupt noise"): the recording is cut into segments of ``segment_s``; 20 % of them
  (seeded choice) get one burst of ``burst_s`` (1, 2 or 3 s) at a random place inside the
  segment, at ``burst_db`` (0 dB = mild body movement, -9 dB = extensive).

SNR is relative to the frames' signal power: the mean of I^2 + Q^2 over every sample of
every frame (range bins x virtual antennas), i.e. the power the module reports, static
reflections included. Noise is complex (independent I and Q, each half the power), added
in float, rounded and saturated to int16 as the module's output would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardioradar.errors import ConfigError, InputDataError

SNR_LEVELS_DB = (6.0, 3.0, 0.0, -1.0, -2.0, -3.0)
BURST_SECONDS = (1.0, 2.0, 3.0)
BURST_MILD_DB, BURST_EXTENSIVE_DB = 0.0, -9.0
BURST_FRACTION = 0.2
SEGMENT_S = 5.12  # one model window at 100 Hz


@dataclass(frozen=True)
class NoiseSpec:
    """What to add. ``snr_db`` None = no constant noise; ``burst_s`` None = no bursts."""

    snr_db: float | None = None
    burst_s: float | None = None
    burst_db: float = BURST_MILD_DB
    burst_fraction: float = BURST_FRACTION
    segment_s: float = SEGMENT_S

    def __post_init__(self) -> None:
        if self.burst_s is not None:
            if not 0 < self.burst_s <= self.segment_s:
                raise ConfigError(f"--bursts: expected 0 < seconds <= segment ({self.segment_s} s), got {self.burst_s}")
            if not 0 < self.burst_fraction <= 1:
                raise ConfigError(f"burst_fraction: expected 0 < x <= 1, got {self.burst_fraction}")

    @property
    def active(self) -> bool:
        return self.snr_db is not None or self.burst_s is not None

    def label(self) -> str:
        parts = []
        if self.snr_db is not None:
            parts.append(f"white {self.snr_db:g} dB")
        if self.burst_s is not None:
            parts.append(f"bursts {self.burst_s:g} s at {self.burst_db:g} dB on {100 * self.burst_fraction:g} %")
        return ", ".join(parts) or "clean"


@dataclass(frozen=True)
class NoisyFrames:
    """frames: int16 like the input. burst_intervals: int64 (k, 2) [start, stop) frame indices
    of each burst. signal_power: mean I^2 + Q^2 of the clean frames."""

    frames: np.ndarray
    burst_intervals: np.ndarray
    signal_power: float


def signal_power(frames: np.ndarray) -> float:
    """Mean of I^2 + Q^2 over all samples of int16 (..., 2) frames."""
    x = np.asarray(frames, np.float64)
    return float(np.mean(np.sum(x * x, axis=-1)))


def _noise(rng: np.random.Generator, shape: tuple, power: float) -> np.ndarray:
    # complex power `power` = I and Q each power / 2
    return rng.normal(0.0, np.sqrt(power / 2.0), size=shape)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def burst_intervals(n_frames: int, fs_hz: float, spec: NoiseSpec, rng: np.random.Generator) -> np.ndarray:
    """int64 (k, 2) frame intervals: round(fraction x segments) whole segments, one burst each."""
    seg = int(round(spec.segment_s * fs_hz))
    n_seg = n_frames // seg
    k = int(round(spec.burst_fraction * n_seg))
    if n_seg and k == 0:
        k = 1  # a short recording still gets its burst
    length = int(round(spec.burst_s * fs_hz))
    chosen = np.sort(rng.choice(n_seg, size=k, replace=False)) if k else np.zeros(0, np.int64)
    starts = chosen * seg + rng.integers(0, seg - length + 1, size=k)
    return np.stack([starts, starts + length], axis=1).astype(np.int64).reshape(-1, 2)


def add_noise(frames: np.ndarray, spec: NoiseSpec, fs_hz: float, seed: int) -> NoisyFrames:
    """``frames``: int16 (n, range_bins, n_virtual, 2). Same (frames, spec, seed) -> same bytes."""
    if frames.dtype != np.int16 or frames.ndim < 2 or frames.shape[-1] != 2:
        raise InputDataError(f"add_noise: frames: expected int16 (n, ..., 2), got {frames.dtype} {frames.shape}")
    p_sig = signal_power(frames)
    rng_const, rng_burst = (np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(2))
    x = frames.astype(np.float64)
    if spec.snr_db is not None:
        x += _noise(rng_const, x.shape, p_sig / 10 ** (spec.snr_db / 10))
    intervals = np.zeros((0, 2), np.int64)
    if spec.burst_s is not None:
        intervals = burst_intervals(len(frames), fs_hz, spec, rng_burst)
        p_burst = p_sig / 10 ** (spec.burst_db / 10)
        for a, b in intervals:
            x[a:b] += _noise(rng_burst, x[a:b].shape, p_burst)
    return NoisyFrames(_to_int16(x), intervals, p_sig)
