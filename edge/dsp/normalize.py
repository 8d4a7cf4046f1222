"""Per-window normalisation of every feature channel.

y = (x - mean) / (NORM_SIGMAS * rms(x - mean)), saturated to [-1, 1).
Fixed point: int32 (n, C) in any Q -> int16 (n, C) Q15. The mean is a rounded integer
mean; the rms comes from an integer square root of the mean square of the deviation
(pre-shifted so its sum fits int64); each sample is then one rounded integer division.
A constant channel gives zeros.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NORM_SIGMAS = 4


@njit(cache=True)
def _div_round(num, den):
    """round(num / den) half away from zero, den > 0 (int64)."""
    if num >= 0:
        return (2 * num + den) // (2 * den)
    return -((-2 * num + den) // (2 * den))


@njit(cache=True)
def normalize_q15(x: np.ndarray) -> np.ndarray:
    """x int32 (n, C) -> int16 (n, C) Q15."""
    n, c = x.shape
    out = np.zeros((n, c), np.int16)
    if n == 0:
        return out
    for j in range(c):
        total = np.int64(0)
        for t in range(n):
            total += np.int64(x[t, j])
        mean = _div_round(total, np.int64(n))
        peak = np.int64(0)
        for t in range(n):
            peak = max(peak, abs(np.int64(x[t, j]) - mean))
        shift = 0
        while (peak >> shift) >= (np.int64(1) << 22):
            shift += 1
        ss = np.int64(0)
        for t in range(n):
            d = (np.int64(x[t, j]) - mean) >> shift
            ss += d * d
        ms = ss // n
        rms = np.int64(np.sqrt(np.float64(ms)))  # exact for ms < 2**52; fix the last unit
        while rms * rms > ms:
            rms -= 1
        while (rms + 1) * (rms + 1) <= ms:
            rms += 1
        den = NORM_SIGMAS * (rms << shift)
        if den == 0:
            continue
        for t in range(n):
            y = _div_round((np.int64(x[t, j]) - mean) << 15, den)
            out[t, j] = min(max(y, -32768), 32767)
    return out


def normalize_ref(x: np.ndarray) -> np.ndarray:
    """Float reference: (n, C) -> float64 (n, C) in [-1, 1 - 2**-15], same formula."""
    x = np.asarray(x, float)
    d = x - x.mean(axis=0, keepdims=True)
    rms = np.sqrt(np.mean(d * d, axis=0, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(rms > 0, d / (NORM_SIGMAS * rms), 0.0)
    return np.clip(y, -1.0, 1.0 - 2.0**-15)
