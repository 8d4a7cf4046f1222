"""Heart vector (VCG) model and its projection to the 12-lead ECG.

One dipole, three axes (X left, Y down/feet, Z back; mV), projected with the
Dower matrix, so the 12 leads are linear combinations of one vector and the
Einthoven / Goldberger identities hold exactly (III, aVR, aVL, aVF are computed
from I and II, never projected on their own).

Each axis is a sum of Gaussians over the cardiac phase (Sameni et al. 2007):
``X(theta) = sum_i alpha_i exp(-(theta - theta_i)^2 / (2 b_i^2))`` with theta = 0
at the R peak. Sources: shared/specs/physiology.md section 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from hardware_sim.subject.types import LEADS

__all__ = [
    "LEADS", "DOWER", "INVERSE_DOWER", "DOWER_LEADS", "vcg_to_leads", "leads_to_vcg",
    "limb_leads_from_i_ii", "GaussianSet", "VcgMorphology", "NORMAL_VCG", "WAVE_CLASSES",
    "RATE_EXPONENTS", "rate_scaled", "vcg_from_phase",
]

DOWER_LEADS = ("V1", "V2", "V3", "V4", "V5", "V6", "I", "II")

# Dower transform, VCG (X, Y, Z) -> leads; rows V1..V6, I, II.
DOWER = np.array([
    [-0.515, 0.157, -0.917],
    [0.044, 0.164, -1.387],
    [0.882, 0.098, -1.277],
    [1.213, 0.127, -0.601],
    [1.125, 0.127, -0.086],
    [0.831, 0.076, 0.230],
    [0.632, -0.235, 0.059],
    [0.235, 1.066, -0.132],
])
DOWER.setflags(write=False)

# Inverse Dower, leads (V1..V6, I, II) -> VCG (X, Y, Z).
INVERSE_DOWER = np.array([
    [-0.172, -0.074, 0.122, 0.231, 0.239, 0.194, 0.156, -0.010],
    [0.057, -0.019, -0.106, -0.022, 0.041, 0.048, -0.227, 0.887],
    [-0.229, -0.310, -0.246, -0.063, 0.055, 0.108, 0.022, 0.102],
])
INVERSE_DOWER.setflags(write=False)

_LEAD_INDEX = {name: i for i, name in enumerate(LEADS)}


def limb_leads_from_i_ii(lead_i: np.ndarray, lead_ii: np.ndarray) -> np.ndarray:
    """Six limb leads (n, 6) in order I, II, III, aVR, aVL, aVF from I and II (n,), mV."""
    return np.stack([
        lead_i,
        lead_ii,
        lead_ii - lead_i,             # Einthoven
        -(lead_i + lead_ii) / 2.0,    # Goldberger
        lead_i - lead_ii / 2.0,
        lead_ii - lead_i / 2.0,
    ], axis=-1)


def vcg_to_leads(vcg_mv: np.ndarray) -> np.ndarray:
    """Heart vector (n, 3) mV -> 12-lead ECG (n, 12) mV in order ``LEADS``."""
    vcg = np.asarray(vcg_mv, dtype=np.float64)
    if vcg.ndim != 2 or vcg.shape[1] != 3:
        raise ValueError(f"vcg_mv: expected shape (n, 3), got {vcg.shape}")
    eight = vcg @ DOWER.T  # (n, 8): V1..V6, I, II
    out = np.empty((vcg.shape[0], 12))
    out[:, :6] = limb_leads_from_i_ii(eight[:, 6], eight[:, 7])
    out[:, 6:] = eight[:, :6]
    return out


def leads_to_vcg(ecg_mv: np.ndarray) -> np.ndarray:
    """12-lead ECG (n, 12) mV in order ``LEADS`` -> heart vector (n, 3) mV (inverse Dower)."""
    ecg = np.asarray(ecg_mv, dtype=np.float64)
    if ecg.ndim != 2 or ecg.shape[1] != 12:
        raise ValueError(f"ecg_mv: expected shape (n, 12), got {ecg.shape}")
    eight = ecg[:, [_LEAD_INDEX[name] for name in DOWER_LEADS]]
    return eight @ INVERSE_DOWER.T


# Wave class of each Gaussian: P (atrial, incl. the broad atrial-repolarisation term),
# Q / R / S (ventricular depolarisation), T (repolarisation), X (extra terms a
# condition adds: RBBB terminal R', ST shift), which follow the QRS/T scaling below.
WAVE_CLASSES = ("P", "Q", "R", "S", "T", "RP", "ST")


@dataclass(frozen=True)
class GaussianSet:
    """Gaussians of one VCG axis at 60 bpm. theta_rad, b_rad in rad of cardiac phase
    (2 pi = one beat, 0 = R peak), alpha_mv in mV, wave in ``WAVE_CLASSES``."""

    theta_rad: tuple[float, ...]
    alpha_mv: tuple[float, ...]
    b_rad: tuple[float, ...]
    wave: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.theta_rad)
        if not (len(self.alpha_mv) == len(self.b_rad) == len(self.wave) == n):
            raise ValueError("GaussianSet: theta_rad, alpha_mv, b_rad, wave differ in length")
        bad = [w for w in self.wave if w not in WAVE_CLASSES]
        if bad:
            raise ValueError(f"GaussianSet.wave: expected one of {WAVE_CLASSES}, got {bad}")

    def scaled(self, waves: tuple[str, ...], alpha_factor: float) -> GaussianSet:
        """Copy with the amplitudes of the given wave classes multiplied."""
        alpha = tuple(a * alpha_factor if w in waves else a
                      for a, w in zip(self.alpha_mv, self.wave))
        return replace(self, alpha_mv=alpha)

    def plus(self, theta_rad: float, alpha_mv: float, b_rad: float, wave: str) -> GaussianSet:
        """Copy with one more Gaussian."""
        return GaussianSet(self.theta_rad + (theta_rad,), self.alpha_mv + (alpha_mv,),
                           self.b_rad + (b_rad,), self.wave + (wave,))


@dataclass(frozen=True)
class VcgMorphology:
    """One beat shape: a GaussianSet per VCG axis."""

    x: GaussianSet
    y: GaussianSet
    z: GaussianSet

    def axes(self) -> tuple[GaussianSet, GaussianSet, GaussianSet]:
        return (self.x, self.y, self.z)

    def map(self, fn) -> VcgMorphology:
        return VcgMorphology(*(fn(g) for g in self.axes()))


# Normal set derived from PTB healthy controls (physiology.md section 1).
NORMAL_VCG = VcgMorphology(
    x=GaussianSet(
        theta_rad=(-1.09, -0.83, -0.19, -0.07, 0.0, 0.06, 0.22, 1.2, 1.42, 1.68),
        alpha_mv=(0.03, 0.08, -0.13, 0.85, 1.11, 0.75, 0.06, 0.1, 0.17, 0.39),
        b_rad=(0.0906, 0.1057, 0.0453, 0.0378, 0.0332, 0.0302, 0.0378, 0.604, 0.302, 0.1812),
        wave=("P", "P", "Q", "R", "R", "R", "S", "T", "T", "T"),
    ),
    y=GaussianSet(
        theta_rad=(-1.1, -0.9, -0.76, -0.11, -0.01, 0.065, 0.8, 1.58),
        alpha_mv=(0.035, 0.015, -0.019, 0.32, 0.51, -0.32, 0.04, 0.08),
        b_rad=(0.07, 0.07, 0.04, 0.055, 0.037, 0.0604, 0.45, 0.3),
        wave=("P", "P", "P", "Q", "R", "S", "T", "T"),
    ),
    z=GaussianSet(
        theta_rad=(-1.1, -0.93, -0.7, -0.4, -0.15, 0.095, 1.05, 1.25, 1.55),
        alpha_mv=(-0.03, -0.14, -0.035, 0.045, -0.4, 0.46, -0.12, -0.2, -0.35),
        b_rad=(0.03, 0.12, 0.04, 0.4, 0.045, 0.05, 0.8, 0.4, 0.2),
        wave=("P", "P", "P", "P", "Q", "S", "T", "T", "T"),
    ),
)

# Rate scaling, ECGSYN form: in phase units, angle_i and b_i are multiplied by
# (HR/60)^e for the wave's class; since phase maps to time as t = theta * RR / (2 pi),
# a time interval then scales as RR^(1 - e). Widths and Q/R/S angles use ECGSYN's
# e = 1/2. ECGSYN's e = 1/4 for P and T angles makes QT ~ RR^0.75, so Bazett's QTc
# falls by ~15 % from 60 to 100 bpm and leaves the normal band; we use e = 1/2 for T
# (QT ~ RR^0.5, QTc rate-independent) and e = 0.85 for P (PR ~ RR^0.15, 120-200 ms
# from about 40 to 140 bpm). Values: (angle exponent, width exponent).
RATE_EXPONENTS = {
    "P": (0.85, 0.5), "Q": (0.5, 0.5), "R": (0.5, 0.5), "S": (0.5, 0.5),
    "T": (0.5, 0.5), "RP": (0.5, 0.5), "ST": (0.5, 0.5),
}


def rate_scaled(g: GaussianSet, hr_bpm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(theta_rad, alpha_mv, b_rad) arrays of ``g`` scaled for a heart rate in bpm."""
    h = hr_bpm / 60.0
    e_angle = np.array([RATE_EXPONENTS[w][0] for w in g.wave])
    e_width = np.array([RATE_EXPONENTS[w][1] for w in g.wave])
    theta = np.asarray(g.theta_rad) * h ** e_angle
    b = np.asarray(g.b_rad) * h ** e_width
    return theta, np.asarray(g.alpha_mv, dtype=np.float64), b


def vcg_from_phase(dtheta_rad: np.ndarray, theta_rad: np.ndarray, alpha_mv: np.ndarray,
                   b_rad: np.ndarray) -> np.ndarray:
    """Sum of Gaussians of one axis.

    dtheta_rad: (n,) phase relative to the beat's R peak (not wrapped: the caller
    sums neighbouring beats, so there is no wrap discontinuity).
    theta_rad, alpha_mv, b_rad: (n, g) or (g,) Gaussian parameters. Returns (n,) mV.
    """
    d = dtheta_rad[:, None] - theta_rad
    return np.sum(alpha_mv * np.exp(-0.5 * (d / b_rad) ** 2), axis=1)


def rotation_matrix(ax_rad: float, ay_rad: float, az_rad: float) -> np.ndarray:
    """Rotation (3, 3) = Rz @ Ry @ Rx for angles about the VCG X, Y, Z axes."""
    cx, sx = math.cos(ax_rad), math.sin(ax_rad)
    cy, sy = math.cos(ay_rad), math.sin(ay_rad)
    cz, sz = math.cos(az_rad), math.sin(az_rad)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx
