"""Cascaded biquads: breathing suppression (high-pass at the cardiac band's low edge)
and the band filters of voxel selection and the classical vital signs.

Fixed point: int32 (n, C) in any Q, |x| < 2**28, times Q2.29 sections
(``fixedpoint.tables.sos_q29``) -> int32 (n, C) in the same Q, saturated. Direct form I
with an int64 accumulator and first-order error feedback (the fraction dropped when
rounding a section's output is added back on the next sample), which keeps the
rounding noise from being amplified by poles close to z = 1 (0.8 Hz at 100 Hz).
Every channel starts from a zero state.
"""

from __future__ import annotations

import numpy as np

from edge.dsp.backend import kernel
from fixedpoint.formats import sat32

COEF_FRAC_BITS = 29


@kernel("i4[:,::1](i4[:,::1], i4[:,::1])")
def sos_filter_q29(x: np.ndarray, sos_q29: np.ndarray) -> np.ndarray:
    """x int32 (n, C), sos_q29 int32 (S, 5) [b0, b1, b2, a1, a2] -> int32 (n, C)."""
    n, c = x.shape
    n_sec = sos_q29.shape[0]
    out = np.empty((n, c), np.int32)
    mask = (np.int64(1) << COEF_FRAC_BITS) - 1
    for j in range(c):
        st = np.zeros((n_sec, 5), np.int64)  # x1, x2, y1, y2, error
        for t in range(n):
            v = np.int64(x[t, j])
            for s in range(n_sec):
                acc = (sos_q29[s, 0] * v + sos_q29[s, 1] * st[s, 0] + sos_q29[s, 2] * st[s, 1]
                       - sos_q29[s, 3] * st[s, 2] - sos_q29[s, 4] * st[s, 3] + st[s, 4])
                y = acc >> COEF_FRAC_BITS
                st[s, 4] = acc & mask
                y = sat32(y)
                st[s, 1] = st[s, 0]
                st[s, 0] = v
                st[s, 3] = st[s, 2]
                st[s, 2] = y
                v = y
            out[t, j] = v
    return out


@kernel("f8[:,::1](f8[:,::1], f8[:,::1])")
def sos_filter_ref(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Float reference: x float64 (n, C), sos float64 (S, 6) -> float64 (n, C)."""
    n, c = x.shape
    out = np.empty((n, c))
    for j in range(c):
        st = np.zeros((sos.shape[0], 4))
        for t in range(n):
            v = x[t, j]
            for s in range(sos.shape[0]):
                y = (sos[s, 0] * v + sos[s, 1] * st[s, 0] + sos[s, 2] * st[s, 1]
                     - sos[s, 4] * st[s, 2] - sos[s, 5] * st[s, 3])
                st[s, 1] = st[s, 0]
                st[s, 0] = v
                st[s, 3] = st[s, 2]
                st[s, 2] = y
                v = y
            out[t, j] = v
    return out


@kernel("i8[::1](i4[:,::1], i8, i8)")
def band_energy_q(x: np.ndarray, skip: int, shift: int) -> np.ndarray:
    """Energy per channel of a filtered int32 (n, C), ignoring the first ``skip``
    samples (filter settling): sum((x >> shift)**2) as int64 (C,)."""
    n, c = x.shape
    out = np.zeros(c, np.int64)
    for j in range(c):
        acc = np.int64(0)
        for t in range(skip, n):
            v = np.int64(x[t, j]) >> shift
            acc += v * v
        out[j] = acc
    return out
