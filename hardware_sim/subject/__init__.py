"""A virtual subject: breathing -> heart (electrical) -> heart mechanics -> body movement,
placed in front of the radar as a few scatterers on the chest.

Each chest point moves along its local chest normal (towards the radar for a supine subject
under the radar or a seated one in front of it) by its share of the breathing excursion and
of the heartbeat displacement (with its own delay), plus the rigid movement of the torso.
The chest is modelled as part of a cylinder (radius ``CHEST_RADIUS_M``, axis along the body):
off-centre points are a little further away and their normals tilt outwards, so the chest
spreads over a few range bins and angles like a real one.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from hardware_sim.subject.breathing import Breathing
from hardware_sim.subject.mechanics import HeartMechanics, MechanicalEvents
from hardware_sim.subject.movement import BodyMovement, MovementEvent
from hardware_sim.subject.types import ElectricalSource

if TYPE_CHECKING:  # params imports the electrical model; keep the package import light
    from hardware_sim.subject.params import SubjectParams

log = logging.getLogger(__name__)

CHEST_RADIUS_M = 0.15

__all__ = ["VirtualSubject", "CHEST_RADIUS_M"]


def _component_seeds(seed: int) -> list[int]:
    """Independent seeds for breathing, heart, mechanics, movement from one subject seed."""
    children = np.random.SeedSequence(int(seed)).spawn(4)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


class VirtualSubject:
    """``VirtualSubject(params, seed)``: a deterministic function of time given both.

    Attributes: ``params``, ``breathing``, ``electrical``, ``mechanics``, ``movement``.
    """

    def __init__(self, params: SubjectParams, seed: int, electrical: ElectricalSource | None = None):
        self.params = params
        self.seed = int(seed)
        s_breath, s_heart, s_mech, s_move = _component_seeds(seed)
        self.breathing = Breathing(params.breathing, s_breath)
        if electrical is None:
            from hardware_sim.subject.electrical import SyntheticHeart

            electrical = SyntheticHeart(params.electrical, s_heart, respiration=self.breathing)
        self.electrical = electrical
        self.mechanics = HeartMechanics(params.mechanics, electrical, params.sex, s_mech)
        self.movement = BodyMovement(params.movement, s_move)
        self._base_m, self._normal = _chest_geometry(params)
        self._reflectivity = np.array([p.reflectivity for p in params.chest], dtype=np.float64)
        self._delays_s = np.array([p.cardiac_delay_s for p in params.chest], dtype=np.float64)
        self._resp_scale = np.array([p.resp_scale for p in params.chest], dtype=np.float64)
        self._cardiac_scale = np.array([p.cardiac_scale for p in params.chest], dtype=np.float64)

    @classmethod
    def from_recording(
        cls, path: str | Path, params: SubjectParams, seed: int, fs_hz: float | None = None
    ) -> VirtualSubject:
        """A subject whose heart follows a recorded ECG (``params.electrical`` unused)."""
        from hardware_sim.subject.recorded import RecordedHeart, load_ecg_recording

        recording = load_ecg_recording(path, fs_hz=fs_hz)
        # The agreed contract is RecordedHeart(recording, seed); the current one takes no seed
        # (a recording has no random choices). Accept both until they agree.
        if len(inspect.signature(RecordedHeart).parameters) >= 2:
            heart = RecordedHeart(recording, _component_seeds(seed)[1])
        else:
            heart = RecordedHeart(recording)
        log.info("subject %s driven by recording %s", params.subject_id, Path(path).name)
        return cls(params, seed, electrical=heart)

    # ---- motion ---------------------------------------------------------------------------
    def resp_mm(self, t_s: np.ndarray) -> np.ndarray:
        """Breathing excursion of the chest towards the radar (mm), (n,) -> (n,) float64."""
        return self.breathing.displacement_mm(t_s)

    def point_displacement_mm(self, t_s: np.ndarray) -> np.ndarray:
        """Displacement of each chest point along its normal (mm): (n_t,) -> (n_t, n_s)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        resp = self.resp_mm(t)
        cardiac = self.mechanics.displacement_at_delays_mm(t, self._delays_s)
        return resp[:, None] * self._resp_scale[None, :] + cardiac * self._cardiac_scale[None, :]

    def chest_scatterers(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chest points at times ``t_s`` (n_t,).

        Returns positions_m (n_t, n_s, 3) float64 in the radar frame and reflectivity (n_s,)
        float64 (sqrt of RCS in m^2).
        """
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        pos = np.empty((t.size, self._base_m.shape[0], 3))
        self.chest_positions_into(t, pos)
        return pos, self._reflectivity.copy()

    def chest_positions_into(self, t_s: np.ndarray, out: np.ndarray) -> None:
        """``chest_scatterers``' positions written into ``out`` (n_t, n_s, 3) m (the scene's
        hot path: no intermediate arrays). t_s: (n_t,) float64 s."""
        _place_points(self._base_m, self._normal, self.point_displacement_mm(t_s), self.movement.offset_m(t_s), out)

    def chest_centre_m(self, t_s: np.ndarray) -> np.ndarray:
        """Chest centre (n_t, 3) m: rest position + breathing along the normal + movement."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        centre = self.params.placement.centre_m()
        normal = -_facing_axis()
        return centre[None, :] + (self.resp_mm(t) * 1e-3)[:, None] * normal + self.movement.offset_m(t)

    def movement_intervals(self, t0_s: float, t1_s: float) -> list[MovementEvent]:
        """Body-movement events overlapping [t0_s, t1_s) (start_s, end_s, kind, ...)."""
        return self.movement.events_between(t0_s, t1_s)

    def mechanical_events(self, t0_s: float, t1_s: float) -> list[MechanicalEvents]:
        """Valve events of the beats whose QRS onset lies in [t0_s, t1_s)."""
        return self.mechanics.events_between(t0_s, t1_s)


@njit(cache=True)
def _place_points(base_m, normal, d_mm, offset_m, out):
    """out[t, s] = base_m[s] + (d_mm[t, s] * 1e-3) * normal[s] + offset_m[t] (all m)."""
    for t in range(d_mm.shape[0]):
        for s in range(d_mm.shape[1]):
            d_m = d_mm[t, s] * 1e-3
            for k in range(3):
                out[t, s, k] = base_m[s, k] + d_m * normal[s, k] + offset_m[t, k]


def _facing_axis() -> np.ndarray:
    # The chest faces the array plane: its outward normal points along -y (towards the radar).
    return np.array([0.0, 1.0, 0.0])


def _chest_geometry(params: SubjectParams) -> tuple[np.ndarray, np.ndarray]:
    """Rest positions (n_s, 3) m and unit outward normals (n_s, 3) of the chest points.

    Chest plane axes: lateral (subject's left) = radar +x, cranial = radar +z; the surface
    curves away from the radar with radius CHEST_RADIUS_M about the body axis.
    """
    centre = params.placement.centre_m()
    lat = np.array([p.lateral_m for p in params.chest])
    cran = np.array([p.cranial_m for p in params.chest])
    r = CHEST_RADIUS_M
    lat_c = np.clip(lat, -0.95 * r, 0.95 * r)
    depth = r - np.sqrt(r * r - lat_c**2)  # how much further from the radar than the centre
    base = centre[None, :] + np.stack([lat, depth, cran], axis=1)
    normal = np.stack([lat_c / r, -np.sqrt(r * r - lat_c**2) / r, np.zeros_like(lat)], axis=1)
    return base, normal
