"""Per-virtual-antenna calibration: multiply each channel by its complex gain.

Fixed point: frames int16 (n, range_bins, n_virtual, 2) times gains Q1.14 int16
(n_virtual, 2) -> int16 (same shape), rounded half-up, saturated.
"""

from __future__ import annotations

import numpy as np

from edge.dsp.backend import kernel
from fixedpoint.formats import round_shift, sat16


@kernel("i2[:,:,:,::1](i2[:,:,:,::1], i2[:,::1])")
def calibrate_q14(frames: np.ndarray, gain_q14: np.ndarray) -> np.ndarray:
    """frames int16 (n, R, V, 2), gain_q14 int16 (V, 2) -> int16 (n, R, V, 2)."""
    n, nr, nv, _ = frames.shape
    out = np.empty_like(frames)
    for t in range(n):
        for r in range(nr):
            for v in range(nv):
                xr = np.int64(frames[t, r, v, 0])
                xi = np.int64(frames[t, r, v, 1])
                gr = np.int64(gain_q14[v, 0])
                gi = np.int64(gain_q14[v, 1])
                out[t, r, v, 0] = sat16(round_shift(xr * gr - xi * gi, 14))
                out[t, r, v, 1] = sat16(round_shift(xr * gi + xi * gr, 14))
    return out


def calibrate_ref(frames: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Float reference: complex (n, R, V) x complex gain (V,) -> complex128 (n, R, V)."""
    return np.asarray(frames, complex) * np.asarray(gain, complex)[None, None, :]
