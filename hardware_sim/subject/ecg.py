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
    "RATE_EXPONENTS", "rate_scaled", "vcg_from_phase", "rotation_matrix", "BeatMeasures",
    "beat_vcg_60", "measure_beat", "measure_beat_vcg", "qtc_ms", "BEAT_T_MS",
    "frontal_axis_deg", "transition_position",
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
# Q / R / S (ventricular depolarisation), T (repolarisation), and extra terms a
# condition adds: RP (RBBB terminal R'), ST (ST shift), J (J wave / terminal QRS notch
# of early repolarisation). RP and J belong to the QRS, ST to repolarisation.
WAVE_CLASSES = ("P", "Q", "R", "S", "T", "RP", "ST", "J")


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
# a time interval then scales as RR^(1 - e). ECGSYN's e = 1/4 for P and T angles makes
# QT ~ RR^0.75, so Bazett's QTc falls by ~15 % from 60 to 100 bpm and leaves the normal
# band; we use e = 1/2 for T (QT ~ RR^0.5, QTc rate-independent) and e = 1 for the P
# angle (PR fixed in time: a subject drawn with a normal PR keeps it at any rate; with
# the former 0.85 and a QRS onset fixed in time a PR of 125 ms fell to 113 ms at 95 bpm;
# the P width too, as P duration changes little with rate). ECGSYN's e = 1/2 for the QRS
# would shrink a 140 ms bundle-branch-block QRS to 105 ms at 110 bpm; the QRS duration
# changes little with rate at rest (our modelling choice, docs/simulator.md), so the QRS
# classes use e = 1 (duration fixed in time). Values: (angle exponent, width exponent).
RATE_EXPONENTS = {
    "P": (1.0, 1.0), "Q": (1.0, 1.0), "R": (1.0, 1.0), "S": (1.0, 1.0),
    "T": (0.5, 0.5), "RP": (1.0, 1.0), "ST": (0.5, 0.5), "J": (1.0, 1.0),
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


# --- measuring one beat (population statistics, calibration of the drawn subjects) ---
_LIMB = slice(0, 6)
_PRECORDIAL = slice(6, 12)


@dataclass(frozen=True)
class BeatMeasures:
    """What an ECG reader measures on one beat at 60 bpm (RR = 1 s, so QT = QTc Bazett).

    Times in ms (R peak = phase 0 = 0 ms), amplitudes in mV against the PR baseline,
    per-lead tuples in ``LEADS`` order. ``transition_pos``: precordial R/S transition
    as a lead position (1.0 = V1 ... 6.0 = V6, interpolated where R - |S| crosses 0;
    0.5: R >= |S| already in V1, 6.5: never); ``transition_lead``: the first lead
    number with R >= |S| (7 = none). Q: an initial negative deflection (duration,
    depth); ``qs``: no R wave (< 0.05 mV) at all.
    """

    pr_ms: float
    qrs_ms: float
    qt_ms: float
    qrs_onset_ms: float
    qrs_axis_deg: float
    t_axis_deg: float
    r_mv: tuple[float, ...]
    s_mv: tuple[float, ...]
    q_mv: tuple[float, ...]
    q_ms: tuple[float, ...]
    qs: tuple[bool, ...]
    qrs_p2p_mv: tuple[float, ...]
    j_mv: tuple[float, ...]
    t_mv: tuple[float, ...]
    transition_pos: float
    transition_lead: int
    sokolow_lyon_mv: float

    def lead(self, field: str, name: str) -> float:
        return getattr(self, field)[_LEAD_INDEX[name]]


def beat_vcg_60(m: VcgMorphology, t_ms: np.ndarray) -> np.ndarray:
    """One beat of ``m`` alone (no neighbours) at 60 bpm: VCG (n, 3) mV at t_ms (n,)."""
    th = 2.0 * np.pi * np.asarray(t_ms, dtype=np.float64) / 1000.0
    return np.stack([vcg_from_phase(th, np.asarray(g.theta_rad), np.asarray(g.alpha_mv),
                                    np.asarray(g.b_rad)) for g in m.axes()], axis=1)


def qtc_ms(qt_ms: float, rr_s: float, formula: str = "bazett") -> float:
    """QT corrected for rate: Bazett QT / RR^(1/2), Fridericia QT / RR^(1/3) (RR in s)."""
    if formula == "bazett":
        return qt_ms / math.sqrt(rr_s)
    if formula == "fridericia":
        return qt_ms / rr_s ** (1.0 / 3.0)
    raise ValueError(f"qtc_ms: formula: expected 'bazett' or 'fridericia', got {formula!r}")


BEAT_T_MS = np.arange(-450.0, 750.0)  # 1 ms grid around one beat at 60 bpm
_T_MS = BEAT_T_MS


def _quiet_from(sv: np.ndarray, start: int, step: int, thr: float, run: int = 10) -> int:
    """First index walking from ``start`` by ``step`` where sv stays below thr for
    ``run`` samples (a notch shorter than ``run`` ms does not end the wave)."""
    i, below = start, 0
    while 0 <= i + step < sv.size:
        i += step
        below = below + 1 if sv[i] < thr else 0
        if below >= run:
            return i - step * (run - 1)
    return i


def frontal_axis_deg(area: np.ndarray) -> float:
    """Frontal axis (deg, 0 = lead I, +90 = aVF) from 12-lead net areas (12,):
    atan2(2 aVF / sqrt(3), I) on Einthoven's hexaxial frame."""
    return math.degrees(math.atan2(2.0 * area[_LEAD_INDEX["aVF"]] / math.sqrt(3.0),
                                   area[_LEAD_INDEX["I"]]))


def transition_position(r_mv: np.ndarray, s_mv: np.ndarray) -> tuple[float, int]:
    """Precordial transition from R and |S| of V1..V6 (6,): (position, first lead with
    R >= |S|), see ``BeatMeasures``."""
    d = np.asarray(r_mv) - np.asarray(s_mv)
    if d[0] >= 0:
        return 0.5, 1
    if (d >= 0).any():
        i = int(np.argmax(d >= 0))
        return float(i + d[i - 1] / (d[i - 1] - d[i])), i + 1  # 1-based: lead i + 1
    return 6.5, 7


def measure_beat(m: VcgMorphology, rotation: np.ndarray | None = None) -> BeatMeasures:
    """Measure one beat of ``m`` (rotated by ``rotation`` (3, 3) if given) at 60 bpm.

    QRS onset/offset from the spatial velocity (10 % of its peak), P onset and T end from
    the VCG magnitude as an ECG reader's global measurement does; per-lead amplitudes
    within the QRS; the frontal axis from the net QRS areas of I and aVF on the
    hexaxial (Einthoven) frame: atan2(2 aVF / sqrt(3), I).
    """
    v = beat_vcg_60(m, _T_MS)
    if rotation is not None:
        v = v @ np.asarray(rotation).T
    return measure_beat_vcg(v)


def measure_beat_vcg(v: np.ndarray) -> BeatMeasures:
    """``measure_beat`` on a VCG (n, 3) mV already sampled on ``BEAT_T_MS`` (1 ms grid)."""
    e = vcg_to_leads(v)
    r = int(np.searchsorted(_T_MS, 0.0))
    sv = np.linalg.norm(np.diff(v, axis=0, prepend=v[:1]), axis=1)  # mV per ms
    near = slice(r - 120, r + 120)
    peak = near.start + int(np.argmax(sv[near]))
    thr = 0.1 * sv[peak]
    on = _quiet_from(sv, peak, -1, thr)
    off = _quiet_from(sv, peak, +1, thr)
    # P: steepest point before the QRS, onset where its velocity falls to 10 %
    pw = slice(max(on - 330, 1), max(on - 15, 2))
    ppk = pw.start + int(np.argmax(sv[pw]))
    pon = _quiet_from(sv, ppk, -1, 0.1 * sv[ppk], run=8) if sv[ppk] > 1e-5 else on
    mag = np.linalg.norm(v, axis=1)
    tw = slice(off + 30, min(off + 600, v.shape[0] - 1))
    tpk = tw.start + int(np.argmax(mag[tw]))
    tend = tpk + int(np.argmax(mag[tpk:] < 0.1 * mag[tpk]))
    qrs = e[on:off + 1]
    r_mv = np.maximum(qrs.max(axis=0), 0.0)
    s_mv = np.maximum(-qrs.min(axis=0), 0.0)
    q_mv, q_ms, qs = np.zeros(12), np.zeros(12), np.zeros(12, dtype=bool)
    for j in range(12):
        x = qrs[:, j]
        if x.max() < 0.05:
            qs[j] = True
            q_mv[j], q_ms[j] = -x.min(), float(x.size - 1)
            continue
        first_pos = int(np.argmax(x > 0.0))  # first sample above baseline
        lo = x[:first_pos + 1].min() if first_pos > 0 else 0.0
        if lo < -0.01:
            q_mv[j], q_ms[j] = -lo, float(first_pos)
    axis = frontal_axis_deg(qrs.sum(axis=0))
    t_seg = e[off + 30:tend + 1] if tend > off + 30 else e[off:off + 2]
    t_axis = frontal_axis_deg(t_seg.sum(axis=0))
    t_mv = t_seg[np.argmax(np.abs(t_seg), axis=0), np.arange(12)]
    pos, lead = transition_position(r_mv[_PRECORDIAL], s_mv[_PRECORDIAL])
    sl = s_mv[_LEAD_INDEX["V1"]] + max(r_mv[_LEAD_INDEX["V5"]], r_mv[_LEAD_INDEX["V6"]])
    tup = lambda a: tuple(float(x) for x in a)  # noqa: E731
    return BeatMeasures(
        pr_ms=float(on - pon), qrs_ms=float(off - on), qt_ms=float(tend - on),
        qrs_onset_ms=float(_T_MS[on]), qrs_axis_deg=axis, t_axis_deg=t_axis,
        r_mv=tup(r_mv), s_mv=tup(s_mv), q_mv=tup(q_mv), q_ms=tup(q_ms),
        qs=tuple(bool(x) for x in qs), qrs_p2p_mv=tup(r_mv + s_mv), j_mv=tup(e[off]),
        t_mv=tup(t_mv), transition_pos=float(pos), transition_lead=int(lead),
        sokolow_lyon_mv=float(sl))
