"""Random body movement: Poisson-timed rigid translations of the torso.

No sourced statistics exist (see the physiology spec, section 4), so the model is simple and
stated: two independent Poisson processes, mild (talking, limb movement: a few mm) and
extensive (torso movement: cm, and with probability ``shift_prob`` the subject settles into a
new resting position). Each event lasts 0.5-5 s; during it the torso swings smoothly
(window sin^2, so offset and velocity are continuous) along a random direction.

Events are generated per block of ``_BLOCK_S`` seconds from ``default_rng([seed, block])``;
a new resting position is drawn around the original one (not added to the last), so the
position at any time depends only on the last shifting event before it: random access,
bounded memory, and no drift out of the radar's range window over a night.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import ConfigError

log = logging.getLogger(__name__)

_BLOCK_S = 600.0
_MAX_DURATION_S = 5.0
_MIN_DURATION_S = 0.5
_KINDS = ("mild", "extensive")


@dataclass(frozen=True)
class MovementParams:
    """Per-subject movement statistics.

    mild_per_h, extensive_per_h: Poisson rates (events per hour).
    mild_mm, extensive_mm: (low, high) peak excursion of an event, uniform.
    duration_s: (low, high) duration of an event, uniform within 0.5-5 s.
    shift_prob: chance an extensive event leaves the torso at a new resting position.
    rest_sd_mm: SD (per axis) of a new resting position around the original one.
    """

    mild_per_h: float = 6.0
    extensive_per_h: float = 2.0
    mild_mm: tuple[float, float] = (2.0, 10.0)
    extensive_mm: tuple[float, float] = (10.0, 50.0)
    duration_s: tuple[float, float] = (0.5, 5.0)
    shift_prob: float = 0.5
    rest_sd_mm: float = 15.0

    def __post_init__(self) -> None:
        for name in ("mild_per_h", "extensive_per_h"):
            v = getattr(self, name)
            if not (0.0 <= v <= 600.0):
                raise ConfigError(f"MovementParams.{name}: expected 0..600 per hour, got {v!r}")
        for name, lo, hi in (
            ("mild_mm", 0.1, 100.0),
            ("extensive_mm", 1.0, 200.0),
            ("duration_s", _MIN_DURATION_S, _MAX_DURATION_S),
        ):
            a, b = getattr(self, name)
            if not (lo <= a <= b <= hi):
                raise ConfigError(
                    f"MovementParams.{name}: expected low <= high within {lo}..{hi}, got {(a, b)!r}"
                )
        if not (0.0 <= self.shift_prob <= 1.0):
            raise ConfigError(f"MovementParams.shift_prob: expected 0..1, got {self.shift_prob!r}")
        if not (0.0 <= self.rest_sd_mm <= 100.0):
            raise ConfigError(f"MovementParams.rest_sd_mm: expected 0..100, got {self.rest_sd_mm!r}")

    @classmethod
    def draw(cls, rng: np.random.Generator, restlessness: str = "rest") -> MovementParams:
        """'still' (asleep, few events), 'rest' (awake lying/sitting) or 'restless'."""
        ranges = {"still": (0.5, 3.0, 0.2, 1.0), "rest": (3.0, 10.0, 0.5, 3.0), "restless": (20.0, 60.0, 6.0, 20.0)}
        if restlessness not in ranges:
            raise ConfigError(
                f"MovementParams.draw: restlessness: expected one of {sorted(ranges)}, got {restlessness!r}"
            )
        m0, m1, e0, e1 = ranges[restlessness]
        return cls(
            mild_per_h=float(rng.uniform(m0, m1)),
            extensive_per_h=float(rng.uniform(e0, e1)),
            mild_mm=(2.0, float(rng.uniform(6.0, 12.0))),
            extensive_mm=(10.0, float(rng.uniform(30.0, 60.0))),
            duration_s=(0.5, 5.0),
            shift_prob=float(rng.uniform(0.3, 0.7)),
            rest_sd_mm=float(rng.uniform(8.0, 20.0)),
        )


@dataclass(frozen=True)
class MovementEvent:
    """One movement: [start_s, end_s), kind 'mild' or 'extensive'.

    direction: (3,) unit vector of the swing (radar frame); amplitude_m: its peak.
    swing_hz: rate of the swing; rest_after_m: (3,) resting offset after the event, or None
    when the event does not move the resting position.
    """

    start_s: float
    end_s: float
    kind: str
    amplitude_m: float
    direction: tuple[float, float, float]
    swing_hz: float
    phase_rad: float
    rest_after_m: tuple[float, float, float] | None


def _unit(v: np.ndarray) -> tuple[float, float, float]:
    v = v / max(np.linalg.norm(v), 1e-12)
    return float(v[0]), float(v[1]), float(v[2])


class BodyMovement:
    """``BodyMovement(params, seed)``: movement events and the torso offset over time."""

    def __init__(self, params: MovementParams, seed: int):
        self.params = params
        self.seed = int(seed)
        self._blocks: dict[int, list[MovementEvent]] = {}
        self._rest_memo: dict[tuple, np.ndarray] = {}

    def _block(self, b: int) -> list[MovementEvent]:
        got = self._blocks.get(b)
        if got is not None:
            return got
        p = self.params
        rng = np.random.default_rng([self.seed, b])
        events = []
        t_start = b * _BLOCK_S
        for kind, rate_h, (a0, a1) in (
            ("mild", p.mild_per_h, p.mild_mm),
            ("extensive", p.extensive_per_h, p.extensive_mm),
        ):
            n = int(rng.poisson(rate_h * _BLOCK_S / 3600.0))
            starts = np.sort(rng.uniform(t_start, t_start + _BLOCK_S, n))
            for s in starts:
                dur = float(rng.uniform(*p.duration_s))
                rest = None
                shift = kind == "extensive" and rng.uniform() < p.shift_prob
                draws = rng.standard_normal(6)  # always drawn: fixed stream layout
                if shift:
                    rest = tuple(float(x) for x in draws[3:] * p.rest_sd_mm * 1e-3)
                events.append(
                    MovementEvent(
                        start_s=float(s),
                        end_s=float(s) + dur,
                        kind=kind,
                        amplitude_m=float(rng.uniform(a0, a1)) * 1e-3,
                        direction=_unit(draws[:3]),
                        swing_hz=float(rng.uniform(0.3, 1.5)),
                        phase_rad=float(rng.uniform(0, 2 * np.pi)),
                        rest_after_m=rest,
                    )
                )
        events.sort(key=lambda e: e.start_s)
        if len(self._blocks) > 8:  # streaming: keep a few blocks only
            for k in sorted(self._blocks, key=lambda k: abs(k - b))[-4:]:
                del self._blocks[k]
        self._blocks[b] = events
        return events

    def events_between(self, t0_s: float, t1_s: float) -> list[MovementEvent]:
        """Events overlapping [t0_s, t1_s), in order of start time."""
        b0 = int(np.floor(max(0.0, t0_s - _MAX_DURATION_S) / _BLOCK_S))
        b1 = int(np.floor(max(0.0, t1_s) / _BLOCK_S))
        out = []
        for b in range(b0, b1 + 1):
            out.extend(e for e in self._block(b) if e.end_s > t0_s and e.start_s < t1_s)
        return out

    def _shifts_before(self, t_s: float, strict: bool = False) -> MovementEvent | None:
        """The latest-starting shifting event with start <= t_s (< t_s when ``strict``)."""
        b = int(np.floor(max(0.0, t_s) / _BLOCK_S))
        while b >= 0:
            for e in reversed(self._block(b)):
                if e.rest_after_m is not None and (e.start_s < t_s if strict else e.start_s <= t_s):
                    return e
            b -= 1
        return None

    def _rest_from(self, e: MovementEvent) -> np.ndarray:
        """Resting offset (3,) at the start of shifting event ``e``: where its blend begins.

        Normally the previous shift's new rest; if that shift was still under way when ``e``
        began, its blend value at e.start_s (so the rest position never jumps).
        """
        key = (e.start_s, e.kind)
        got = self._rest_memo.get(key)
        if got is not None:
            return got
        prev = self._shifts_before(e.start_s, strict=True)
        if prev is None:
            r = np.zeros(3)
        else:
            r = self._rest_curve(prev, np.array([e.start_s]))[0]
        if len(self._rest_memo) > 256:
            self._rest_memo.clear()
        self._rest_memo[key] = r
        return r

    def _rest_curve(self, e: MovementEvent, t: np.ndarray) -> np.ndarray:
        """Resting offset (n, 3) at times t (all >= e.start_s) while ``e`` is the latest shift."""
        r0 = self._rest_from(e)
        r1 = np.asarray(e.rest_after_m)
        u = np.clip((t - e.start_s) / (e.end_s - e.start_s), 0.0, 1.0)
        smooth = 0.5 - 0.5 * np.cos(np.pi * u)  # 0 -> 1 with zero slope at both ends
        out = r0 + smooth[:, None] * (r1 - r0)
        out[t >= e.end_s] = r1
        return out

    def offset_m(self, t_s: np.ndarray) -> np.ndarray:
        """Rigid torso offset at times ``t_s`` (n,) -> (n, 3) float64 metres, radar frame.

        The resting position (changed by shifting events) plus each event's swing.
        """
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        out = np.zeros((t.size, 3))
        if t.size == 0:
            return out
        t0, t1 = float(t.min()), float(t.max())
        events = self.events_between(t0, t1 + 1e-9)
        # Resting position: piecewise, governed by the latest shift started at each time.
        first = self._shifts_before(t0)
        shifts = ([first] if first is not None else []) + [
            e for e in events if e.rest_after_m is not None and e.start_s > t0
        ]
        for i, e in enumerate(shifts):
            nxt = shifts[i + 1].start_s if i + 1 < len(shifts) else np.inf
            sel = (t >= e.start_s) & (t < nxt)
            if sel.any():
                out[sel] = self._rest_curve(e, t[sel])
        for e in events:
            inside = (t >= e.start_s) & (t < e.end_s)
            tau = t[inside] - e.start_s
            window = np.sin(np.pi * tau / (e.end_s - e.start_s)) ** 2
            swing = window * np.sin(2 * np.pi * e.swing_hz * tau + e.phase_rad)
            out[inside] += e.amplitude_m * swing[:, None] * np.asarray(e.direction)
        return out
