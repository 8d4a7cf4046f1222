"""The scene in front of the radar: the subject's chest points plus static clutter.

``Scene`` implements ``ScatterSource`` (hardware_sim/types.py): ``scatterers_at(t_s)`` returns
every point's position at each time and its reflectivity = sqrt(RCS in m^2). Static clutter
is a few strong reflectors at other ranges (bed frame or chair, floor or wall, furniture off to
the side) and one weak fixed scatterer just in front of the radar (radome / enclosure), all
drawn from the scene's seed relative to the subject's placement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import ConfigError
from hardware_sim.subject import VirtualSubject
from hardware_sim.types import Scatterers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClutterPoint:
    """A static reflector: position (x, y, z) m in the radar frame, reflectivity sqrt(m^2)."""

    label: str
    position_m: tuple[float, float, float]
    reflectivity: float

    def __post_init__(self) -> None:
        if len(self.position_m) != 3:
            raise ConfigError(f"ClutterPoint {self.label}: position_m: expected 3 values, got {self.position_m!r}")
        if not (self.reflectivity >= 0.0):
            raise ConfigError(f"ClutterPoint {self.label}: reflectivity: expected >= 0, got {self.reflectivity!r}")


def _at(range_m: float, az_deg: float, el_deg: float) -> tuple[float, float, float]:
    az, el = np.radians(az_deg), np.radians(el_deg)
    return (
        float(range_m * np.cos(el) * np.sin(az)),
        float(range_m * np.cos(el) * np.cos(az)),
        float(range_m * np.sin(el)),
    )


def default_clutter(subject: VirtualSubject, rng: np.random.Generator) -> tuple[ClutterPoint, ...]:
    """Typical room clutter around a subject at the subject's placement."""
    pl = subject.params.placement
    r = pl.distance_m
    pts = []
    if pl.posture in ("supine", "side"):
        # Bed frame rails either side of the torso, a little beyond the chest; the floor.
        for side in (-1.0, 1.0):
            pts.append(ClutterPoint(
                f"bed_rail_{'left' if side > 0 else 'right'}",
                _at(r + rng.uniform(0.15, 0.3), pl.azimuth_deg + side * rng.uniform(25, 40), pl.elevation_deg),
                float(np.sqrt(rng.uniform(0.2, 1.0))),
            ))
        # The floor lies behind the bed and the body, which shadow most of it: weak.
        pts.append(ClutterPoint("floor", _at(r + rng.uniform(0.5, 0.9), 0.0, 0.0), float(np.sqrt(rng.uniform(0.05, 0.3)))))
    else:
        # Chair back just behind the subject; the wall behind.
        pts.append(ClutterPoint(
            "chair_back", _at(r + rng.uniform(0.15, 0.3), pl.azimuth_deg, pl.elevation_deg - rng.uniform(5, 15)),
            float(np.sqrt(rng.uniform(0.2, 0.6))),
        ))
        # The wall behind is partly shadowed by the subject and the chair.
        pts.append(ClutterPoint("wall", _at(r + rng.uniform(0.8, 1.5), 0.0, 0.0), float(np.sqrt(rng.uniform(0.3, 2.0)))))
    pts.append(ClutterPoint(
        "furniture", _at(rng.uniform(0.8, 2.5), rng.choice([-1.0, 1.0]) * rng.uniform(30, 50), rng.uniform(-10, 10)),
        float(np.sqrt(rng.uniform(0.5, 3.0))),
    ))
    pts.append(ClutterPoint(
        "radome", _at(rng.uniform(0.05, 0.12), rng.uniform(-5, 5), rng.uniform(-5, 5)),
        float(np.sqrt(rng.uniform(1e-5, 1e-4))),
    ))
    return tuple(pts)


class Scene:
    """``Scene(subject, seed, clutter='default')``: a ``ScatterSource``.

    clutter: 'default' (drawn from ``seed`` around the subject), 'none', or a tuple of
    ``ClutterPoint``.
    """

    def __init__(self, subject: VirtualSubject, seed: int, clutter="default"):
        self.subject = subject
        self.seed = int(seed)
        if isinstance(clutter, str):
            if clutter == "default":
                clutter = default_clutter(subject, np.random.default_rng([self.seed, 0x5CE4E]))
            elif clutter == "none":
                clutter = ()
            else:
                raise ConfigError(f"Scene: clutter: expected 'default', 'none' or ClutterPoints, got {clutter!r}")
        self.clutter: tuple[ClutterPoint, ...] = tuple(clutter)
        n_s = len(subject.params.chest)
        self._clutter_pos = np.array([c.position_m for c in self.clutter], dtype=np.float64).reshape(-1, 3)
        self._reflectivity = np.concatenate([
            np.array([p.reflectivity for p in subject.params.chest], dtype=np.float64),
            np.array([c.reflectivity for c in self.clutter], dtype=np.float64),
        ])
        self._is_subject = np.concatenate([np.ones(n_s, bool), np.zeros(len(self.clutter), bool)])

    def scatterers_at(self, t_s: np.ndarray) -> Scatterers:
        """Positions (n_t, n_subject + n_clutter, 3) m at times ``t_s`` (n_t,) s."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        n_s = self._is_subject.size - len(self.clutter)
        pos = np.empty((t.size, self._is_subject.size, 3))
        self.subject.chest_positions_into(t, pos[:, :n_s])
        pos[:, n_s:] = self._clutter_pos[None]
        return Scatterers(
            positions_m=pos,
            reflectivity=self._reflectivity.copy(),
            is_subject=self._is_subject.copy(),
        )
