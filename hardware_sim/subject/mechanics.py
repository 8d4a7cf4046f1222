"""Heart mechanics timed from the electrical beats: valve events and chest displacement.

Systolic time intervals follow Weissler (1968) from each beat's QRS onset and the local heart
rate (the beat's own preceding RR: filling, hence ejection, follows it). Per subject the
intervals are scaled (electromechanical delays differ between people); per beat they jitter by
a few ms. The chest displacement is a slow heartbeat pulse (0.1-0.5 mm, systole), a small
presystolic bump from atrial contraction, plus the prominent vibrations of the radarODE model
(eq. 3-4 of the radarODE-MTL paper): one around MC/AO and the second sound around AC/MO,
split into its aortic (A2) and pulmonary (P2) parts, each
``a cos(2 pi f (t - T)) exp(-(t - T)^2 / b^2)``; the cosine is referenced to the event time T
so that the vibration's shape is the same in every beat.

Electromechanical couplings (docs/simulator.md, "Couplings", lists each with its source): the
electrical facts of a subject (``ElectromechanicalCoupling``: heart axis, bundle branch block,
infarct, QT) and of each beat (``Beat``: kind, preceding RR, QT when the source gives it) set
the timing, strength and chest pattern of the motion. Never the ECG waveform itself.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from cardioradar.errors import ConfigError
from hardware_sim.subject.seeding import SeededNormals
from hardware_sim.subject.types import Beat, ElectricalSource

log = logging.getLogger(__name__)

_BEAT_JITTER_MS = 2.0  # SD of per-beat timing jitter of each interval (clipped at 3 SD)
_PULSE_SIGMAS = 4.5  # the pulse is evaluated over +-4.5 sigma (tails below 5e-5 of its peak)
_VIB_WIDTHS = 3.5  # vibrations over +-3.5 b (exp(-12) of their peak)

# --- couplings: each number's source is in docs/simulator.md ("Couplings") ---------------
_PVC_PULSE_SCALE = 0.6  # a premature ventricular beat ejects less (own choice, "smaller stroke")
_PVC_PEP_MS = 40.0  # ectopic activation spreads slowly: later ejection (own choice, as LBBB)
_POTENTIATION = 1.15  # beat after a PVC: post-extrasystolic potentiation (PEAP ~10 +- 5 %)
# Frank-Starling: stroke follows the preceding RR while rapid filling is incomplete and is
# flat above ~600 ms (Doppler in AF, Int J Card Imaging 1989; Gosselink et al. JACC 1995):
# stroke ~ 1 - exp(-(RR - T0) / tau), T0 and tau our choice to saturate by 0.6 s.
_FILL_T0_S = 0.25
_FILL_TAU_S = 0.1
_FILL_MIN = 0.2  # a very early beat still moves the chest a little
_ATRIAL_SIGMA_S = 0.03  # width of the presystolic atrial bump (own choice)
_ATRIAL_SIGMAS = 4.0  # evaluated over +-4 sigma (3e-4 of its peak of a few tens of um)
_ATRIAL_LEAD_S = 0.06  # atrial contraction peaks this long before QRS onset (own choice)
_ATRIAL_BUMP_PER_KICK = 0.5  # bump height / pulse = 0.5 x kick: 7-15 %, apexcardiogram a wave
_AF_STROKE_PER_KICK = 0.5  # AF stroke lost = 0.5 x kick (~10 % at rest)
# Second sound: A2-P2 split 0 at end-expiration, ~40 ms at end-inspiration (normal);
# RBBB delays P2 (+30 ms: wide split 30-60 ms); LBBB delays LV ejection, hence A2
# (+40 ms PEP: P2 before A2 in expiration, fused in inspiration: paradoxical).
_SPLIT_INSP_MS = 40.0
_RBBB_P2_MS = 30.0
_LBBB_PEP_MS = 40.0
_P2_SHARE = 1.0 / 3.0  # P2 is the softer part of S2; A2 + P2 keep vib2's total amplitude
# Dyssynchrony over the chest: RBBB: RV-side points 30 ms late; LBBB: RV-side points move
# before the late LV (-40 ms), the lateral LV wall last (+20 ms): ~60 ms septal-to-lateral.
_RBBB_RV_DELAY_S = 0.030
_LBBB_RV_DELAY_S = -0.040
_LBBB_LATERAL_DELAY_S = 0.020
_LV_RAMP_M = 0.08  # RV (medial) -> LV (lateral) weight ramps over 8 cm ending at the apex
# Regional hypokinesis: wall territories seen from the front, relative to the apex (m), and
# the lost share of local motion (own choices: hypokinetic, not akinetic).
_TERRITORY_OFFSET_M = {"anterior": (-0.03, 0.02), "lateral": (0.03, 0.04), "inferior": (-0.04, -0.04)}
_TERRITORY_SPREAD_M = 0.045
_INFARCT_SEVERITY = 0.6
_ISCHAEMIA_SEVERITY = 0.3
_INFARCT_STROKE_LOSS = 0.25  # global stroke lost per unit severity (own choice)
_INFARCT_QS2_MS = 40.0  # ejection shortened per unit severity: QT > QS2 (Boudoulas 1982)
# Heart orientation: apex on a circle about the chest centre; its angle below the subject's
# left follows the frontal QRS axis with gain 0.6, the middle of the normal range (+30 deg)
# mapping to the standard layout's apex (45 deg). Gain and mapping are our choice.
_REF_AXIS_DEG = 30.0
_REF_APEX_DEG = 45.0
_APEX_AXIS_GAIN = 0.6
_LVH_APEX_RADIUS = 1.3  # LV enlargement displaces the apex laterally and down (own size)
_CONDUCTIONS = ("normal", "RBBB", "LBBB")
_BEAT_CONDUCTION = {"NORMAL": "normal", "RBBB": "RBBB", "LBBB": "LBBB"}  # Beat.conduction, any case
_WALLS = ("", "anterior", "inferior", "lateral")


# Weissler's regressions, (intercept ms, slope ms per bpm) of PEP, LVET, QS2 by sex.
_WEISSLER = {"M": ((131.0, 0.4), (413.0, 1.7), (546.0, 2.1)),
             "F": ((133.0, 0.4), (418.0, 1.6), (549.0, 2.0))}


def systolic_intervals_ms(hr_bpm: float | np.ndarray, sex: str) -> tuple:
    """Weissler's regressions: (PEP, LVET, QS2) in ms at heart rate ``hr_bpm``, sex 'M' or 'F'.

    Note PEP + LVET differs from QS2 by 2-5 ms (separate regressions); the simulator times
    AO = QRS onset + PEP and AC = AO + LVET.
    """
    coef = _WEISSLER.get(sex)
    if coef is None:
        raise ConfigError(f"systolic_intervals_ms: sex: expected 'M' or 'F', got {sex!r}")
    if type(hr_bpm) is float:  # once per beat: Python floats, the same values without numpy 0-d arrays
        return tuple(a - b * hr_bpm for a, b in coef)
    hr = np.asarray(hr_bpm, dtype=np.float64)
    pep, lvet, qs2 = (a - b * hr for a, b in coef)
    if hr.ndim == 0:
        return float(pep), float(lvet), float(qs2)
    return pep, lvet, qs2


def filling_fraction(rr_s: float) -> float:
    """Stroke relative to a fully filled ventricle after a preceding RR of ``rr_s`` (Frank-Starling)."""
    return max(_FILL_MIN, 1.0 - math.exp(-max(rr_s - _FILL_T0_S, 0.0) / _FILL_TAU_S))


@dataclass(frozen=True)
class MechanicalParams:
    """Per-subject heart mechanics.

    pep_scale, lvet_scale: this subject's PEP and LVET relative to Weissler's regression.
    mc_delay_ms: mitral closure after QRS onset (30-60 ms).
    ivrt_ms: isovolumic relaxation, AC -> MO (70-90 ms).
    pulse_mm: heartbeat displacement pulse at the chest surface (0.1-0.5 mm).
    vib1_um, vib2_um: amplitudes of the MC/AO and AC/MO vibrations (tens of um).
    vib1_hz, vib2_hz: their centre frequencies (below the 50 Hz Nyquist of 100 Hz frames).
    vib1_width_ms, vib2_width_ms: their Gaussian widths b (ms).
    atrial_kick_frac: atrial contraction's share of ventricular filling (0.15-0.30).
    qs2_minus_qt_ms: QS2 - QT when beats carry their QT (Boudoulas 1982: 26 +- 13 ms).
    """

    pep_scale: float = 1.0
    lvet_scale: float = 1.0
    mc_delay_ms: float = 45.0
    ivrt_ms: float = 80.0
    pulse_mm: float = 0.3
    vib1_um: float = 30.0
    vib2_um: float = 20.0
    vib1_hz: float = 20.0
    vib2_hz: float = 25.0
    vib1_width_ms: float = 30.0
    vib2_width_ms: float = 25.0
    atrial_kick_frac: float = 0.2
    qs2_minus_qt_ms: float = 26.0

    def __post_init__(self) -> None:
        for name, lo, hi in (
            ("pep_scale", 0.7, 1.3),
            ("lvet_scale", 0.8, 1.2),
            ("mc_delay_ms", 30.0, 60.0),
            ("ivrt_ms", 70.0, 90.0),
            ("pulse_mm", 0.1, 0.5),
            ("vib1_um", 0.0, 100.0),
            ("vib2_um", 0.0, 100.0),
            ("vib1_hz", 5.0, 45.0),
            ("vib2_hz", 5.0, 45.0),
            ("vib1_width_ms", 5.0, 80.0),
            ("vib2_width_ms", 5.0, 80.0),
            ("atrial_kick_frac", 0.0, 0.4),
            ("qs2_minus_qt_ms", -40.0, 80.0),
        ):
            v = getattr(self, name)
            if not (lo <= v <= hi):
                raise ConfigError(f"MechanicalParams.{name}: expected {lo}..{hi}, got {v!r}")

    @classmethod
    def draw(cls, rng: np.random.Generator, sex: str = "M") -> MechanicalParams:
        """A plausible adult; women's chest pulse drawn slightly smaller."""
        if sex not in ("M", "F"):
            raise ConfigError(f"MechanicalParams.draw: sex: expected 'M' or 'F', got {sex!r}")
        pulse_hi = 0.45 if sex == "M" else 0.4
        kw = dict(
            pep_scale=float(np.clip(rng.normal(1.0, 0.08), 0.8, 1.2)),
            lvet_scale=float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.12)),
            mc_delay_ms=float(rng.uniform(30.0, 60.0)),
            ivrt_ms=float(rng.uniform(70.0, 90.0)),
            pulse_mm=float(rng.uniform(0.12, pulse_hi)),
            vib1_um=float(rng.uniform(15.0, 50.0)),
            vib2_um=float(rng.uniform(10.0, 40.0)),
            vib1_hz=float(rng.uniform(12.0, 30.0)),
            vib2_hz=float(rng.uniform(15.0, 35.0)),
            vib1_width_ms=float(rng.uniform(20.0, 40.0)),
            vib2_width_ms=float(rng.uniform(15.0, 35.0)),
        )
        # The coupling draws come from a spawned child so that the parent's stream (and with
        # it every later part of a subject drawn from the same rng) is what it was before.
        extra = rng.spawn(1)[0]
        kw["atrial_kick_frac"] = float(extra.uniform(0.15, 0.30))
        kw["qs2_minus_qt_ms"] = float(np.clip(extra.normal(26.0, 13.0), 0.0, 52.0))
        return cls(**kw)


@dataclass(frozen=True)
class ElectromechanicalCoupling:
    """A subject's electrical facts that the mechanics follow (defaults: a normal heart).

    frontal_axis_deg: frontal-plane QRS axis (0 = subject's left, +90 = feet); sets where
    the apex lies under the chest points. conduction: 'normal', 'RBBB' or 'LBBB' (conducted
    beats). infarct_wall: '', 'anterior', 'inferior' or 'lateral'; infarct_severity: share of
    that wall's local motion lost (0..1). qt_ratio: the subject's QT over the population's at
    the same rate (QS2 follows it), used for beats whose source gives no ``Beat.qt_s``.
    lvh: left ventricular hypertrophy / enlargement (apex displaced laterally and down).
    """

    frontal_axis_deg: float = _REF_AXIS_DEG
    conduction: str = "normal"
    infarct_wall: str = ""
    infarct_severity: float = 0.0
    qt_ratio: float = 1.0
    lvh: bool = False

    def __post_init__(self) -> None:
        if self.conduction not in _CONDUCTIONS:
            raise ConfigError(f"ElectromechanicalCoupling.conduction: expected one of {_CONDUCTIONS}, got {self.conduction!r}")
        if self.infarct_wall not in _WALLS:
            raise ConfigError(f"ElectromechanicalCoupling.infarct_wall: expected one of {_WALLS}, got {self.infarct_wall!r}")
        if not (0.0 <= self.infarct_severity <= 1.0):
            raise ConfigError(f"ElectromechanicalCoupling.infarct_severity: expected 0..1, got {self.infarct_severity!r}")
        if not (-180.0 <= self.frontal_axis_deg <= 180.0):
            raise ConfigError(f"ElectromechanicalCoupling.frontal_axis_deg: expected -180..180, got {self.frontal_axis_deg!r}")
        if not (0.7 <= self.qt_ratio <= 1.4):
            raise ConfigError(f"ElectromechanicalCoupling.qt_ratio: expected 0.7..1.4, got {self.qt_ratio!r}")

    def apex_m(self, ref_apex_m: tuple[float, float]) -> tuple[float, float]:
        """Apex (lateral, cranial) m from the chest centre for this axis; ``ref_apex_m`` is
        the apex of the standard layout (reached at the middle of the normal axis range)."""
        radius = math.hypot(*ref_apex_m) * (_LVH_APEX_RADIUS if self.lvh else 1.0)
        ang = math.radians(_REF_APEX_DEG + _APEX_AXIS_GAIN * (float(np.clip(self.frontal_axis_deg, -90.0, 150.0)) - _REF_AXIS_DEG))
        return radius * math.cos(ang), -radius * math.sin(ang)


def chest_pattern(
    lateral_m: np.ndarray, cranial_m: np.ndarray, scale: np.ndarray, delay_s: np.ndarray,
    coupling: ElectromechanicalCoupling, ref_apex_m: tuple[float, float], spread_m: float,
    delay_per_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per chest point (k,) heartbeat scale and delay (s) after the subject's couplings.

    ``scale`` and ``delay_s`` are the layout's values, drawn around ``ref_apex_m`` with a
    Gaussian falloff of ``spread_m`` and a delay of ``delay_per_m`` s per m from the apex:
    (1) the apex moves with the heart axis (scale re-weighted by the new falloff, renormalised
    to the same maximum; delays re-based on the new distances); (2) bundle branch block adds
    the dyssynchrony between the RV (medial) and LV (lateral) sides; (3) an infarcted wall's
    points lose ``infarct_severity`` of their motion. Returns new (k,) scale and delay arrays.
    """
    lat, cran = np.asarray(lateral_m, np.float64), np.asarray(cranial_m, np.float64)
    scale, delay = np.asarray(scale, np.float64), np.asarray(delay_s, np.float64)
    apex = coupling.apex_m(ref_apex_m)
    d0 = np.hypot(lat - ref_apex_m[0], cran - ref_apex_m[1])
    d1 = np.hypot(lat - apex[0], cran - apex[1])
    new_scale = scale * np.exp(-0.5 * (d1**2 - d0**2) / spread_m**2)
    if new_scale.max() > 0:
        new_scale *= scale.max() / new_scale.max()
    new_delay = delay + delay_per_m * ((d1 - d1.min()) - (d0 - d0.min()))
    w_lv = np.clip(1.0 - (apex[0] - lat) / _LV_RAMP_M, 0.0, 1.0)  # 1 at/after the apex
    if coupling.conduction == "RBBB":
        new_delay = new_delay + (1.0 - w_lv) * _RBBB_RV_DELAY_S
    elif coupling.conduction == "LBBB":
        new_delay = new_delay + (1.0 - w_lv) * _LBBB_RV_DELAY_S + w_lv * _LBBB_LATERAL_DELAY_S
    if coupling.infarct_wall and coupling.infarct_severity > 0:
        off = _TERRITORY_OFFSET_M[coupling.infarct_wall]
        dw = np.hypot(lat - apex[0] - off[0], cran - apex[1] - off[1])
        new_scale = new_scale * (1.0 - coupling.infarct_severity * np.exp(-0.5 * (dw / _TERRITORY_SPREAD_M) ** 2))
    return new_scale, new_delay


@dataclass(frozen=True)
class MechanicalEvents:
    """Valve events of one beat, seconds on the simulation clock.

    Timed from this beat's QRS onset and its preceding RR only, so when the next beat is
    premature (PVC, fast AF) its QRS onset can come before this beat's MO. ``p2_s``:
    pulmonary closure (before ``ac_s`` in a paradoxical split); ``stroke_rel``: the chest
    pulse relative to ``MechanicalParams.pulse_mm``; ``atrial_s``: peak of the atrial
    contraction before this beat (None: none, as in AF or a PVC).
    """

    beat_index: int
    qrs_onset_s: float
    mc_s: float  # mitral closure
    ao_s: float  # aortic opening (end of PEP)
    ac_s: float  # aortic closure (end of LVET), A2
    mo_s: float  # mitral opening (AC + IVRT)
    kind: str = "N"  # the beat's kind (Beat.kind)
    p2_s: float | None = None  # pulmonary valve closure, P2
    stroke_rel: float = 1.0
    atrial_s: float | None = None


class HeartMechanics:
    """``HeartMechanics(params, electrical, sex, seed, coupling=None, respiration=None)``:
    events and displacement over time.

    ``respiration``: any object with ``resp_level(t_s)`` (0 end-expiration .. 1 end-inhale),
    which widens the A2-P2 split in inspiration; None: always end-expiration.
    Deterministic given (params, electrical, coupling, seed): each beat's jitter comes from
    ``default_rng([seed, index < 0, |index|])`` (recordings number beats before 0 negatively),
    so any chunking gives the same values.
    """

    # margin around a query: from QRS onset to the end of the pulse tail is under 1.2 s at
    # the slowest rates the simulator makes; beats are asked for by R peak.
    _LOOKBACK_S = 1.5

    def __init__(self, params: MechanicalParams, electrical: ElectricalSource, sex: str, seed: int,
                 coupling: ElectromechanicalCoupling | None = None, respiration=None):
        if sex not in ("M", "F"):
            raise ConfigError(f"HeartMechanics: sex: expected 'M' or 'F', got {sex!r}")
        self.params = params
        self.electrical = electrical
        self.sex = sex
        self.seed = int(seed)
        self.coupling = coupling if coupling is not None else ElectromechanicalCoupling()
        self.respiration = respiration
        self._cache: dict[int, MechanicalEvents] = {}  # beat index -> events (recent only)
        self._span: tuple[float, float, list[Beat]] = (0.0, 0.0, [])  # beats with R in [lo, hi)
        self._normals = SeededNormals()

    def _previous_kind(self, beat: Beat, before: Beat | None) -> str | None:
        """Kind of the beat before ``beat`` (None: none); ``before`` when it is that beat."""
        r_prev = beat.r_time_s - beat.rr_s
        if before is not None and abs(before.r_time_s - r_prev) < 1e-6:
            return before.kind
        got = self.electrical.beats_between(r_prev - 1e-3, beat.r_time_s - 1e-6)
        return got[-1].kind if got else None

    def _events_for(self, beat: Beat, before: Beat | None) -> MechanicalEvents:
        """One beat's events at end-expiration (``events_between`` adds the inspiratory
        delay of P2); ``before``: the preceding beat when the caller has it."""
        p, c = self.params, self.coupling
        hr = 60.0 / min(max(float(beat.rr_s), 0.25), 2.5)  # np.clip's value (per beat: its call costs more)
        pep, lvet, _ = systolic_intervals_ms(hr, self.sex)
        z = self._normals([self.seed, int(beat.index < 0), abs(beat.index)], 3)  # default_rng's draws
        j = [min(max(v, -3.0), 3.0) * _BEAT_JITTER_MS for v in z.tolist()]  # np.clip's values
        ectopic = beat.kind == "V"
        conduction = _BEAT_CONDUCTION.get(str(getattr(beat, "conduction", "") or "").upper(), c.conduction)
        pep_ms = pep * p.pep_scale
        lvet_ms = lvet * p.lvet_scale
        qs2_ref_ms = pep_ms + lvet_ms  # A2 without the couplings that move it
        if ectopic:
            pep_ms += _PVC_PEP_MS
        elif conduction == "LBBB":
            pep_ms += _LBBB_PEP_MS
        qt_s = getattr(beat, "qt_s", None)
        if qt_s is not None and math.isfinite(qt_s) and qt_s > 0:
            # Boudoulas 1981/1982: QS2 parallels QT, longer by 26 +- 13 ms in health.
            lvet_ms = qt_s * 1e3 + p.qs2_minus_qt_ms - pep_ms
        else:
            lvet_ms += (c.qt_ratio - 1.0) * qs2_ref_ms  # QT parallels QS2 (Boudoulas 1981)
        lvet_ms -= _INFARCT_QS2_MS * c.infarct_severity
        lvet_ms = max(lvet_ms, 80.0)
        q = beat.qrs_onset_s
        mc = q + (p.mc_delay_ms + j[0]) * 1e-3
        ao = q + (pep_ms + j[1]) * 1e-3
        ac = ao + (lvet_ms + j[2]) * 1e-3
        ao = max(ao, mc + 0.005)
        # P2 follows the RV, which LBBB leaves on time and RBBB delays (inspiration: see
        # events_between).
        split_ms = 0.0
        if not ectopic and conduction == "RBBB":
            split_ms += _RBBB_P2_MS
        elif not ectopic and conduction == "LBBB":
            split_ms -= _LBBB_PEP_MS
        p2 = ac + split_ms * 1e-3
        stroke = filling_fraction(beat.rr_s) * (1.0 - _INFARCT_STROKE_LOSS * c.infarct_severity)
        atrial: float | None = q - _ATRIAL_LEAD_S
        if ectopic:
            stroke *= _PVC_PULSE_SCALE
            atrial = None  # the sinus P falls in or after the PVC: no atrial push before it
        elif beat.kind == "F":
            stroke *= 1.0 - _AF_STROKE_PER_KICK * p.atrial_kick_frac
            atrial = None
        if not ectopic and self._previous_kind(beat, before) == "V":
            stroke *= _POTENTIATION
        return MechanicalEvents(beat.index, q, mc, ao, ac, ac + p.ivrt_ms * 1e-3, beat.kind,
                                p2, stroke, atrial)

    def events_between(self, t0_s: float, t1_s: float) -> list[MechanicalEvents]:
        """Events of the beats whose QRS onset lies in [t0_s, t1_s), in time order."""
        beats = self._beats_between(t0_s, t1_s + 0.2)  # R follows QRS onset by < 0.2 s
        out: list[MechanicalEvents] = []
        new: list[int] = []  # positions in ``out`` of beats not cached yet
        for i, b in enumerate(beats):
            if t0_s <= b.qrs_onset_s < t1_s:
                ev = self._cache.get(b.index)
                if ev is None:
                    ev = self._events_for(b, beats[i - 1] if i else None)
                    new.append(len(out))
                out.append(ev)
        if new and self.respiration is not None:
            # P2 moves later in inspiration: the breathing level at each new beat's A2,
            # asked for in one call
            lv = np.asarray(self.respiration.resp_level(np.array([out[k].ac_s for k in new])), dtype=np.float64)
            for k, level in zip(new, lv.ravel()):
                shift = _SPLIT_INSP_MS * 1e-3 * min(max(float(level), 0.0), 1.0)
                # the event was built just above and is not shared yet: set P2 in place
                # (dataclasses.replace would cost a second construction per beat)
                object.__setattr__(out[k], "p2_s", out[k].p2_s + shift)
        for k in new:
            if len(self._cache) > 64:  # streaming: keep only the newest beats
                for old in sorted(self._cache)[:32]:
                    del self._cache[old]
            self._cache[out[k].beat_index] = out[k]
        return out

    def _beats_between(self, t0_s: float, t1_s: float) -> list[Beat]:
        """``electrical.beats_between`` (beats with R in [t0_s, t1_s)), through a cached span.

        Streaming queries overlap (each looks 1.5 s back): when one starts inside the cached
        span and ends past it, only the new part is asked for; beats with R in [a, b) and
        [b, c) are those in [a, c), so the answer does not depend on the query history.
        """
        lo, hi, beats = self._span
        if not (lo <= t0_s and t1_s <= hi):
            if lo <= t0_s <= hi:
                beats = [b for b in beats if b.r_time_s >= t0_s] + self.electrical.beats_between(hi, t1_s)
            else:
                beats = self.electrical.beats_between(t0_s, t1_s)
            self._span = (t0_s, t1_s, beats)
        return [b for b in beats if t0_s <= b.r_time_s < t1_s]

    def displacement_mm(self, t_s: np.ndarray, delay_s: float = 0.0) -> np.ndarray:
        """Chest displacement (mm, towards the radar) from the heart at times ``t_s`` (n,).

        delay_s: extra mechanical delay of this chest point (the pulse spreads over the chest).
        Returns (n,) float64: heartbeat pulse + MC/AO and AC/MO vibrations.
        """
        t = np.asarray(t_s, dtype=np.float64)
        return self.displacement_at_delays_mm(t.ravel(), np.array([delay_s]))[:, 0].reshape(t.shape)

    def displacement_at_delays_mm(self, t_s: np.ndarray, delays_s: np.ndarray) -> np.ndarray:
        """``displacement_mm`` for several chest points at once: (n,), (k,) -> (n, k) float64."""
        t = np.asarray(t_s, dtype=np.float64).ravel()
        delays = np.asarray(delays_s, dtype=np.float64).ravel()
        if t.size == 0 or delays.size == 0:
            return np.zeros((t.size, delays.size))
        # a beat acts from ~0.25 s before its QRS onset to ~1.2 s after it
        lo = float(t.min() - delays.max()) - self._LOOKBACK_S
        events = self.events_between(lo, float(t.max() - delays.min()) + 0.4)
        p = self.params
        beats = _beat_shapes(events, p)
        vib = np.array([[p.vib1_hz, p.vib1_width_ms * 1e-3],
                        [p.vib2_hz, p.vib2_width_ms * 1e-3],
                        [p.vib2_hz, p.vib2_width_ms * 1e-3]])
        acc = np.zeros((delays.size, t.size))
        if t.size < 2 or bool(np.all(t[1:] >= t[:-1])):  # the scene's chirp times: already in order
            _add_beats(t, delays, beats, vib, acc)
            return acc.T
        order = np.argsort(t, kind="stable")
        _add_beats(t[order], delays, beats, vib, acc)
        out = np.empty((t.size, delays.size))
        out[order, :] = acc.T
        return out


_N_SHAPE = 12


def _beat_shapes(events: list[MechanicalEvents], p: MechanicalParams) -> np.ndarray:
    """(n_events, 12) float64 per beat: pulse peak time, rise and fall widths (s), pulse
    amplitude (mm); then (centre s, amplitude mm) of the MC/AO vibration, of A2, of P2 and of
    the presystolic atrial bump (amplitude 0: absent)."""
    out = np.zeros((len(events), _N_SHAPE))
    a2_amp = p.vib2_um * 1e-3 * (1.0 - _P2_SHARE)
    p2_amp = p.vib2_um * 1e-3 * _P2_SHARE
    for i, ev in enumerate(events):
        # Slow pulse: asymmetric Gaussian rising from AO to a peak in late ejection and falling
        # back through isovolumic relaxation into early diastole.
        lvet_s = ev.ac_s - ev.ao_s
        peak = ev.ao_s + 0.6 * lvet_s
        pulse = p.pulse_mm * ev.stroke_rel
        out[i, 0] = peak
        out[i, 1] = max((peak - ev.mc_s) / 3.0, 0.01)
        out[i, 2] = max((ev.mo_s + 0.1 - peak) / 3.0, 0.01)
        out[i, 3] = pulse
        out[i, 4] = 0.5 * (ev.mc_s + ev.ao_s)
        out[i, 5] = p.vib1_um * 1e-3
        # the second sound sits between closure and mitral opening (radarODE); P2 keeps
        # its offset from A2
        out[i, 6] = 0.5 * (ev.ac_s + ev.mo_s)
        out[i, 7] = a2_amp
        out[i, 8] = out[i, 6] + ((ev.p2_s if ev.p2_s is not None else ev.ac_s) - ev.ac_s)
        out[i, 9] = p2_amp
        if ev.atrial_s is not None:
            out[i, 10] = ev.atrial_s
            out[i, 11] = _ATRIAL_BUMP_PER_KICK * p.atrial_kick_frac * p.pulse_mm
    return out


@njit(cache=True)
def _add_beats(t_sorted, delays, beats, vib, acc):
    """acc[j, i] += every beat's pulse, atrial bump and vibrations at t_sorted[i] - delays[j].

    t_sorted (n,) ascending s; beats (n_events, 12) from ``_beat_shapes``; vib (3, 2):
    frequency (Hz) and Gaussian width b (s) of the MC/AO, A2 and P2 vibrations; acc (k, n) mm.
    Each shape is evaluated only over its support (pulse +-4.5 sigma, atrial bump +-4 sigma,
    vibrations +-3.5 b); shapes of amplitude 0 are skipped.
    """
    n = t_sorted.shape[0]
    ts = np.empty(n)
    two_pi = 2.0 * np.pi
    for j in range(delays.shape[0]):
        for i in range(n):
            ts[i] = t_sorted[i] - delays[j]
        a = acc[j]
        for e in range(beats.shape[0]):
            peak, s_rise, s_fall, amp = beats[e, 0], beats[e, 1], beats[e, 2], beats[e, 3]
            lo = np.searchsorted(ts, peak - _PULSE_SIGMAS * s_rise)
            hi = np.searchsorted(ts, peak + _PULSE_SIGMAS * s_fall)
            for i in range(lo, hi):
                x = ts[i] - peak
                sd = s_rise if x < 0 else s_fall
                a[i] += amp * math.exp(-0.5 * (x / sd) ** 2)
            amp_a = beats[e, 11]
            if amp_a != 0.0:
                centre = beats[e, 10]
                lo = np.searchsorted(ts, centre - _ATRIAL_SIGMAS * _ATRIAL_SIGMA_S)
                hi = np.searchsorted(ts, centre + _ATRIAL_SIGMAS * _ATRIAL_SIGMA_S)
                for i in range(lo, hi):
                    x = (ts[i] - centre) / _ATRIAL_SIGMA_S
                    a[i] += amp_a * math.exp(-0.5 * x * x)
            for v in range(3):
                amp_v = beats[e, 5 + 2 * v]
                if amp_v == 0.0:
                    continue
                centre = beats[e, 4 + 2 * v]
                f_hz, b = vib[v, 0], vib[v, 1]
                lo = np.searchsorted(ts, centre - _VIB_WIDTHS * b)
                hi = np.searchsorted(ts, centre + _VIB_WIDTHS * b)
                for i in range(lo, hi):
                    x = ts[i] - centre
                    a[i] += amp_v * math.cos(two_pi * f_hz * x) * math.exp(-((x / b) ** 2))
