"""3-D beamforming: project the virtual-antenna snapshot of a range bin onto voxels.

A voxel is (range bin, angle index) with angle index ``a = i_el * n_az + i_az`` on the
board's grid (``fixedpoint.tables.SteeringTable``). Output is the sum over antennas of
conj(steering) * x, not the mean, so no division is needed.

Fixed point: calibrated int16 I/Q times Q15 weights, int64 accumulator, rounded to
int32 Q.4 (4 fraction bits of the input LSB): |out| <= 12 * 46341 * 16 < 2**24.
``stride`` > 1 beamforms every ``stride``-th frame only (the full-grid pass for voxel
selection runs decimated; the selected voxels run at the full frame rate).
"""

from __future__ import annotations

import numpy as np

from edge.dsp.backend import kernel
from fixedpoint.formats import round_shift, sat32

BEAM_FRAC_BITS = 4


@kernel("i4[:,:,::1](i2[:,:,:,::1], i2[:,:,::1], i8[::1], i8[::1], i8)")
def beamform_q15(cal: np.ndarray, weights_q15: np.ndarray, range_idx: np.ndarray,
                 angle_idx: np.ndarray, stride: int) -> np.ndarray:
    """cal int16 (n, R, V, 2); weights int16 (A, V, 2); range_idx/angle_idx int64 (K,)
    -> int32 (ceil(n / stride), K, 2), Q.4."""
    n, _, nv, _ = cal.shape
    k_vox = range_idx.shape[0]
    n_out = (n + stride - 1) // stride
    out = np.empty((n_out, k_vox, 2), np.int32)
    shift = 15 - BEAM_FRAC_BITS
    for j in range(n_out):
        t = j * stride
        for k in range(k_vox):
            r = range_idx[k]
            a = angle_idx[k]
            acc_r = np.int64(0)
            acc_i = np.int64(0)
            for v in range(nv):
                xr = np.int64(cal[t, r, v, 0])
                xi = np.int64(cal[t, r, v, 1])
                wr = np.int64(weights_q15[a, v, 0])
                wi = np.int64(weights_q15[a, v, 1])
                acc_r += xr * wr - xi * wi
                acc_i += xr * wi + xi * wr
            out[j, k, 0] = sat32(round_shift(acc_r, shift))
            out[j, k, 1] = sat32(round_shift(acc_i, shift))
    return out


def beamform_ref(cal: np.ndarray, weights: np.ndarray, range_idx: np.ndarray,
                 angle_idx: np.ndarray, stride: int = 1) -> np.ndarray:
    """Float reference: complex (n, R, V), weights complex (A, V) -> complex128 (n', K),
    in input units (not scaled by 2**4)."""
    x = np.asarray(cal, complex)[::stride]
    w = np.asarray(weights, complex)
    return np.einsum("tkv,kv->tk", x[:, range_idx, :], w[angle_idx, :])


def full_grid(n_range: int, n_angles: int) -> tuple[np.ndarray, np.ndarray]:
    """(range_idx, angle_idx) int64 (n_range * n_angles,) of every voxel, range-major."""
    r, a = np.meshgrid(np.arange(n_range), np.arange(n_angles), indexing="ij")
    return r.ravel().astype(np.int64), a.ravel().astype(np.int64)
