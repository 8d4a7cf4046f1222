"""Breathing: a breath-by-breath chest excursion with a parabolic inhale and an exponential exhale.

Each breath k starts at ``start_s``, inhales for ``inhale_s`` (a smooth rise from 0 to its
depth) and exhales for ``exhale_s`` (fast at first with a slow, exponential-like tail back to 0),
the asymmetry of radar vital-sign simulators, but with smooth turns at end-inhale and end-exhale
(continuous slope and curvature) instead of their kinks. The breathing rate drifts slowly (a few
sinusoids of random phase, periods of minutes) and every breath jitters in length, Ti/T and depth.

The breath sequence is sequential (each breath starts where the previous one ended), so it is
generated forward in batches of ``_BATCH`` breaths; batch b's random draws come from
``default_rng([seed, b])`` and a checkpoint (index, start time) is kept every batch, so any span
can be asked for in any order with the same values and bounded memory.
"""

from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from cardioradar.errors import ConfigError

log = logging.getLogger(__name__)

_BATCH = 64  # breaths generated per random batch
_KEEP_BATCHES = 4  # batches of breaths kept in memory behind the newest one asked for
_N_DRIFT = 3  # sinusoids making up the slow rate drift


@njit(cache=True)
def _smoothstep1(x):
    """C2 step from 0 (x <= 0) to 1 (x >= 1): 6x^5 - 15x^4 + 10x^3."""
    x = min(max(x, 0.0), 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


@njit(cache=True)
def _exhale_arg(u, ti, te, minus_k, out):
    """out = -k * clip((u - ti) / te, 0, 1): the exhale's argument of expm1."""
    for j in range(u.shape[0]):
        out[j] = minus_k * min(max((u[j] - ti[j]) / te[j], 0.0), 1.0)


@njit(cache=True)
def _level(u, ti, em1, norm, out):
    """out = inhale where u < ti, else exhale (``_evaluate``'s level); em1 = expm1 of the
    exhale argument, norm = -expm1(-k)."""
    for j in range(u.shape[0]):
        if u[j] < ti[j]:
            out[j] = _smoothstep1(u[j] / ti[j])
        else:
            out[j] = 1.0 - _smoothstep1(-em1[j] / norm)


@dataclass(frozen=True)
class BreathingParams:
    """Per-subject breathing.

    rate_hz: mean breathing rate (0.1-0.5 Hz).
    depth_mm: mean chest excursion peak to peak (1-12 mm), towards the radar on inhale.
    inhale_frac: Ti / (Ti + Te) (about 0.4 at rest: Ti 2 s, Te 3 s at 12 breaths/min).
    exhale_tau_frac: time constant of the exhale as a fraction of Te (smaller: faster exhale).
    rate_drift_frac: peak relative drift of the rate over minutes.
    breath_jitter_frac: SD of the relative breath-to-breath change of period and depth.
    """

    rate_hz: float = 0.25
    depth_mm: float = 6.0
    inhale_frac: float = 0.4
    exhale_tau_frac: float = 0.3
    rate_drift_frac: float = 0.1
    breath_jitter_frac: float = 0.08

    def __post_init__(self) -> None:
        _check_range("rate_hz", self.rate_hz, 0.1, 0.5)
        _check_range("depth_mm", self.depth_mm, 1.0, 12.0)
        _check_range("inhale_frac", self.inhale_frac, 0.25, 0.5)
        _check_range("exhale_tau_frac", self.exhale_tau_frac, 0.1, 1.0)
        _check_range("rate_drift_frac", self.rate_drift_frac, 0.0, 0.3)
        _check_range("breath_jitter_frac", self.breath_jitter_frac, 0.0, 0.2)

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        rate_hz: float | None = None,
        depth_mm: float | None = None,
        asleep: bool = False,
    ) -> BreathingParams:
        """A plausible adult at rest (12-20 breaths/min) or asleep (slower, more regular)."""
        if rate_hz is None:
            rate_hz = rng.uniform(0.18, 0.26) if asleep else rng.uniform(0.2, 0.33)
        if depth_mm is None:
            depth_mm = rng.uniform(3.0, 10.0)
        return cls(
            rate_hz=float(np.clip(rate_hz, 0.1, 0.5)),
            depth_mm=float(np.clip(depth_mm, 1.0, 12.0)),
            inhale_frac=float(rng.uniform(0.36, 0.44)),
            exhale_tau_frac=float(rng.uniform(0.22, 0.35)),
            rate_drift_frac=float(rng.uniform(0.02, 0.06) if asleep else rng.uniform(0.05, 0.12)),
            breath_jitter_frac=float(rng.uniform(0.03, 0.06) if asleep else rng.uniform(0.05, 0.1)),
        )


@dataclass(frozen=True)
class Breath:
    """One breath: starts at end-exhale, inhales for ``inhale_s``, exhales for ``exhale_s``."""

    index: int
    start_s: float
    inhale_s: float
    exhale_s: float
    depth_mm: float  # excursion at end-inhale

    @property
    def end_s(self) -> float:
        return self.start_s + self.inhale_s + self.exhale_s


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not (lo <= value <= hi):
        raise ConfigError(f"BreathingParams.{name}: expected {lo}..{hi}, got {value!r}")


class Breathing:
    """Deterministic breathing of one subject: ``Breathing(params, seed)``.

    Provides the ``respiration`` interface the electrical model takes
    (``resp_phase_rad``, ``resp_level``) and the chest excursion ``displacement_mm``.
    """

    def __init__(self, params: BreathingParams, seed: int):
        self.params = params
        self.seed = int(seed)
        drift_rng = np.random.default_rng([self.seed, 0x0B5EA7])
        self._drift_f_hz = drift_rng.uniform(1 / 600.0, 1 / 90.0, _N_DRIFT)
        self._drift_ph = drift_rng.uniform(0, 2 * np.pi, _N_DRIFT)
        # checkpoints[b] = start time of breath b * _BATCH (one float per batch: bounded memory)
        self._checkpoints: list[float] = [0.0]
        self._batches: dict[int, np.ndarray] = {}  # batch -> (_BATCH, 4) start, Ti, Te, depth

    # ---- the breath sequence ------------------------------------------------------------
    def _rate_hz(self, t_s: float) -> float:
        p = self.params
        drift = np.mean(np.sin(2 * np.pi * self._drift_f_hz * t_s + self._drift_ph))
        return p.rate_hz * (1.0 + p.rate_drift_frac * math.sqrt(2.0) * drift)

    def _generate_batch(self, b: int, start_s: float) -> np.ndarray:
        p = self.params
        rng = np.random.default_rng([self.seed, b])
        z = rng.standard_normal((_BATCH, 3))
        z = np.clip(z, -2.5, 2.5)  # bounded jitter: no absurd breaths
        out = np.empty((_BATCH, 4))
        t = start_s
        for i in range(_BATCH):
            period = (1.0 / self._rate_hz(t)) * (1.0 + p.breath_jitter_frac * z[i, 0])
            frac = np.clip(p.inhale_frac * (1.0 + 0.5 * p.breath_jitter_frac * z[i, 1]), 0.2, 0.55)
            depth = max(0.2, p.depth_mm * (1.0 + p.breath_jitter_frac * z[i, 2]))
            out[i] = (t, period * frac, period * (1.0 - frac), depth)
            t += period
        return out

    def _extend_checkpoints(self, b: int) -> None:
        """Walk forward until the start time of batch ``b`` is known (only scalars kept)."""
        while len(self._checkpoints) <= b:
            k = len(self._checkpoints) - 1
            arr = self._batches.get(k)
            if arr is None:
                arr = self._generate_batch(k, self._checkpoints[k])
            self._checkpoints.append(float(arr[-1, 0] + arr[-1, 1] + arr[-1, 2]))

    def _batch(self, b: int) -> np.ndarray:
        got = self._batches.get(b)
        if got is not None:
            return got
        self._extend_checkpoints(b)
        arr = self._generate_batch(b, self._checkpoints[b])
        self._batches[b] = arr
        for old in [k for k in self._batches if abs(k - b) > _KEEP_BATCHES]:
            del self._batches[old]
        return arr

    def _find_batch(self, t_s: float) -> int:
        """Index of the batch whose span holds ``t_s`` (t_s >= 0)."""
        while self._checkpoints[-1] <= t_s:
            self._extend_checkpoints(len(self._checkpoints))
        return max(0, bisect.bisect_right(self._checkpoints, t_s) - 1)

    def _rows_between(self, t0_s: float, t1_s: float) -> tuple[np.ndarray, int]:
        """Breath rows overlapping [t0_s, t1_s) and the index of the first row.

        Before t = 0 (the heart model looks a few beats back) breath 0 repeats backwards
        (indices -1, -2, ...), so phase and level stay continuous through 0.
        """
        lo = max(0.0, t0_s)
        b0 = self._find_batch(lo)
        b1 = self._find_batch(max(lo, t1_s))
        rows = np.concatenate([self._batch(b) for b in range(b0, b1 + 1)])
        base = b0 * _BATCH
        if t0_s < 0.0:
            first_row = self._batch(0)[0]
            period = first_row[1] + first_row[2]
            n_neg = int(math.ceil(-t0_s / period))
            neg = np.tile(first_row, (n_neg, 1))
            neg[:, 0] = np.arange(-n_neg, 0) * period
            rows = np.concatenate([neg, rows])
            base -= n_neg
        ends = rows[:, 0] + rows[:, 1] + rows[:, 2]
        keep = (ends > t0_s) & (rows[:, 0] < max(t1_s, t0_s + 1e-12))
        first = int(np.argmax(keep)) if keep.any() else 0
        return rows[keep], base + first

    def breaths_between(self, t0_s: float, t1_s: float) -> list[Breath]:
        """Breaths that start in [t0_s, t1_s), in time order."""
        rows, first = self._rows_between(t0_s, t1_s)
        return [
            Breath(first + i, float(r[0]), float(r[1]), float(r[2]), float(r[3]))
            for i, r in enumerate(rows)
            if t0_s <= r[0] < t1_s
        ]

    # ---- waveforms ----------------------------------------------------------------------
    def _evaluate(self, t_s: np.ndarray, with_level: bool = True
                  ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """``with_level``: (None, level 0..1, depth of the breath in mm), the level's elementwise
        steps in numba (the scene asks for it at every chirp: ~0.3 us per frame less than numpy
        temporaries); else (breath index + fraction of breath, None, None) (the heart's beat
        schedule asks for the phase once per beat)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        if t.size and not np.all(np.isfinite(t)):
            raise ConfigError("Breathing: times must be finite seconds, got NaN or inf")
        if t.size == 0:
            e = np.empty(0)
            return e, e, e
        rows, first = self._rows_between(float(t.min()), float(t.max()) + 1e-9)
        starts = rows[:, 0]
        # np.minimum/np.maximum: np.clip's values without its call overhead (once per beat)
        i = np.minimum(np.maximum(np.searchsorted(starts, t, side="right") - 1, 0), len(rows) - 1)
        start, ti, te, depth = rows[i, 0], rows[i, 1], rows[i, 2], rows[i, 3]
        u = t - start
        period = ti + te
        if not with_level:
            return (first + i) + np.minimum(np.maximum(u / period, 0.0), 1.0), None, None
        # Both pieces are quintic smoothsteps, so slope and curvature are 0 at end-inhale and
        # end-exhale: the chest turns smoothly (C2), as a real one does. A kink would put a
        # broadband spike into the second derivative, i.e. breathing into the band of the
        # heart's valve vibrations. The exhale runs on exponentially warped time: fast at
        # first, a slow tail (time constant exhale_tau_frac * Te). Two numba passes around
        # numpy's expm1 (kept: its AVX-512 results are what the stream digests hold).
        k = 1.0 / self.params.exhale_tau_frac
        arg = np.empty(t.size)
        _exhale_arg(u, ti, te, -k, arg)
        level = np.empty(t.size)
        _level(u, ti, np.expm1(arg), -np.expm1(-k), level)
        return None, level, depth

    def resp_phase_rad(self, t_s: np.ndarray) -> np.ndarray:
        """Breathing phase (rad), continuous, +2 pi per breath, 0 at the first end-exhale.

        t_s: (n,) seconds -> (n,) float64.
        """
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        if t.size == 1:  # the beat schedule asks once per beat: look the breath up directly
            one = self._phase_one(float(t[0]))
            if one is not None:
                return np.array([one])
        cycles, _, _ = self._evaluate(t_s, with_level=False)
        return 2.0 * np.pi * cycles

    def _phase_one(self, t: float) -> float | None:
        """``resp_phase_rad`` at one time, the same value with the same operations (the breath
        that ``_evaluate`` picks: last start <= t); None where that takes the general path
        (t < 0, not finite, a batch's first or last breath)."""
        if not (t >= 0.0 and math.isfinite(t)):
            return None
        b = self._find_batch(t)
        rows = self._batch(b)
        i = int(np.searchsorted(rows[:, 0], t, side="right")) - 1
        if i < 0 or i + 1 >= len(rows) or not t < rows[i + 1, 0]:
            return None
        start, ti, te = float(rows[i, 0]), float(rows[i, 1]), float(rows[i, 2])
        if not start + ti + te > t:  # (_rows_between keeps only breaths that end after t)
            return None
        return 2.0 * np.pi * (float(b * _BATCH + i) + min(max((t - start) / (ti + te), 0.0), 1.0))

    def resp_level(self, t_s: np.ndarray) -> np.ndarray:
        """Lung volume proxy: 0 at end-exhale, 1 at end-inhale. (n,) -> (n,) float64."""
        return self._evaluate(t_s)[1]

    def displacement_mm(self, t_s: np.ndarray) -> np.ndarray:
        """Chest excursion towards the radar in mm (0 at end-exhale). (n,) -> (n,) float64."""
        _, level, depth = self._evaluate(t_s)
        return level * depth
