"""Heart mechanics timed from the electrical beats: valve events and chest displacement.

Systolic time intervals follow Weissler (1968) from each beat's QRS onset and the local heart
rate (the beat's own preceding RR: filling, hence ejection, follows it). Per subject the
intervals are scaled (electromechanical delays differ between people); per beat they jitter by
a few ms. The chest displacement is a slow heartbeat pulse (0.1-0.5 mm, systole) plus the two
prominent vibrations of the radarODE model (eq. 3-4 of the radarODE-MTL paper): one around
MC/AO, one around AC/MO, each ``a cos(2 pi f (t - T)) exp(-(t - T)^2 / b^2)``; the cosine is
referenced to the event time T so that the vibration's shape is the same in every beat.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from cardioradar.errors import ConfigError
from hardware_sim.subject.types import Beat, ElectricalSource

log = logging.getLogger(__name__)

_BEAT_JITTER_MS = 2.0  # SD of per-beat timing jitter of each interval (clipped at 3 SD)
_PULSE_SIGMAS = 4.5  # the pulse is evaluated over +-4.5 sigma (tails below 5e-5 of its peak)
_VIB_WIDTHS = 3.5  # vibrations over +-3.5 b (exp(-12) of their peak)
_PVC_PULSE_SCALE = 0.6  # a premature ventricular beat ejects less: smaller chest pulse


def systolic_intervals_ms(hr_bpm: float | np.ndarray, sex: str) -> tuple:
    """Weissler's regressions: (PEP, LVET, QS2) in ms at heart rate ``hr_bpm``, sex 'M' or 'F'.

    Note PEP + LVET differs from QS2 by 2-5 ms (separate regressions); the simulator times
    AO = QRS onset + PEP and AC = AO + LVET.
    """
    hr = np.asarray(hr_bpm, dtype=np.float64)
    if sex == "M":
        pep, qs2, lvet = 131.0 - 0.4 * hr, 546.0 - 2.1 * hr, 413.0 - 1.7 * hr
    elif sex == "F":
        pep, qs2, lvet = 133.0 - 0.4 * hr, 549.0 - 2.0 * hr, 418.0 - 1.6 * hr
    else:
        raise ConfigError(f"systolic_intervals_ms: sex: expected 'M' or 'F', got {sex!r}")
    if hr.ndim == 0:
        return float(pep), float(lvet), float(qs2)
    return pep, lvet, qs2


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
        return cls(
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


@dataclass(frozen=True)
class MechanicalEvents:
    """Valve events of one beat, seconds on the simulation clock.

    Timed from this beat's QRS onset and its preceding RR only, so when the next beat is
    premature (PVC, fast AF) its QRS onset can come before this beat's MO.
    """

    beat_index: int
    qrs_onset_s: float
    mc_s: float  # mitral closure
    ao_s: float  # aortic opening (end of PEP)
    ac_s: float  # aortic closure (end of LVET)
    mo_s: float  # mitral opening (AC + IVRT)
    kind: str = "N"  # the beat's kind (Beat.kind)


class HeartMechanics:
    """``HeartMechanics(params, electrical, sex, seed)``: events and displacement over time.

    Deterministic given (params, electrical, seed): each beat's jitter comes from
    ``default_rng([seed, index < 0, |index|])`` (recordings number beats before 0 negatively), so any chunking gives the same values.
    """

    # margin around a query: from QRS onset to the end of the pulse tail is under 1.2 s at
    # the slowest rates the simulator makes; beats are asked for by R peak.
    _LOOKBACK_S = 1.5

    def __init__(self, params: MechanicalParams, electrical: ElectricalSource, sex: str, seed: int):
        if sex not in ("M", "F"):
            raise ConfigError(f"HeartMechanics: sex: expected 'M' or 'F', got {sex!r}")
        self.params = params
        self.electrical = electrical
        self.sex = sex
        self.seed = int(seed)
        self._cache: dict[int, MechanicalEvents] = {}  # beat index -> events (recent only)
        self._span: tuple[float, float, list[Beat]] = (0.0, 0.0, [])  # beats with R in [lo, hi)

    def _events_for(self, beat: Beat) -> MechanicalEvents:
        got = self._cache.get(beat.index)
        if got is not None:
            return got
        p = self.params
        hr = 60.0 / float(np.clip(beat.rr_s, 0.25, 2.5))
        pep, lvet, _ = systolic_intervals_ms(hr, self.sex)
        rng = np.random.default_rng([self.seed, int(beat.index < 0), abs(beat.index)])
        j = np.clip(rng.standard_normal(3), -3, 3)
        j *= _BEAT_JITTER_MS
        q = beat.qrs_onset_s
        mc = q + (p.mc_delay_ms + j[0]) * 1e-3
        ao = q + (pep * p.pep_scale + j[1]) * 1e-3
        ac = ao + (lvet * p.lvet_scale + j[2]) * 1e-3
        ev = MechanicalEvents(beat.index, q, mc, max(ao, mc + 0.005), ac, ac + p.ivrt_ms * 1e-3, beat.kind)
        if len(self._cache) > 64:  # streaming: keep only the newest beats
            for k in sorted(self._cache)[:32]:
                del self._cache[k]
        self._cache[beat.index] = ev
        return ev

    def events_between(self, t0_s: float, t1_s: float) -> list[MechanicalEvents]:
        """Events of the beats whose QRS onset lies in [t0_s, t1_s), in time order."""
        beats = self._beats_between(t0_s, t1_s + 0.2)  # R follows QRS onset by < 0.2 s
        return [self._events_for(b) for b in beats if t0_s <= b.qrs_onset_s < t1_s]

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
        out = np.zeros((t.size, delays.size))
        if t.size == 0 or delays.size == 0:
            return out
        # a beat acts from ~0.25 s before its QRS onset to ~1.2 s after it
        lo = float(t.min() - delays.max()) - self._LOOKBACK_S
        events = self.events_between(lo, float(t.max() - delays.min()) + 0.4)
        order = np.argsort(t, kind="stable")
        p = self.params
        beats = _beat_shapes(events, p)
        vib = np.array([[p.vib1_um * 1e-3, p.vib1_hz, p.vib1_width_ms * 1e-3],
                        [p.vib2_um * 1e-3, p.vib2_hz, p.vib2_width_ms * 1e-3]])
        acc = np.zeros((delays.size, t.size))
        _add_beats(t[order], delays, beats, vib, acc)
        out[order, :] = acc.T
        return out


def _beat_shapes(events: list[MechanicalEvents], p: MechanicalParams) -> np.ndarray:
    """(n_events, 6) float64 per beat: pulse peak time, rise and fall widths (s), pulse
    amplitude (mm), centres of the MC/AO and AC/MO vibrations (s)."""
    out = np.empty((len(events), 6))
    for i, ev in enumerate(events):
        # Slow pulse: asymmetric Gaussian rising from AO to a peak in late ejection and falling
        # back through isovolumic relaxation into early diastole.
        lvet_s = ev.ac_s - ev.ao_s
        peak = ev.ao_s + 0.6 * lvet_s
        out[i, 0] = peak
        out[i, 1] = max((peak - ev.mc_s) / 3.0, 0.01)
        out[i, 2] = max((ev.mo_s + 0.1 - peak) / 3.0, 0.01)
        out[i, 3] = p.pulse_mm * (_PVC_PULSE_SCALE if ev.kind == "V" else 1.0)
        out[i, 4] = 0.5 * (ev.mc_s + ev.ao_s)
        out[i, 5] = 0.5 * (ev.ac_s + ev.mo_s)
    return out


@njit(cache=True)
def _add_beats(t_sorted, delays, beats, vib, acc):
    """acc[j, i] += every beat's pulse and vibrations at time t_sorted[i] - delays[j].

    t_sorted (n,) ascending s; beats (n_events, 6) from ``_beat_shapes``; vib (2, 3): amplitude
    (mm), frequency (Hz) and Gaussian width b (s) of the two vibrations; acc (k, n) mm. Each
    shape is evaluated only over its support (pulse +-4.5 sigma, vibrations +-3.5 b).
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
            for v in range(2):
                centre = beats[e, 4 + v]
                amp_v, f_hz, b = vib[v, 0], vib[v, 1], vib[v, 2]
                lo = np.searchsorted(ts, centre - _VIB_WIDTHS * b)
                hi = np.searchsorted(ts, centre + _VIB_WIDTHS * b)
                for i in range(lo, hi):
                    x = ts[i] - centre
                    a[i] += amp_v * math.cos(two_pi * f_hz * x) * math.exp(-((x / b) ** 2))
