"""Coefficient tables for the edge DSP, generated from the board profile.

Each table has a float64 form (what the float reference uses) and a fixed-point
form (what the kernel uses); the fixed-point format is in the name.

- Steering (beamforming) weights: conj(a(az, el)) per virtual antenna, Q15 int16.
  Convention (docs/architecture.md): the antenna at (p_az, p_el) in lambda/2 sees
  exp(+j pi (p_az sin(az) cos(el) + p_el sin(el))) relative to antenna (0, 0).
- Calibration gains: complex per virtual antenna, Q1.14 int16 (so +-1 are exact).
- Butterworth second-order sections (bilinear transform with pre-warping, the RBJ
  biquad forms), float64 (n_sections, 6) = [b0, b1, b2, 1, a1, a2], and Q2.29 int32
  (n_sections, 5) = [b0, b1, b2, a1, a2].
- CORDIC: arctan(2**-i) as binary angles (int32, 2**31 = pi) and the gain 1/K in Q1.30.

Pure numpy: the board can regenerate its tables without scipy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cardioradar.errors import ConfigError
from fixedpoint.formats import Q14, Q15, Q29, Q30


@dataclass(frozen=True)
class SteeringTable:
    """Beamforming weights on an azimuth x elevation grid.

    az_deg: (n_az,) float64; el_deg: (n_el,) float64.
    weights: (n_angles, n_virtual) complex128, conj(steering vector); angle index
        ``a = i_el * n_az + i_az``.
    weights_q15: (n_angles, n_virtual, 2) int16 Q15, [..., 0] real, [..., 1] imag
        (+1 saturates to 32767/32768).
    """

    az_deg: np.ndarray
    el_deg: np.ndarray
    weights: np.ndarray
    weights_q15: np.ndarray

    @property
    def n_angles(self) -> int:
        return self.weights.shape[0]

    def angle_deg(self, a: int) -> tuple[float, float]:
        """(azimuth, elevation) in degrees of angle index ``a``."""
        n_az = len(self.az_deg)
        return float(self.az_deg[a % n_az]), float(self.el_deg[a // n_az])


def steering_vectors(virtual_pos: np.ndarray, az_deg: np.ndarray, el_deg: np.ndarray) -> np.ndarray:
    """(n_el * n_az, n_virtual) complex128 steering vectors a(az, el), angle index el-major."""
    pos = np.asarray(virtual_pos, float)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ConfigError(f"virtual positions: expected shape (n_virtual, 2), got {pos.shape}")
    az = np.deg2rad(np.asarray(az_deg, float))
    el = np.deg2rad(np.asarray(el_deg, float))
    el_g, az_g = np.meshgrid(el, az, indexing="ij")
    u = (np.sin(az_g) * np.cos(el_g)).ravel()  # (A,)
    w = np.sin(el_g).ravel()
    return np.exp(1j * np.pi * (u[:, None] * pos[None, :, 0] + w[:, None] * pos[None, :, 1]))


def steering_table(virtual_pos: np.ndarray, az_deg: np.ndarray, el_deg: np.ndarray) -> SteeringTable:
    weights = np.conj(steering_vectors(virtual_pos, az_deg, el_deg))
    q = np.stack([Q15.to_fixed(weights.real, saturate=True), Q15.to_fixed(weights.imag, saturate=True)], -1)
    return SteeringTable(np.asarray(az_deg, float), np.asarray(el_deg, float), weights, q)


def calibration_q14(gain: np.ndarray) -> np.ndarray:
    """(n_virtual,) complex gains -> (n_virtual, 2) int16 Q1.14; raises if |re| or |im| >= 2."""
    g = np.asarray(gain, complex)
    return np.stack([Q14.to_fixed(g.real, name="calibration.gain_re"),
                     Q14.to_fixed(g.imag, name="calibration.gain_im")], -1)


def _biquad(kind: str, f0_hz: float, fs_hz: float, q: float) -> np.ndarray:
    if not 0.0 < f0_hz < fs_hz / 2:
        raise ConfigError(f"filter cutoff: expected 0 < f < {fs_hz / 2:g} Hz, got {f0_hz:g}")
    w0 = 2.0 * np.pi * f0_hz / fs_hz
    cw, alpha = np.cos(w0), np.sin(w0) / (2.0 * q)
    if kind == "lowpass":
        b = np.array([(1 - cw) / 2, 1 - cw, (1 - cw) / 2])
    elif kind == "highpass":
        b = np.array([(1 + cw) / 2, -(1 + cw), (1 + cw) / 2])
    else:
        raise ConfigError(f"filter kind: expected lowpass or highpass, got {kind!r}")
    a = np.array([1 + alpha, -2 * cw, 1 - alpha])
    return np.concatenate([b / a[0], a / a[0]])


def butter_sos(order: int, cutoff_hz: float, fs_hz: float, kind: str) -> np.ndarray:
    """Butterworth low/high-pass of even ``order`` as (order/2, 6) float64 sections."""
    return _butter_sos(order, cutoff_hz, fs_hz, kind).copy()


def bandpass_sos(order: int, lo_hz: float, hi_hz: float, fs_hz: float) -> np.ndarray:
    """High-pass at ``lo_hz`` then low-pass at ``hi_hz``, each Butterworth of ``order``."""
    if not lo_hz < hi_hz:
        raise ConfigError(f"band: expected low < high, got [{lo_hz:g}, {hi_hz:g}] Hz")
    return np.concatenate([_butter_sos(order, lo_hz, fs_hz, "highpass"), _butter_sos(order, hi_hz, fs_hz, "lowpass")])


@lru_cache(maxsize=64)  # the runtime's classical HR designs the same few filters every hop
def _butter_sos(order: int, cutoff_hz: float, fs_hz: float, kind: str) -> np.ndarray:
    if order < 2 or order % 2:
        raise ConfigError(f"filter order: expected an even number >= 2, got {order}")
    n = order // 2
    qs = [1.0 / (2.0 * np.cos(np.pi * (2 * k + 1) / (2 * order))) for k in range(n)]
    sos = np.stack([_biquad(kind, cutoff_hz, fs_hz, q) for q in qs])
    sos.setflags(write=False)  # shared by every caller: handed out as copies
    return sos


def sos_q29(sos: np.ndarray) -> np.ndarray:
    """(n, 6) float sections -> (n, 5) int32 Q2.29 [b0, b1, b2, a1, a2]."""
    sos = np.asarray(sos, float)
    if sos.ndim != 2 or sos.shape[1] != 6 or not np.allclose(sos[:, 3], 1.0):
        raise ConfigError(f"sos: expected (n, 6) sections normalised to a0 = 1, got shape {sos.shape}")
    return Q29.to_fixed(sos[:, [0, 1, 2, 4, 5]], name="biquad coefficients")


def sos_from_q29(sos_q: np.ndarray) -> np.ndarray:
    """Inverse of ``sos_q29``: the float sections the fixed-point filter really has."""
    c = Q29.to_float(sos_q)
    return np.column_stack([c[:, 0], c[:, 1], c[:, 2], np.ones(len(c)), c[:, 3], c[:, 4]])


CORDIC_ITERATIONS = 28


def cordic_atan_bam(n_iter: int = CORDIC_ITERATIONS) -> np.ndarray:
    """(n_iter,) int32: arctan(2**-i) as binary angle, 2**31 = pi."""
    ang = np.arctan(2.0 ** -np.arange(n_iter)) / np.pi
    return np.floor(ang * 2.0**31 + 0.5).astype(np.int32)


def cordic_inv_gain_q30(n_iter: int = CORDIC_ITERATIONS) -> int:
    """1/K = prod cos(arctan(2**-i)) in Q1.30 (scales CORDIC magnitudes back)."""
    k = np.prod(1.0 / np.sqrt(1.0 + 2.0 ** (-2 * np.arange(n_iter))))
    return int(Q30.to_fixed(k))
