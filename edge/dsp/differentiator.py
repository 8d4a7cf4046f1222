"""The noise-robust second-derivative differentiator of CardioRadar (its eq. 4):

    f'' = ((f3 + f-3) + 2 (f2 + f-2) - (f1 + f-1) - 4 f0) / (16 dt**2)

It suppresses slow motion (response ~ w**2 at low frequency) and smooths the top of
the band. Applied to the unwrapped phase and to I and Q of each selected voxel.

Fixed point: int32 (n, C) in any Q -> int32 (n - 6, C) = 16 dt**2 f'' in the same Q,
sample ``i`` centred on input ``i + 3`` (3 frames of delay). The taps are integers
summing to zero, so int32 modular arithmetic is exact: the kernel equals the float
reference bit for bit whenever the true output fits int32, even if the input (the
phase, modulo 256 pi) wrapped in between.
"""

from __future__ import annotations

import numpy as np

from edge.dsp.backend import kernel
from fixedpoint.formats import wrap32

TAPS = np.array([1, 2, -1, -4, -1, 2, 1], np.int64)  # f-3 .. f3
SCALE = 16  # output = SCALE * dt**2 * f''
DELAY_SAMPLES = 3


@kernel("i4[:,::1](i4[:,::1])")
def second_derivative_q(x: np.ndarray) -> np.ndarray:
    """x int32 (n, C) -> int32 (max(n - 6, 0), C)."""
    n, c = x.shape
    m = max(n - 6, 0)
    out = np.empty((m, c), np.int32)
    for i in range(m):
        for j in range(c):
            acc = (np.int64(x[i + 6, j]) + np.int64(x[i, j])
                   + 2 * (np.int64(x[i + 5, j]) + np.int64(x[i + 1, j]))
                   - (np.int64(x[i + 4, j]) + np.int64(x[i + 2, j])) - 4 * np.int64(x[i + 3, j]))
            out[i, j] = wrap32(acc)
    return out


def second_derivative_ref(x: np.ndarray) -> np.ndarray:
    """Float reference: (n, C) -> (n - 6, C) = 16 dt**2 f'' (same units as x)."""
    x = np.asarray(x, float)
    n = x.shape[0]
    if n < 7:
        return np.zeros((0,) + x.shape[1:])
    return sum(float(TAPS[k]) * x[k:n - 6 + k] for k in range(7))
