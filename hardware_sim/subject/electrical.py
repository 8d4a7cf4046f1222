"""A synthetic heart: per-subject electrical parameters and the 12-lead ECG they produce.

``ElectricalParams.draw`` picks a subject (jittered Gaussian VCG, heart-axis rotation,
HRV targets, a condition's morphology and rhythm settings). ``SyntheticHeart`` turns
them into beats (``rhythm.BeatSchedule``) and an ECG at any times.

Phase: theta = 2 pi k at the k-th R peak, linear in time between consecutive R
peaks. Each beat j keeps its own Gaussians (normal / PVC / PAC / AF shape) and is
evaluated at theta - 2 pi j for the beats around t, so there is no wrap
discontinuity and early or late beats keep their shape. A beat's waves are
rate-scaled (``ecg.RATE_EXPONENTS``) with the interval before it (QT follows the
preceding RR); Gaussians after the R peak, where the phase runs at 2 pi / RR_next,
are rescaled by RR_prev / RR_next so their time course does not depend on when the
next beat comes (a PVC's T wave is not stretched by its compensatory pause).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, fields, replace

import numpy as np

from cardioradar.errors import ConfigError
from hardware_sim.subject.ecg import (
    NORMAL_VCG, RATE_EXPONENTS, WAVE_CLASSES, GaussianSet, VcgMorphology, beat_vcg_60,
    frontal_axis_deg, measure_beat, rotation_matrix, transition_position, vcg_to_leads,
)
from hardware_sim.subject.rhythm import BeatSchedule, RhythmParams, SinusoidRespiration
from hardware_sim.subject.types import Beat

__all__ = ["CONDITIONS", "ElectricalParams", "SyntheticHeart"]

CONDITIONS: tuple[str, ...] = (
    "sinus", "brady", "tachy", "af", "pvc", "pac", "rbbb", "st_depression", "t_inversion",
    "lbbb", "infarct_inferior", "infarct_anterior", "lvh", "early_repol", "low_voltage")

# AF: controlled (AFFIRM <= 80, RACE < 100 bpm at rest) up to a rapid ventricular response
# (untreated or breakthrough AF; docs/simulator.md "AF rates").
_HR_RANGE_BPM = {"brady": (42.0, 56.0), "tachy": (105.0, 135.0), "af": (60.0, 150.0)}
_QRS_WAVES = ("Q", "R", "S", "RP", "J")
_MAX_G = 14  # padded Gaussian count per axis
# QRS wave classes by code + 1 (code -1 pads the Gaussian tables): np.isin without the sort
_IS_QRS_CODE = np.array([False] + [w in _QRS_WAVES for w in WAVE_CLASSES])
# Beat-to-beat jitter group by wave-class code: 0 none (P, ST), 1 QRS, 2 T.
_JITTER_GROUP = np.array([1 if w in _QRS_WAVES else 2 if w == "T" else 0 for w in WAVE_CLASSES])
_JITTER_BLOCK = 256  # beats per seeded block of beat-to-beat jitter
_KEEP_GAUSSIANS = 64  # per-beat Gaussian sets kept between calls (~2 KB each)
_BeatGaussians = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

# --- population statistics (sources and own choices: docs/simulator.md "Population") ---
# Intervals at 60 bpm (QT there = QTc Bazett). PR, QRS: Women's Health Initiative (PR 158
# (118-212), QRS 85 (70-104), QTc 413 (388-449) ms); men's QRS ~6 ms wider and QTc ~10 ms
# shorter (AHA/ACCF/HRS 2009 parts III, IV). SDs and the clip to the normal band are ours.
_PR_MS = (158.0, 20.0, 125.0, 195.0)  # mean, SD, clip lo, hi
_QRS_MS = {"M": (91.0, 9.0), "F": (85.0, 9.0)}
_QRS_CLIP_MS = (72.0, 106.0)
_QTC_MS = {"M": (404.0, 15.0, 385.0, 445.0), "F": (414.0, 15.0, 390.0, 455.0)}
_BBB_QRS_MS = {"rbbb": (125.0, 155.0), "lbbb": (130.0, 165.0)}  # uniform ranges (own)
# Frontal QRS axis: normal -30..+90 deg (AHA/ACCF/HRS 2007 part I); median about +55 deg
# at 30-49 years, shifting left with age (own slope); left axis deviation (< -30 deg)
# 4.1 % of men 45-69 (Honolulu Heart Program: 2.6 % -30..-44, 1.5 % -45..-90); axis
# deviation of any kind 7.9 % of Belgian men (BIRNH): we take LAD 5 %, RAD 3 %.
_AXIS_NORMAL = (55.0, 22.0)  # mean at 45 y and habitus 0, SD of the normal component
_AXIS_AGE_DEG_PER_Y = -0.4
_AXIS_HABITUS_DEG = -12.0  # per SD of habitus (broad, horizontal heart -> leftward)
_P_LAD, _P_RAD = 0.05, 0.03
# Precordial transition (first lead with R >= |S|): counterclockwise (<= V3) /
# normal (V4) / clockwise (>= V5): ARIC 52.9 / 40.5 / 6.6 %, NIPPON DATA80 41.4 / 51.7 /
# 6.9 %; we take their mean.
_TRANSITION_SHARES = (0.47, 0.46, 0.07)
_TRANSITION_RANGES = ((1.6, 3.0), (3.0, 4.0), (4.0, 5.6))


@dataclass(frozen=True)
class ElectricalParams:
    """One subject's heart. Angles in rad, amplitudes in mV, rates in bpm / Hz.

    ``vcg`` is the subject's conducted beat at 60 bpm (jitter, amplitude gains, intervals
    and the condition's morphology already applied, before ``axis_rotation_rad``);
    ``pvc_vcg`` and ``pac_vcg`` the ectopic beats. ``resp_rotation_rad`` are the rotations
    about X / Y / Z reached at end-inhale (level 1), ``resp_translation_frac`` the
    relative drop of the dipole gain at end-inhale (the heart moves away from the
    electrodes).

    Anatomy and what a reader measures on the subject's beat at 60 bpm (fields after
    ``af_f_rms_mv``; defaults are what older subject.json files get):
    ``habitus``: body-habitus / heart-orientation index (SD units, -2.5..2.5): negative =
    slender with a vertical heart (axis rightward), positive = broad with a horizontal
    heart (leftward). ``axis_rotation_rad`` = (about X, about Y (long axis: + =
    counterclockwise seen from below, earlier transition), about Z (frontal plane: + =
    towards +90 deg)) applied to the template heart. ``qrs_axis_deg``, ``t_axis_deg``:
    frontal axes. ``pr_ms``, ``qrs_ms``, ``qtc_ms``: intervals (QT at any RR =
    qtc_ms * sqrt(RR_s)). ``transition_lead``: 1..6 = V1..V6 (7 none).
    ``sokolow_lyon_mv``: S(V1) + max R(V5, V6). ``bbb``: '', 'rbbb' or 'lbbb' (``rbbb``
    kept for older readers). ``infarct_wall``: '', 'inferior', 'anterior' (pathological Q
    waves). ``lvh``, ``low_voltage``: the voltage conditions. ``early_repol_mv``: J-point
    elevation of early repolarisation (0: none). ``t_wave_gain_xyz``: T amplitude per VCG
    axis (T-wave variants). ``beat_jitter_frac``: beat-to-beat SD of the QRS and T
    amplitudes.
    """

    condition: str
    hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    vcg: VcgMorphology
    pvc_vcg: VcgMorphology
    pac_vcg: VcgMorphology
    pr_scale: float = 1.0
    qrs_scale: float = 1.0
    qt_scale: float = 1.0
    axis_rotation_rad: tuple[float, float, float] = (0.0, 0.0, 0.0)
    resp_rotation_rad: tuple[float, float, float] = (0.1, 0.08, 0.07)
    resp_translation_frac: float = 0.05
    mayer_hz: float = 0.1
    lf_hf: float = 1.5
    rsa_lag_rad: float = 0.3
    ectopic_p_stay_normal: float = 1.0
    ectopic_coupling: float = 0.65
    rbbb: bool = False
    st_depression_mv: float = 0.0  # ST shift in X at mid-ST (negative = depression)
    t_wave_factor: float = 1.0  # < 0: inverted T
    af_rr_cv: float = 0.2
    af_f_hz: float = 6.0
    af_f_rms_mv: tuple[float, float, float] = (0.0, 0.0, 0.0)
    habitus: float = 0.0
    qrs_axis_deg: float = 55.0
    t_axis_deg: float = 45.0
    pr_ms: float = 160.0
    qrs_ms: float = 90.0
    qtc_ms: float = 410.0
    transition_lead: int = 4
    sokolow_lyon_mv: float = 2.4
    bbb: str = ""
    infarct_wall: str = ""
    lvh: bool = False
    low_voltage: bool = False
    early_repol_mv: float = 0.0
    t_wave_gain_xyz: tuple[float, float, float] = (1.0, 1.0, 1.0)
    beat_jitter_frac: float = 0.0

    @property
    def heart_tilt_deg(self) -> float:
        """Anatomical frontal tilt of the heart's long axis from habitus (+ = more
        vertical, slender; - = horizontal, broad): -_AXIS_HABITUS_DEG per SD (ours)."""
        return _AXIS_HABITUS_DEG * self.habitus

    @property
    def frontal_rotation_deg(self) -> float:
        """Heart rotation in the frontal plane against the template (+ = towards +90 deg)."""
        return math.degrees(self.axis_rotation_rad[2])

    @property
    def long_axis_rotation_deg(self) -> float:
        """Rotation about the long (vertical) axis (+ = counterclockwise from below)."""
        return math.degrees(self.axis_rotation_rad[1])

    def qt_ms(self, rr_s: float) -> float:
        """QT at an RR interval (s): the model keeps Bazett's QTc constant."""
        return self.qtc_ms * math.sqrt(rr_s)

    def rhythm_params(self) -> RhythmParams:
        return RhythmParams(
            condition=self.condition, hr_bpm=self.hr_bpm, sdnn_ms=self.sdnn_ms,
            rmssd_ms=self.rmssd_ms, mayer_hz=self.mayer_hz, lf_hf=self.lf_hf,
            rsa_lag_rad=self.rsa_lag_rad,
            af_rr_cv=self.af_rr_cv, ectopic_p_stay_normal=self.ectopic_p_stay_normal,
            ectopic_coupling=self.ectopic_coupling)

    @classmethod
    def from_dict(cls, d: dict) -> ElectricalParams:
        """Inverse of ``dataclasses.asdict`` (e.g. after a JSON round trip); fields
        missing from older dicts take their defaults."""
        def morph(m):
            return VcgMorphology(*(GaussianSet(**{k: tuple(v) for k, v in m[a].items()})
                                   for a in ("x", "y", "z")))
        kw = {}
        for f in fields(cls):
            if f.name not in d:
                continue
            v = d[f.name]
            if f.name in ("vcg", "pvc_vcg", "pac_vcg"):
                v = morph(v)
            elif isinstance(v, list):
                v = tuple(v)
            kw[f.name] = v
        return cls(**kw)

    @classmethod
    def draw(cls, rng: np.random.Generator, condition: str = "sinus",
             hr_bpm: float | None = None, sex: str = "M", age_y: float = 45.0
             ) -> ElectricalParams:
        """A random subject with ``condition`` (one of ``CONDITIONS``)."""
        if condition not in CONDITIONS:
            raise ConfigError(f"condition: expected one of {CONDITIONS}, got {condition!r}")
        if sex not in ("M", "F"):
            raise ConfigError(f"sex: expected 'M' or 'F', got {sex!r}")
        lo, hi = _HR_RANGE_BPM.get(condition, (55.0, 90.0))
        if hr_bpm is None:
            hr_bpm = float(rng.uniform(lo, hi))
        elif (condition == "brady" and hr_bpm >= 60) or (condition == "tachy" and hr_bpm <= 100):
            want = "< 60" if condition == "brady" else "> 100"
            raise ConfigError(f"hr_bpm for {condition}: expected {want}, got {hr_bpm}")
        # HRV targets (Nunan 2010: SDNN 50 +- 16, RMSSD 42 +- 15 ms). Clipped to about
        # +-1.1 SD because a 5-min window of the narrow-band RR process lands within
        # about -15 %..+20 % of its target, and the realised values should stay in +-2 SD.
        sdnn = float(np.clip(50.0 + 16.0 * rng.standard_normal(), 32.0, 68.0))
        rmssd = float(np.clip(42.0 + 0.6 * (sdnn - 50.0) * 15 / 16 + 10.0 * rng.standard_normal(),
                              20.0, 60.0))
        if condition == "tachy":  # vagal withdrawal: HRV falls at high rate
            sdnn, rmssd = 0.5 * sdnn, 0.4 * rmssd
        # The draws up to lf_hf keep the order (and count) they had before the population
        # model, so the rhythm of a (seed, condition) stays the same.
        z_pr, z_qrs, z_qt = (float(rng.standard_normal()) for _ in range(3))
        base = _jittered(NORMAL_VCG, rng, 1.0, 1.0, 1.0)
        kw: dict = {}
        old = {}
        if condition == "rbbb":
            old["rbbb"] = (float(rng.uniform(0.4, 0.46)), float(rng.uniform(0.085, 0.1)),
                           -float(rng.uniform(0.3, 0.45)), -float(rng.uniform(0.45, 0.6)))
        elif condition == "st_depression":
            old["st"] = -float(rng.uniform(0.18, 0.3))
        elif condition == "t_inversion":
            old["t"] = -float(rng.uniform(0.5, 1.0))
        elif condition == "pvc":
            kw.update(ectopic_p_stay_normal=float(rng.uniform(0.7, 0.8)),
                      ectopic_coupling=float(rng.uniform(0.55, 0.7)))
        elif condition == "pac":
            kw.update(ectopic_p_stay_normal=float(rng.uniform(0.8, 0.9)),
                      ectopic_coupling=float(rng.uniform(0.65, 0.8)))
        elif condition == "af":
            kw.update(af_rr_cv=float(rng.uniform(0.15, 0.35)), af_f_hz=float(rng.uniform(4.5, 7.5)),
                      af_f_rms_mv=tuple(float(v) for v in rng.uniform(0.02, 0.06, 3)))
        z_rot = rng.normal(0.0, 1.0, 3)
        resp_rot = tuple(float(v) for v in rng.uniform(0.3, 1.0, 3) * np.array([0.2, 0.16, 0.14]))
        resp_translation = float(rng.uniform(0.03, 0.07))
        rsa_lag = float(rng.uniform(0.0, 0.6))
        lf_hf = float(rng.uniform(0.5, 3.0))

        # --- the population morphology -------------------------------------------------
        habitus = float(np.clip(rng.standard_normal(), -2.5, 2.5))
        female = sex == "F"
        # Amplitude gains (log-normal; SDs, the sex/age/habitus factors are our choice:
        # women and broad chests have smaller QRS voltages, voltage falls with age).
        qrs_gain = float(np.exp(0.2 * rng.standard_normal()) * (0.88 if female else 1.0)
                         * (1.0 - 0.004 * (age_y - 45.0)) * np.exp(-0.1 * habitus))
        p_gain = float(np.exp(0.2 * rng.standard_normal()))
        # T follows the QRS voltage in part (a big T on a small QRS is rare)
        t_gain = float(np.exp(0.15 * rng.standard_normal()) * (0.9 if female else 1.0)
                       * math.sqrt(qrs_gain))
        z_qrs_gain = float(np.exp(0.15 * rng.standard_normal()))  # anterior-posterior forces
        # per-axis T: Y spread gives flat / inverted T in III and aVF, Z the V1 variants;
        # capped at 1.3 x the template (V2-V3 T about 1 mV at most, a quiet ST segment)
        t_xyz = tuple(float(min(v, 1.3)) for v in (
            t_gain, t_gain * float(np.clip(rng.normal(0.9, 0.45), -0.6, 1.6)),
            t_gain * float(np.clip(rng.normal(1.0, 0.25), 0.3, 1.3))))
        base = _gains(base, qrs_gain, p_gain, t_xyz, z_qrs_gain)
        pr_t = float(np.clip(_PR_MS[0] * (1.0 + 0.002 * (age_y - 45.0)) + _PR_MS[1] * z_pr,
                             _PR_MS[2], _PR_MS[3]))
        qrs_m, qrs_sd = _QRS_MS[sex]
        qrs_t = float(np.clip(qrs_m + qrs_sd * z_qrs, *_QRS_CLIP_MS))
        qtc_m, qtc_sd, qtc_lo, qtc_hi = _QTC_MS[sex]
        qtc_t = float(np.clip(qtc_m + qtc_sd * z_qt, qtc_lo, qtc_hi))
        base = _retarget(base, pr_t, qrs_t, qtc_t)
        rotation_rad, post_gain = _orient(base, rng, age_y, habitus, float(0.08 * z_rot[0]),
                                          no_rad=condition == "lbbb")
        base = _retarget(_with_posterior_gain(base, post_gain), pr_t, qrs_t, qtc_t)
        rot = rotation_matrix(*rotation_rad)

        vcg = base
        if condition == "rbbb":
            vcg = _with_rbbb(vcg, *old["rbbb"], rot)
            kw.update(rbbb=True, bbb="rbbb")
        elif condition == "lbbb":
            vcg = _with_lbbb(vcg, rng, rot)
            kw.update(bbb="lbbb")
        elif condition == "st_depression":
            vcg = _with_st_shift(vcg, old["st"], rot)
            kw["st_depression_mv"] = old["st"]
        elif condition == "t_inversion":
            vcg = vcg.map(lambda g: g.scaled(("T",), old["t"]))
            kw["t_wave_factor"] = old["t"]
        elif condition == "infarct_inferior":
            vcg = _with_inferior_infarct(vcg, rng, rot)
            kw["infarct_wall"] = "inferior"
        elif condition == "infarct_anterior":
            vcg = _with_anterior_infarct(vcg, rng)
            kw["infarct_wall"] = "anterior"
        elif condition == "lvh":
            vcg = _with_lvh(vcg, rng, rot)
            kw["lvh"] = True
        elif condition == "early_repol":
            vcg, j = _with_early_repol(vcg, rng, rot)
            kw["early_repol_mv"] = j
        elif condition == "low_voltage":
            vcg = _with_low_voltage(vcg, rng, rot)
            kw["low_voltage"] = True
        if condition in _BBB_QRS_MS:  # wide QRS; JT kept, so QT grows with the QRS
            qrs_bbb = float(rng.uniform(*_BBB_QRS_MS[condition]))
            vcg = _retarget(vcg, pr_t, qrs_bbb, qtc_t + qrs_bbb - qrs_t)
        meas = measure_beat(vcg, rot)
        return cls(condition=condition, hr_bpm=float(hr_bpm), sdnn_ms=sdnn, rmssd_ms=rmssd,
                   vcg=vcg, pvc_vcg=_pvc_morphology(base, rng), pac_vcg=_pac_morphology(vcg, rng),
                   axis_rotation_rad=rotation_rad, resp_rotation_rad=resp_rot,
                   resp_translation_frac=resp_translation, rsa_lag_rad=rsa_lag, lf_hf=lf_hf,
                   habitus=habitus, qrs_axis_deg=meas.qrs_axis_deg, t_axis_deg=meas.t_axis_deg,
                   pr_ms=meas.pr_ms, qrs_ms=meas.qrs_ms, qtc_ms=meas.qt_ms,
                   transition_lead=meas.transition_lead, sokolow_lyon_mv=meas.sokolow_lyon_mv,
                   t_wave_gain_xyz=t_xyz, beat_jitter_frac=float(rng.uniform(0.005, 0.02)),
                   **kw)


# --- morphology builders ----------------------------------------------------------
def _jittered(m: VcgMorphology, rng: np.random.Generator, pr_scale: float, qrs_scale: float,
              qt_scale: float) -> VcgMorphology:
    """Per-subject amplitudes (+-10 %), widths (+-5 %) and interval scales."""
    def one(g: GaussianSet) -> GaussianSet:
        n = len(g.wave)
        alpha = np.asarray(g.alpha_mv) * np.clip(1.0 + 0.1 * rng.standard_normal(n), 0.7, 1.3)
        b = np.asarray(g.b_rad) * np.clip(1.0 + 0.05 * rng.standard_normal(n), 0.85, 1.15)
        return _scaled_intervals(GaussianSet(g.theta_rad, tuple(map(float, alpha)),
                                             tuple(map(float, b)), g.wave),
                                 pr_scale, qrs_scale, qt_scale)
    return m.map(one)


def _scaled_intervals(g: GaussianSet, pr_scale: float, qrs_scale: float, qt_scale: float
                      ) -> GaussianSet:
    """P angles x pr_scale; QRS angles and widths x qrs_scale; T, ST x qt_scale."""
    theta = np.asarray(g.theta_rad, dtype=np.float64).copy()
    b = np.asarray(g.b_rad, dtype=np.float64).copy()
    for i, w in enumerate(g.wave):
        s = pr_scale if w == "P" else qrs_scale if w in _QRS_WAVES else qt_scale
        theta[i] *= s
        if w != "P":
            b[i] *= s
    return GaussianSet(tuple(map(float, theta)), g.alpha_mv, tuple(map(float, b)), g.wave)


def _gains(m: VcgMorphology, qrs: float, p: float, t_xyz: tuple[float, float, float],
           z_qrs: float) -> VcgMorphology:
    """Amplitude gains: P, QRS (Z's QRS x z_qrs as well), T per VCG axis."""
    out = []
    for a, g in enumerate(m.axes()):
        qa = qrs * (z_qrs if a == 2 else 1.0)
        out.append(g.scaled(("P",), p).scaled(_QRS_WAVES, qa).scaled(("T",), t_xyz[a]))
    return VcgMorphology(*out)


def _retarget(m: VcgMorphology, pr_ms: float | None, qrs_ms: float | None,
              qt_ms: float | None) -> VcgMorphology:
    """Scale P / QRS / T timing until the measured PR, QRS, QT (60 bpm) hit the targets
    (None: keep). P onset, QRS ends and T end move about proportionally to the scales."""
    for _ in range(3):
        b = measure_beat(m)
        on = b.qrs_onset_ms
        s_qrs = qrs_ms / b.qrs_ms if qrs_ms is not None else 1.0
        s_pr = (pr_ms - on * s_qrs) / (b.pr_ms - on) if pr_ms is not None else 1.0
        s_qt = (qt_ms + on * s_qrs) / (b.qt_ms + on) if qt_ms is not None else 1.0
        if max(abs(s_pr - 1), abs(s_qrs - 1), abs(s_qt - 1)) < 0.004:
            break
        m = m.map(lambda g: _scaled_intervals(g, s_pr, s_qrs, s_qt))
    return m


def _orient(m: VcgMorphology, rng: np.random.Generator, age_y: float, habitus: float,
            rx: float, no_rad: bool = False) -> tuple[tuple[float, float, float], float]:
    """Heart orientation giving a frontal axis and a precordial transition drawn from the
    population (module constants). Returns the rotation (about X, Y, Z) and the gain of
    the posterior QRS forces (Z > 0).

    The transition is set by one control u in -2.5..2.5: rotation about the long axis
    (0.25 u rad) and posterior forces x 1.5 exp(-0.25 u) (the template's V2 is R-dominant, a real median V2
    is not); u by bisection on the measured transition, the Z rotation by fixed-point
    steps on the measured axis. The QRS window does not move under rotation, so both are
    measured on one precomputed QRS (fast)."""
    tilt = math.tanh(habitus)
    p_lad, p_rad = _P_LAD * (1 + 0.6 * tilt), _P_RAD * (1 - 0.6 * tilt)
    u = rng.uniform()
    if u < p_lad:
        axis = float(rng.uniform(-75.0, -31.0))
    elif u < p_lad + p_rad:
        axis = float(rng.uniform(91.0, 125.0))
    else:
        mean = _AXIS_NORMAL[0] + _AXIS_AGE_DEG_PER_Y * (age_y - 45.0) + _AXIS_HABITUS_DEG * habitus
        axis = 999.0
        for _ in range(50):  # the normal component lives within -30..+90
            axis = float(rng.normal(mean, _AXIS_NORMAL[1]))
            if -29.0 <= axis <= 89.0:
                break
        axis = float(np.clip(axis, -29.0, 89.0))
    if no_rad:  # LBBB: normal or leftward axis (right axis deviation is rare with it)
        axis = min(axis, 60.0)
    k = int(rng.choice(3, p=_TRANSITION_SHARES))
    target_pos = float(rng.uniform(*_TRANSITION_RANGES[k]))
    whole = measure_beat(m)
    t_qrs = np.arange(whole.qrs_onset_ms, whole.qrs_onset_ms + whole.qrs_ms + 1.0)
    v_post = beat_vcg_60(_posterior_only(m), t_qrs)
    v_rest = beat_vcg_60(m, t_qrs) - v_post

    def rot(c: float, rz: float) -> np.ndarray:
        return rotation_matrix(rx, 0.25 * c, rz)

    def leads(c: float, rz: float) -> np.ndarray:
        return vcg_to_leads((v_rest + _post_gain(c) * v_post) @ rot(c, rz).T)

    def solve_rz(c: float, rz: float) -> float:
        for _ in range(8):
            err = _wrap_deg(axis - frontal_axis_deg(leads(c, rz).sum(axis=0)))
            if abs(err) < 0.5:
                break
            rz += math.radians(err)
        return rz

    def position(c: float, rz: float) -> float:
        e = leads(c, rz)[:, 6:]
        return transition_position(np.maximum(e.max(axis=0), 0), np.maximum(-e.min(axis=0), 0))[0]

    c, rz = 0.0, solve_rz(0.0, 0.0)
    for _ in range(2):
        lo, hi = -2.5, 2.5  # + = counterclockwise: earlier transition
        for _ in range(14):
            mid = 0.5 * (lo + hi)
            if position(mid, rz) > target_pos:
                lo = mid
            else:
                hi = mid
        c = 0.5 * (lo + hi)
        rz = solve_rz(c, rz)
    return (float(rx), float(0.25 * c), float(rz)), _post_gain(c)


def _post_gain(c: float) -> float:
    return 1.5 * math.exp(-0.25 * c)


def _posterior_only(m: VcgMorphology) -> VcgMorphology:
    """Only the posterior QRS forces (Z's positive QRS Gaussians); X, Y zero."""
    def keep(g: GaussianSet, on: bool) -> GaussianSet:
        al = tuple(a if on and w in _QRS_WAVES and a > 0 else 0.0
                   for a, w in zip(g.alpha_mv, g.wave))
        return replace(g, alpha_mv=al)
    return VcgMorphology(keep(m.x, False), keep(m.y, False), keep(m.z, True))


def _with_posterior_gain(m: VcgMorphology, gain: float) -> VcgMorphology:
    al = tuple(a * gain if w in _QRS_WAVES and a > 0 else a
               for a, w in zip(m.z.alpha_mv, m.z.wave))
    return VcgMorphology(m.x, m.y, replace(m.z, alpha_mv=al))


def _wrap_deg(d: float) -> float:
    return (d + 180.0) % 360.0 - 180.0


def _replace_qrs(g: GaussianSet, terms: list[tuple[float, float, float]]) -> GaussianSet:
    """Drop the Q/R/S Gaussians, add ``terms`` (theta_rad, alpha_mv, b_rad) as R."""
    keep = [i for i, w in enumerate(g.wave) if w not in ("Q", "R", "S")]
    out = GaussianSet(tuple(g.theta_rad[i] for i in keep), tuple(g.alpha_mv[i] for i in keep),
                      tuple(g.b_rad[i] for i in keep), tuple(g.wave[i] for i in keep))
    for th, al, b in terms:
        out = out.plus(th, al, b, "R")
    return out


def _scale_at(g: GaussianSet, i: int, factor: float, new_alpha: float | None = None,
              new_b: float | None = None, new_theta: float | None = None) -> GaussianSet:
    """Copy with Gaussian i's amplitude multiplied (or replaced), width and angle replaced."""
    th, al, bb = list(g.theta_rad), list(g.alpha_mv), list(g.b_rad)
    al[i] = new_alpha if new_alpha is not None else al[i] * factor
    if new_b is not None:
        bb[i] = new_b
    if new_theta is not None:
        th[i] = new_theta
    return replace(g, theta_rad=tuple(th), alpha_mv=tuple(al), b_rad=tuple(bb))


def _nearest(g: GaussianSet, theta: float, waves: tuple[str, ...]) -> int:
    cand = [i for i, w in enumerate(g.wave) if w in waves]
    return min(cand, key=lambda i: abs(g.theta_rad[i] - theta))


def _with_rbbb(m: VcgMorphology, theta: float, b: float, ax: float, az: float,
               rot: np.ndarray) -> VcgMorphology:
    """Late right-ventricular activation: a slow terminal vector rightward and anterior
    in the body frame (X < 0, Z < 0: R' in V1, wide S in I and V6), QRS >= 120 ms."""
    d = rot.T @ np.array([ax, 0.0, az])
    return VcgMorphology(*(g.plus(theta, float(a), b, "RP") for g, a in zip(m.axes(), d)))


def _with_lbbb(m: VcgMorphology, rng: np.random.Generator, rot: np.ndarray) -> VcgMorphology:
    """Left bundle branch block (AHA/ACCF/HRS 2009 part III): the septum fires right to
    left (no septal q in I, V5, V6), the left ventricle late and slowly: a broad notched
    R leftward (two humps in X), a broad posterior force (QS / rS in V1-V3). ST-T
    discordant: T and ST point against the mean QRS vector in the body frame."""
    # the taller, later hump at phase 0: the R peak a detector finds (truth R time)
    a1, a2 = float(rng.uniform(0.55, 0.8)), float(rng.uniform(0.85, 1.1))
    x = _replace_qrs(m.x, [(-0.38, a1, 0.11), (0.0, a2, 0.11)])
    y = _replace_qrs(m.y, [(-0.1, float(rng.uniform(0.05, 0.3)), 0.15)])
    z = _replace_qrs(m.z, [(-0.1, float(rng.uniform(0.8, 1.2)), 0.15)])  # peak off the X notch
    qrs = VcgMorphology(x, y, z).map(lambda g: g.scaled(("P", "T", "ST"), 0.0))
    mean = beat_vcg_60(qrs, np.arange(-110.0, 51.0)).mean(axis=0) @ rot.T  # body frame
    away = rot.T @ (-mean / np.linalg.norm(mean))  # heart frame
    t_amp, st = float(rng.uniform(0.3, 0.6)), float(rng.uniform(0.06, 0.14))
    tx = [(th, al, b) for th, al, b, w in zip(m.x.theta_rad, m.x.alpha_mv, m.x.b_rad, m.x.wave)
          if w == "T"]
    norm = max(sum(al for _, al, _ in tx), 1e-6)
    out = []
    for g, d in zip((x, y, z), away):
        g = g.scaled(("T",), 0.0)
        for th, al, b in tx:  # the subject's T shape, along ``away``
            g = g.plus(th, t_amp * d * al / norm, b, "T")
        out.append(g.plus(0.6, st * d, 0.2, "ST"))
    return VcgMorphology(*out)


def _with_inferior_infarct(m: VcgMorphology, rng: np.random.Generator, rot: np.ndarray
                           ) -> VcgMorphology:
    """Old inferior infarct: the initial inferior force is lost and the early QRS points
    superiorly in the body frame (Q >= 30-40 ms in II, III, aVF); the inferior R shrinks;
    inferior T inverted in half (ours)."""
    y = m.y
    i0 = _nearest(y, -0.11, ("Q",))
    y = _scale_at(y, i0, 0.0)
    i1 = _nearest(y, -0.01, ("R",))
    y = _scale_at(y, i1, float(rng.uniform(0.3, 0.6)), new_theta=y.theta_rad[i1] + 0.06)
    if rng.uniform() < 0.5:
        y = y.scaled(("T",), -float(rng.uniform(0.3, 0.8)))
    up = rot.T @ np.array([0.0, -1.0, 0.0]) * float(rng.uniform(0.5, 0.75))  # heart frame
    return VcgMorphology(*(g.plus(-0.1, float(d), 0.11, "Q") for g, d in zip((m.x, y, m.z), up)))


def _with_anterior_infarct(m: VcgMorphology, rng: np.random.Generator) -> VcgMorphology:
    """Old anterior infarct: the initial anterior (septal) force and early left forces
    are lost, the early QRS points backwards: Q or QS in V1-V3 (V4); T inverted in
    V2-V4 in 60 % (ours)."""
    z = m.z
    i0 = _nearest(z, -0.15, ("Q",))
    z = _scale_at(z, i0, 0.0, new_alpha=float(rng.uniform(0.3, 0.5)), new_b=0.07)
    x = m.x
    i1 = _nearest(x, -0.07, ("R",))
    x = _scale_at(x, i1, float(rng.uniform(0.3, 0.6)))
    if rng.uniform() < 0.6:
        z = z.scaled(("T",), -float(rng.uniform(0.5, 1.0)))
    return VcgMorphology(x, m.y, z)


def _qrs_scaled(m: VcgMorphology, k: float, pt: float = 1.0) -> VcgMorphology:
    return m.map(lambda g: g.scaled(_QRS_WAVES, k).scaled(("P", "T", "ST"), pt))


def _with_lvh(m: VcgMorphology, rng: np.random.Generator, rot: np.ndarray) -> VcgMorphology:
    """Left ventricular hypertrophy by voltage: QRS scaled until Sokolow-Lyon (S V1 +
    R V5/V6) reaches 3.6-5.0 mV (criterion >= 3.5 mV); a strain pattern (lateral ST
    depression, T inversion) in half of them (ours)."""
    if rng.uniform() < 0.5:
        m = VcgMorphology(m.x.scaled(("T",), -float(rng.uniform(0.3, 0.8)))
                          .plus(0.6, -float(rng.uniform(0.05, 0.12)), 0.2, "ST"), m.y, m.z)
    target = float(rng.uniform(3.6, 5.0))
    for _ in range(3):
        sl = measure_beat(m, rot).sokolow_lyon_mv
        if abs(sl - target) < 0.02:
            break
        m = _qrs_scaled(m, target / sl)
    return m


def _with_low_voltage(m: VcgMorphology, rng: np.random.Generator, rot: np.ndarray
                      ) -> VcgMorphology:
    """Low voltage: every limb-lead QRS < 0.5 mV peak to peak (here 0.3-0.45 mV); P and T
    shrink with the square root of the QRS factor (ours). The margin below 0.5 mV
    leaves room for breathing and beat-to-beat jitter."""
    target = float(rng.uniform(0.3, 0.45))
    for _ in range(3):
        limb = max(measure_beat(m, rot).qrs_p2p_mv[:6])
        if abs(limb - target) < 0.005:
            break
        k = target / limb
        m = _qrs_scaled(m, k, math.sqrt(k))
    return m


def _with_early_repol(m: VcgMorphology, rng: np.random.Generator, rot: np.ndarray
                      ) -> tuple[VcgMorphology, float]:
    """Early repolarisation (Macfarlane et al. 2015 consensus): J-point elevation >= 0.1 mV
    in >= 2 contiguous inferior or lateral leads, with a terminal QRS notch / slur (J)
    and an ascending ST. A term along the heart's inferolateral direction (rotated
    back into the template frame) is scaled until the second-highest J point of the
    chosen territory reaches 0.12-0.3 mV. Returns the morphology and that level."""
    lateral = rng.uniform() < 0.5
    leads = (0, 4, 10, 11) if lateral else (1, 2, 5)  # I, aVL, V5, V6 / II, III, aVF
    direction = rot.T @ (np.array([0.9, 0.3, -0.3]) if lateral else np.array([0.2, 1.0, 0.0]))
    target = float(rng.uniform(0.12, 0.3))
    base_j = measure_beat(m, rot)

    def with_amp(a: float) -> VcgMorphology:
        b = base_j.qrs_ms / 1000.0 * 2.0 * np.pi
        th_j = base_j.qrs_onset_ms / 1000.0 * 2.0 * np.pi + b  # QRS end (rad)
        return VcgMorphology(*(
            g.plus(th_j - 0.02, 0.6 * a * d, 0.025, "J").plus(th_j + 0.18, a * d, 0.14, "ST")
            for g, d in zip(m.axes(), direction)))

    def level(mm: VcgMorphology) -> float:
        j = np.sort(np.asarray(measure_beat(mm, rot).j_mv)[list(leads)])
        return float(j[-2])

    a0, l0 = 0.0, level(m)
    a1 = 0.2
    l1 = level(with_amp(a1))
    for _ in range(4):  # secant on the J level
        if abs(l1 - target) < 0.005 or l1 == l0:
            break
        a0, a1, l0 = a1, a1 + (target - l1) * (a1 - a0) / (l1 - l0), l1
        l1 = level(with_amp(a1))
    for _ in range(6):  # the secant can stall where the QRS end moves: push up
        if l1 >= 0.1:
            break
        a1 = max(a1, 0.1) * 1.5
        l1 = level(with_amp(a1))
    return with_amp(a1), l1


def _with_st_shift(m: VcgMorphology, x_mv: float, rot: np.ndarray) -> VcgMorphology:
    """Broad ST-segment term pointing along -X (and a little -Y) in the body frame:
    inferolateral ST depression in I, II, V4-V6, horizontal over the ST segment."""
    theta, b = 0.6, 0.22
    d = rot.T @ np.array([x_mv, 0.4 * x_mv, 0.0])
    return VcgMorphology(*(g.plus(theta, float(a), b, "ST") for g, a in zip(m.axes(), d)))


def _pvc_morphology(m: VcgMorphology, rng: np.random.Generator) -> VcgMorphology:
    """Ventricular ectopic: no P, slow wide QRS (spread angles, 3x widths), ectopic
    axis (X sign from the focus side), discordant (sign-flipped, larger) T."""
    side = 1.0 if rng.random() < 0.5 else -1.0
    spread, widen = float(rng.uniform(2.0, 2.5)), float(rng.uniform(2.8, 3.4))

    def one(g: GaussianSet, sign: float) -> GaussianSet:
        th, al, bb = [], [], []
        net = sign * sum(a for a, w in zip(g.alpha_mv, g.wave) if w in _QRS_WAVES)
        for t, a, b, w in zip(g.theta_rad, g.alpha_mv, g.b_rad, g.wave):
            if w == "P":
                a = 0.0
            elif w in _QRS_WAVES:
                t, b, a = t * spread, b * widen, a * 1.2 * sign
            elif w == "T":  # discordant: against the ectopic QRS's net deflection
                a = -1.3 * abs(a) * math.copysign(1.0, net)
            th.append(t), al.append(a), bb.append(b)
        return GaussianSet(tuple(th), tuple(al), tuple(bb), g.wave)
    return VcgMorphology(one(m.x, side), one(m.y, 1.0), one(m.z, -side))


def _pac_morphology(m: VcgMorphology, rng: np.random.Generator) -> VcgMorphology:
    """Atrial ectopic: normal QRS-T, P from a low atrial focus (inverted in II/aVF)."""
    fy, fx = -float(rng.uniform(0.6, 1.0)), float(rng.uniform(0.5, 0.9))
    return VcgMorphology(m.x.scaled(("P",), fx), m.y.scaled(("P",), fy), m.z.scaled(("P",), -1.0))

# --- the heart --------------------------------------------------------------------
class SyntheticHeart:
    """``ElectricalSource`` from ``ElectricalParams``; deterministic in (params, seed).

    ``respiration``: any object with ``resp_phase_rad(t_s)`` and ``resp_level(t_s)``;
    None means a 0.25 Hz sinusoid. It times RSA and rotates / moves the heart.
    """

    def __init__(self, params: ElectricalParams, seed: int, respiration=None):
        self.params = params
        self.seed = int(seed)
        self.respiration = respiration if respiration is not None else SinusoidRespiration()
        self.schedule = BeatSchedule(params.rhythm_params(), self.seed, self.respiration)
        frng = np.random.default_rng(np.random.SeedSequence([self.seed, 0xAF]))
        # AF f-waves: per axis 3 close sinusoids (+-0.4 Hz) with a slow amplitude beat.
        self._f_hz = params.af_f_hz + frng.uniform(-0.4, 0.4, (3, 3))
        self._f_ph = frng.uniform(0.0, 2.0 * np.pi, (3, 3))
        self._axis_rot = rotation_matrix(*params.axis_rotation_rad)
        self._morph = {"N": params.vcg, "V": params.pvc_vcg, "A": params.pac_vcg,
                       "F": params.vcg.map(lambda g: g.scaled(("P",), 0.0))}
        self._conduction = {"rbbb": "RBBB", "lbbb": "LBBB"}.get(
            params.bbb or ("rbbb" if params.rbbb else ""), "normal")
        self._max_g = max([_MAX_G] + [len(g.wave) for m in self._morph.values() for g in m.axes()])
        # Newest beats' Gaussians (boundary beats of consecutive chunks, beats_between's
        # QRS onsets); bounded so that hours of streaming keep flat memory.
        self._gauss_cache: OrderedDict[int, _BeatGaussians] = OrderedDict()
        self._axes_cache: dict[str, tuple[tuple, ...]] = {}
        self._flat_axes_cache: dict[str | tuple[str, str], tuple] = {}  # kind, or ("qrs", kind)
        self._jitter_blocks: OrderedDict[int, np.ndarray] = OrderedDict()

    # --- beats --------------------------------------------------------------------
    def beats_between(self, t0_s: float, t1_s: float) -> list[Beat]:
        """Beats with R in [t0_s, t1_s); conducted beats carry their QT (the subject's QTc
        at the preceding RR, Bazett) and the conduction ('RBBB' / 'LBBB' / 'normal') for
        the heart mechanics; PVCs leave both to the mechanics' defaults."""
        sched = self.schedule
        lo = max(sched.n_beats_before(t0_s), 1)  # (BeatSchedule.beats_between's span)
        hi = sched.n_beats_before(t1_s)
        if hi <= lo:
            return []
        r, kinds = sched.beat_span(lo - 1, hi + 1)  # one more: the last beat's following RR
        off = self._qrs_onset_offsets_s(lo, r, kinds)
        qtc_s = self.params.qtc_ms / 1000.0
        out = []
        for i, k in enumerate(range(lo, hi), start=1):
            rr_s = float(r[i] - r[i - 1])
            kind = kinds[i]
            if kind == "V":  # PVCs leave QT and conduction to the mechanics' defaults
                out.append(Beat(k, float(r[i]), float(r[i] - off[i - 1]), rr_s, kind))
            else:
                out.append(Beat(k, float(r[i]), float(r[i] - off[i - 1]), rr_s, kind,
                                qtc_s * math.sqrt(rr_s), self._conduction))
        return out

    def _qrs_onset_offsets_s(self, lo: int, r: np.ndarray, kinds: tuple[str, ...]) -> np.ndarray:
        """``_qrs_onset_offset_s`` of beats lo .. lo + len(r) - 3 at once (R times ``r`` and
        ``kinds`` of beats lo - 1 .. lo + len(r) - 2; lo >= 1): per kind, the QRS Gaussians
        of all its beats in one numpy operation per step, element by element the operations
        of ``_gaussians_of`` (one call per beat cost ~50 us; the Gaussian cache is left as is)."""
        rr_pre = r[1:-1] - r[:-2]
        rr_post = r[2:] - r[1:-1]
        n = len(rr_pre)
        off = np.empty(n)
        body = kinds[1:-1]
        jit = self._beat_jitters(lo, n)
        for kind in set(body):
            sel = np.array([j for j in range(n) if body[j] == kind], np.int64)
            theta0, al, b0, e_angle, e_width, before_r, group, pads = self._qrs_axes_of(kind)
            pre = rr_pre[sel]
            if len(theta0) == 0:
                onset = np.zeros(len(sel))
            else:
                h = (60.0 / pre / 60.0)[:, None]
                post = np.where(before_r, 1.0, (pre / rr_post[sel])[:, None])
                theta = theta0 * h ** e_angle * post
                b = b0 * h ** e_width * post
                alpha = al if jit is None else al * jit[sel][:, group]
                onset = np.min(np.where(np.abs(alpha) > 0.05, theta - 2.0 * b, 0.0), axis=1)
                if pads:  # non-QRS entries and padding give 0.0 in the full tables
                    onset = np.minimum(onset, 0.0)
            off[sel] = -onset / (2.0 * np.pi) * pre
        return off

    def _qrs_axes_of(self, kind: str) -> tuple:
        """``_flat_axes_of``'s QRS-class Gaussians of a kind: theta, alpha, b, rate exponents
        of angle and width, theta < 0, jitter group, and whether the full (3, max_g) tables
        hold any other entry (then the onset's minimum includes 0.0)."""
        key = ("qrs", kind)
        got = self._flat_axes_cache.get(key)
        if got is None:
            _, _, theta0, al, b0, e_angle, e_width, before_r, code, group = self._flat_axes_of(kind)
            q = _IS_QRS_CODE[code + 1]
            got = self._flat_axes_cache[key] = (
                theta0[q], al[q], b0[q], e_angle[q], e_width[q], before_r[q], group[q],
                bool(np.count_nonzero(q) < 3 * self._max_g))
        return got

    def _beat_jitters(self, k0: int, n: int) -> np.ndarray | None:
        """``_beat_jitter`` of beats k0 .. k0 + n - 1 as rows (n, 3), the same operations."""
        sd = self.params.beat_jitter_frac
        if sd <= 0.0:
            return None
        ks = np.arange(k0, k0 + n)
        b0, b1 = k0 // _JITTER_BLOCK, (k0 + n - 1) // _JITTER_BLOCK
        z = np.concatenate([self._jitter_z(blk) for blk in range(b0, b1 + 1)])[ks - b0 * _JITTER_BLOCK]
        out = np.ones((n, 3))
        out[:, 1:] = np.minimum(np.maximum(1.0 + sd * z, 0.85), 1.15)
        return out

    def _qrs_onset_offset_s(self, k: int) -> float:
        """R time minus QRS onset (s): earliest QRS Gaussian's theta - 2 b, in time."""
        # One span serves both the preceding RR and (when not cached) the beat's Gaussians.
        lo = max(k - 1, 0)
        r, kinds = self.schedule.beat_span(lo, k + 2)
        got = self._gauss_cache.get(k)
        if got is None:
            got = self._gaussians_of(k, r, kinds, lo)
            self._remember(k, got)
        theta, alpha, b, codes = got
        qrs = (np.abs(alpha) > 0.05) & _IS_QRS_CODE[codes + 1]
        onset_rad = float(np.min(np.where(qrs, theta - 2.0 * b, 0.0)))
        rr_pre = r[k - lo] - r[k - lo - 1] if k >= 1 else self.schedule.rr0_s
        return -onset_rad / (2.0 * np.pi) * rr_pre

    def _remember(self, k: int, g: _BeatGaussians) -> None:
        self._gauss_cache[k] = g
        while len(self._gauss_cache) > _KEEP_GAUSSIANS:
            self._gauss_cache.popitem(last=False)

    def _gaussians_of(self, k: int, r: np.ndarray, kinds: tuple[str, ...], lo: int
                      ) -> _BeatGaussians:
        """Beat k's Gaussians in phase units: theta, alpha, b (3, _MAX_G) float64 and the
        wave-class codes (3, _MAX_G) int (-1: padding), rate-scaled per side of R.
        ``r``, ``kinds``: R times and kinds of beats lo .. (at least k + 1)."""
        i = k - lo
        rr_pre = r[i] - r[i - 1] if k >= 1 else self.schedule.rr0_s
        rr_post = r[i + 1] - r[i]
        mg = self._max_g
        theta = np.zeros((3, mg))
        alpha = np.zeros((3, mg))
        b = np.ones((3, mg))
        codes = np.full((3, mg), -1)
        h = 60.0 / rr_pre / 60.0  # as rate_scaled(g, 60 / rr_pre) computes it
        jit = self._beat_jitter(k)
        rows, cols, theta0, al, b0, e_angle, e_width, before_r, code, group = self._flat_axes_of(kinds[i])
        # rate_scaled's operations on cached per-kind arrays (same values, same bits), all
        # axes at once (element by element what one call per axis computed)
        th = theta0 * h ** e_angle
        bb = b0 * h ** e_width
        # after R the phase runs at 2 pi / rr_post: rescale so the time course
        # stays the one set by the preceding interval
        post = np.where(before_r, 1.0, rr_pre / rr_post)
        theta[rows, cols] = th * post
        b[rows, cols] = bb * post
        alpha[rows, cols] = al if jit is None else al * jit[group]
        codes[rows, cols] = code
        for arr in (theta, alpha, b, codes):
            arr.setflags(write=False)  # shared through the cache
        return theta, alpha, b, codes

    def _beat_jitter(self, k: int) -> np.ndarray | None:
        """Beat k's amplitude factors by jitter group (other, QRS, T): beat-to-beat
        morphology variability, a function of (seed, k) only (any chunking, same bits)."""
        sd = self.params.beat_jitter_frac
        if sd <= 0.0:
            return None
        blk, i = divmod(int(k), _JITTER_BLOCK)
        z = self._jitter_z(blk)
        return np.array([1.0, *np.minimum(np.maximum(1.0 + sd * z[i], 0.85), 1.15)])  # np.clip's values

    def _jitter_z(self, blk: int) -> np.ndarray:
        """(_JITTER_BLOCK, 2) standard normals of a block of beats."""
        z = self._jitter_blocks.get(blk)
        if z is None:  # one generator per block of beats: a generator per beat costs ~30 us
            z = np.random.default_rng([self.seed, 0xB7, blk]).standard_normal((_JITTER_BLOCK, 2))
            self._jitter_blocks[blk] = z
            while len(self._jitter_blocks) > 4:
                self._jitter_blocks.popitem(last=False)
        return z

    def _axes_of(self, kind: str) -> tuple[tuple, ...]:
        """Per axis of the beat kind's morphology: Gaussian count, theta, alpha, b, the rate
        exponents of angle and width, theta < 0 and wave-class codes (arrays, built once)."""
        got = self._axes_cache.get(kind)
        if got is None:
            got = self._axes_cache[kind] = tuple(
                (len(g.wave), np.asarray(g.theta_rad), np.asarray(g.alpha_mv, dtype=np.float64),
                 np.asarray(g.b_rad), np.array([RATE_EXPONENTS[w][0] for w in g.wave]),
                 np.array([RATE_EXPONENTS[w][1] for w in g.wave]), np.asarray(g.theta_rad) < 0.0,
                 np.array([WAVE_CLASSES.index(w) for w in g.wave]))
                for g in self._morph[kind].axes())
        return got

    def _flat_axes_of(self, kind: str) -> tuple[np.ndarray, ...]:
        """``_axes_of`` concatenated over the axes: each Gaussian's axis and slot, theta,
        alpha, b, the rate exponents, theta < 0, its wave-class code and jitter group."""
        got = self._flat_axes_cache.get(kind)
        if got is None:
            axes = self._axes_of(kind)

            def cat(j, dtype):
                return np.concatenate([np.asarray(ax[j], dtype) for ax in axes])

            code = cat(7, np.int64)
            got = self._flat_axes_cache[kind] = (
                np.concatenate([np.full(ax[0], a, np.int64) for a, ax in enumerate(axes)]),
                np.concatenate([np.arange(ax[0], dtype=np.int64) for ax in axes]),
                cat(1, np.float64), cat(2, np.float64), cat(3, np.float64), cat(4, np.float64),
                cat(5, np.float64), cat(6, np.bool_), code, _JITTER_GROUP[code])
        return got

    def _gaussian_table(self, j0: int, j1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """theta, alpha, b (j1 - j0, 3, _MAX_G) of beats j0 .. j1 - 1, each beat computed
        once per call (a chunk's beats are needed at five phase offsets)."""
        lo = max(j0 - 1, 0)
        r, kinds = self.schedule.beat_span(lo, j1 + 1)
        rows = []
        for k in range(j0, j1):
            g = self._gauss_cache.get(k)
            if g is None:
                g = self._gaussians_of(k, r, kinds, lo)
                self._remember(k, g)
            rows.append(g)
        return tuple(np.stack([g[i] for g in rows]) for i in range(3))

    # --- waveforms ----------------------------------------------------------------
    def beat_and_fraction(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(k, frac): t lies between R peak k and k+1, a fraction frac of that RR after R peak k
        (the cardiac phase is theta = 2 pi (k + frac) rad)."""
        t = np.asarray(t_s, dtype=np.float64)
        if t.size == 0:
            return np.zeros(t.shape, dtype=np.intp), np.zeros(t.shape)
        sched = self.schedule
        # window of beats: the last R at or before min(t) .. the first R after max(t)
        lo = max(sched.n_beats_before(float(t.min()), inclusive=True) - 1, 0)
        hi = max(sched.n_beats_before(float(t.max()), inclusive=True), lo + 1)
        r, _ = sched.beat_span(lo, hi + 1)
        i = np.clip(np.searchsorted(r, t, "right") - 1, 0, len(r) - 2)
        frac = (t - r[i]) / (r[i + 1] - r[i])
        return i + lo, frac

    def _raw_vcg(self, t: np.ndarray) -> np.ndarray:
        k, frac = self.beat_and_fraction(t)
        out = np.zeros((t.size, 3))
        if t.size == 0:
            return out
        j0 = max(int(k.min()) - 2, 0)
        th_all, al_all, bb_all = self._gaussian_table(j0, int(k.max()) + 3)
        for off in (-2, -1, 0, 1, 2):
            j = k + off
            ok = j >= 0
            if not ok.any():
                continue
            idx = j[ok] - j0
            dtheta = 2.0 * np.pi * (frac[ok] - off)
            # al * exp(-0.5 d^2), d = (dtheta - th) / bb, on one (m, 3, G) buffer: the
            # same operations in the same order as the plain expression, same bits
            x = dtheta[:, None, None] - th_all[idx]
            x /= bb_all[idx]
            x2 = x * -0.5
            x2 *= x
            np.exp(x2, out=x2)
            x2 *= al_all[idx]
            out[ok] += np.sum(x2, axis=2)
            del x, x2  # free before the next offset allocates its set
        return out

    def _f_waves(self, t: np.ndarray) -> np.ndarray:
        rms = np.asarray(self.params.af_f_rms_mv)
        if not rms.any():
            return np.zeros((t.size, 3))
        # Three equal sinusoids of amplitude a have RMS a * sqrt(3/2).
        s = np.sin(2.0 * np.pi * self._f_hz[None] * t[:, None, None] + self._f_ph[None])
        return s.sum(axis=2) * (rms / math.sqrt(1.5))

    def vcg_mv(self, t_s: np.ndarray) -> np.ndarray:
        """Heart vector (n, 3) mV at times ``t_s`` (n,) s: beats + f-waves, rotated by the
        heart axis and by breathing, scaled by the breathing translation."""
        t = np.asarray(t_s, dtype=np.float64).ravel()
        out = np.empty((t.size, 3))
        for s in range(0, t.size, 20000):  # bound the (m, 3, G) temporaries
            tc = t[s:s + 20000]
            v = (self._raw_vcg(tc) + self._f_waves(tc)) @ self._axis_rot.T
            out[s:s + 20000] = self._breathing(tc, v)
        return out

    def _breathing(self, t: np.ndarray, v: np.ndarray) -> np.ndarray:
        level = np.asarray(self.respiration.resp_level(t), dtype=np.float64)
        ang = level[:, None] * np.asarray(self.params.resp_rotation_rad)[None]
        c, s = np.cos(ang), np.sin(ang)
        x, y, z = v[:, 0], v[:, 1], v[:, 2]
        y, z = c[:, 0] * y - s[:, 0] * z, s[:, 0] * y + c[:, 0] * z  # about X
        x, z = c[:, 1] * x + s[:, 1] * z, -s[:, 1] * x + c[:, 1] * z  # about Y
        x, y = c[:, 2] * x - s[:, 2] * y, s[:, 2] * x + c[:, 2] * y  # about Z
        gain = 1.0 - self.params.resp_translation_frac * level
        return np.stack([x, y, z], axis=1) * gain[:, None]

    def ecg_mv(self, t_s: np.ndarray) -> np.ndarray:
        """12-lead ECG (n, 12) mV at ``t_s`` (n,) s, lead order ``LEADS``."""
        return vcg_to_leads(self.vcg_mv(t_s))
