"""Per-window normalisation of every feature channel.

y = (x - mean) / (NORM_SIGMAS * rms(x - mean)), saturated to [-1, 1).
Fixed point: int32 (n, C) in any Q -> int16 (n, C) Q15. The mean is rounded to
the working precision; the rms comes from an integer square root of the mean square of the deviation,
scaled to ~21 bits first (so small channels keep precision and large ones fit int64);
each sample is then one rounded integer division.
A constant channel gives zeros.
"""

from __future__ import annotations

import numpy as np

from edge.dsp.backend import helper, kernel
from fixedpoint.formats import bit_length

NORM_SIGMAS = 4


@helper
def _div_round(num, den):
    """round(num / den) half away from zero, den > 0 (int64)."""
    if num >= 0:
        return (2 * num + den) // (2 * den)
    return -((-2 * num + den) // (2 * den))


@kernel("i2[:,::1](i4[:,::1])")
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
        if peak == 0:
            continue
        # scale to about 2**21 so the integer rms keeps ~20 significant bits and the sum of
        # squares fits int64: small channels are shifted left (exactly, the mean then keeps
        # `up` fraction bits), large ones right for the rms only
        up = 21 - bit_length(peak)
        if up >= 0:
            mean_s = _div_round(total << up, np.int64(n))
        else:
            mean_s = mean
        ss = np.int64(0)
        for t in range(n):
            if up >= 0:
                d = (np.int64(x[t, j]) << up) - mean_s
            else:
                d = (np.int64(x[t, j]) - mean_s) >> -up
            ss += d * d
        ms = ss // n
        rms = np.int64(np.sqrt(np.float64(ms)))  # exact for ms < 2**52; fix the last unit
        while rms * rms > ms:
            rms -= 1
        while (rms + 1) * (rms + 1) <= ms:
            rms += 1
        if rms == 0:
            continue
        den = NORM_SIGMAS * (rms if up >= 0 else rms << -up)
        for t in range(n):
            if up >= 0:
                num = ((np.int64(x[t, j]) << up) - mean_s) << 15
            else:
                num = (np.int64(x[t, j]) - mean_s) << 15
            y = _div_round(num, den)
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
