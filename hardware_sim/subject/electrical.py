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
from dataclasses import dataclass, fields

import numpy as np

from cardioradar.errors import ConfigError
from hardware_sim.subject.ecg import (
    NORMAL_VCG, RATE_EXPONENTS, WAVE_CLASSES, GaussianSet, VcgMorphology, rotation_matrix,
    vcg_to_leads,
)
from hardware_sim.subject.rhythm import BeatSchedule, RhythmParams, SinusoidRespiration
from hardware_sim.subject.types import Beat

__all__ = ["CONDITIONS", "ElectricalParams", "SyntheticHeart"]

CONDITIONS: tuple[str, ...] = (
    "sinus", "brady", "tachy", "af", "pvc", "pac", "rbbb", "st_depression", "t_inversion")

_HR_RANGE_BPM = {"brady": (42.0, 56.0), "tachy": (105.0, 135.0), "af": (70.0, 110.0)}
_QRS_WAVES = ("Q", "R", "S", "RP")
_MAX_G = 14  # padded Gaussian count per axis
# QRS wave classes by code + 1 (code -1 pads the Gaussian tables): np.isin without the sort
_IS_QRS_CODE = np.array([False] + [w in _QRS_WAVES for w in WAVE_CLASSES])
_KEEP_GAUSSIANS = 64  # per-beat Gaussian sets kept between calls (~2 KB each)
_BeatGaussians = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ElectricalParams:
    """One subject's heart. Angles in rad, amplitudes in mV, rates in bpm / Hz.

    ``vcg`` is the subject's conducted beat at 60 bpm (jitter, interval scales and the
    condition's morphology already applied, before ``axis_rotation_rad``); ``pvc_vcg``
    and ``pac_vcg`` the ectopic beats. ``resp_rotation_rad`` are the rotations about
    X / Y / Z reached at end-inhale (level 1), ``resp_translation_frac`` the relative
    drop of the dipole gain at end-inhale (the heart moves away from the electrodes).
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

    def rhythm_params(self) -> RhythmParams:
        return RhythmParams(
            condition=self.condition, hr_bpm=self.hr_bpm, sdnn_ms=self.sdnn_ms,
            rmssd_ms=self.rmssd_ms, mayer_hz=self.mayer_hz, lf_hf=self.lf_hf,
            rsa_lag_rad=self.rsa_lag_rad,
            af_rr_cv=self.af_rr_cv, ectopic_p_stay_normal=self.ectopic_p_stay_normal,
            ectopic_coupling=self.ectopic_coupling)

    @classmethod
    def from_dict(cls, d: dict) -> ElectricalParams:
        """Inverse of ``dataclasses.asdict`` (e.g. after a JSON round trip)."""
        def morph(m):
            return VcgMorphology(*(GaussianSet(**{k: tuple(v) for k, v in m[a].items()})
                                   for a in ("x", "y", "z")))
        kw = {}
        for f in fields(cls):
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
        # Interval scales: PR lengthens a little with age; women's QTc ~10 ms longer.
        pr_scale = float(np.clip(rng.normal(1.0 + 0.002 * (age_y - 45.0), 0.04), 0.9, 1.12))
        qrs_scale = float(np.clip(rng.normal(1.02, 0.04), 0.95, 1.1))
        qt_scale = float(np.clip(rng.normal(1.1 + (0.02 if sex == "F" else 0.0), 0.015),
                                 1.07, 1.14))
        base = _jittered(NORMAL_VCG, rng, pr_scale, qrs_scale, qt_scale)
        kw: dict = {}
        vcg = base
        if condition == "rbbb":
            vcg = _with_rbbb(vcg, rng)
            kw["rbbb"] = True
        elif condition == "st_depression":
            st = -float(rng.uniform(0.18, 0.3))
            vcg = _with_st_shift(vcg, st)
            kw["st_depression_mv"] = st
        elif condition == "t_inversion":
            f = -float(rng.uniform(0.5, 1.0))
            vcg = vcg.map(lambda g: g.scaled(("T",), f))
            kw["t_wave_factor"] = f
        elif condition == "pvc":
            kw.update(ectopic_p_stay_normal=float(rng.uniform(0.7, 0.8)),
                      ectopic_coupling=float(rng.uniform(0.55, 0.7)))
        elif condition == "pac":
            kw.update(ectopic_p_stay_normal=float(rng.uniform(0.8, 0.9)),
                      ectopic_coupling=float(rng.uniform(0.65, 0.8)))
        elif condition == "af":
            kw.update(af_rr_cv=float(rng.uniform(0.15, 0.25)), af_f_hz=float(rng.uniform(4.5, 7.5)),
                      af_f_rms_mv=tuple(float(v) for v in rng.uniform(0.02, 0.06, 3)))
        axis = tuple(float(v) for v in np.clip(rng.normal(0.0, 0.12, 3), -0.3, 0.3))
        resp_rot = tuple(float(v) for v in rng.uniform(0.3, 1.0, 3) * np.array([0.2, 0.16, 0.14]))
        return cls(condition=condition, hr_bpm=float(hr_bpm), sdnn_ms=sdnn, rmssd_ms=rmssd,
                   vcg=vcg, pvc_vcg=_pvc_morphology(base, rng), pac_vcg=_pac_morphology(base, rng),
                   pr_scale=pr_scale, qrs_scale=qrs_scale, qt_scale=qt_scale,
                   axis_rotation_rad=axis, resp_rotation_rad=resp_rot,
                   resp_translation_frac=float(rng.uniform(0.03, 0.07)),
                   rsa_lag_rad=float(rng.uniform(0.0, 0.6)),
                   lf_hf=float(rng.uniform(0.5, 3.0)), **kw)


# --- morphology builders ----------------------------------------------------------
def _jittered(m: VcgMorphology, rng: np.random.Generator, pr_scale: float, qrs_scale: float,
              qt_scale: float) -> VcgMorphology:
    """Per-subject amplitudes (+-10 %), widths (+-5 %) and interval scales."""
    def one(g: GaussianSet) -> GaussianSet:
        n = len(g.wave)
        alpha = np.asarray(g.alpha_mv) * np.clip(1.0 + 0.1 * rng.standard_normal(n), 0.7, 1.3)
        b = np.asarray(g.b_rad) * np.clip(1.0 + 0.05 * rng.standard_normal(n), 0.85, 1.15)
        theta = np.asarray(g.theta_rad, dtype=np.float64).copy()
        for i, w in enumerate(g.wave):
            if w == "P":
                theta[i] *= pr_scale
            elif w in _QRS_WAVES:
                theta[i] *= qrs_scale
                b[i] *= qrs_scale
            elif w == "T":
                theta[i] *= qt_scale
                b[i] *= qt_scale
        return GaussianSet(tuple(map(float, theta)), tuple(map(float, alpha)),
                           tuple(map(float, b)), g.wave)
    return m.map(one)


def _with_rbbb(m: VcgMorphology, rng: np.random.Generator) -> VcgMorphology:
    """Late right-ventricular activation: a slow terminal vector rightward and anterior
    (X < 0, Z < 0: R' in V1, wide S in I and V6), QRS >= 120 ms."""
    theta, b = float(rng.uniform(0.4, 0.46)), float(rng.uniform(0.085, 0.1))
    ax, az = -float(rng.uniform(0.3, 0.45)), -float(rng.uniform(0.45, 0.6))
    return VcgMorphology(m.x.plus(theta, ax, b, "RP"), m.y.plus(theta, 0.0, b, "RP"),
                         m.z.plus(theta, az, b, "RP"))


def _with_st_shift(m: VcgMorphology, x_mv: float) -> VcgMorphology:
    """Broad ST-segment term pointing along -X (and a little -Y): inferolateral ST
    depression in I, II, V4-V6, horizontal over the ST segment."""
    theta, b = 0.6, 0.22
    return VcgMorphology(m.x.plus(theta, x_mv, b, "ST"), m.y.plus(theta, 0.4 * x_mv, b, "ST"),
                         m.z.plus(theta, 0.0, b, "ST"))


def _pvc_morphology(m: VcgMorphology, rng: np.random.Generator) -> VcgMorphology:
    """Ventricular ectopic: no P, slow wide QRS (spread angles, 3x widths), ectopic
    axis (X sign from the focus side), discordant (sign-flipped, larger) T."""
    side = 1.0 if rng.random() < 0.5 else -1.0
    spread, widen = float(rng.uniform(2.0, 2.5)), float(rng.uniform(2.8, 3.4))

    def one(g: GaussianSet, sign: float) -> GaussianSet:
        th, al, bb = [], [], []
        for t, a, b, w in zip(g.theta_rad, g.alpha_mv, g.b_rad, g.wave):
            if w == "P":
                a = 0.0
            elif w in _QRS_WAVES:
                t, b, a = t * spread, b * widen, a * 1.2 * sign
            elif w == "T":
                a = -1.3 * a * sign
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
        # Newest beats' Gaussians (boundary beats of consecutive chunks, beats_between's
        # QRS onsets); bounded so that hours of streaming keep flat memory.
        self._gauss_cache: OrderedDict[int, _BeatGaussians] = OrderedDict()
        self._axes_cache: dict[str, tuple[tuple, ...]] = {}

    # --- beats --------------------------------------------------------------------
    def beats_between(self, t0_s: float, t1_s: float) -> list[Beat]:
        return self.schedule.beats_between(t0_s, t1_s, self._qrs_onset_offset_s)

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

    def _beat_gaussians(self, k: int) -> _BeatGaussians:
        """Beat k's Gaussians (see ``_gaussians_of``); the newest few are kept."""
        got = self._gauss_cache.get(k)
        if got is not None:
            return got
        lo = max(k - 1, 0)
        r, kinds = self.schedule.beat_span(lo, k + 2)
        got = self._gaussians_of(k, r, kinds, lo)
        self._remember(k, got)
        return got

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
        theta = np.zeros((3, _MAX_G))
        alpha = np.zeros((3, _MAX_G))
        b = np.ones((3, _MAX_G))
        codes = np.full((3, _MAX_G), -1)
        h = 60.0 / rr_pre / 60.0  # as rate_scaled(g, 60 / rr_pre) computes it
        for a, (n, theta0, al, b0, e_angle, e_width, before_r, code) in enumerate(self._axes_of(kinds[i])):
            # rate_scaled's operations on cached per-kind arrays (same values, same bits)
            th = theta0 * h ** e_angle
            bb = b0 * h ** e_width
            # after R the phase runs at 2 pi / rr_post: rescale so the time course
            # stays the one set by the preceding interval
            post = np.where(before_r, 1.0, rr_pre / rr_post)
            theta[a, :n] = th * post
            b[a, :n] = bb * post
            alpha[a, :n] = al
            codes[a, :n] = code
        for arr in (theta, alpha, b, codes):
            arr.setflags(write=False)  # shared through the cache
        return theta, alpha, b, codes

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
    def phase_rad(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(k, frac): t lies between R peak k and k+1, theta = 2 pi (k + frac)."""
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
        k, frac = self.phase_rad(t)
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
