"""A virtual subject: breathing -> heart (electrical) -> heart mechanics -> body movement,
placed in front of the radar as a few scatterers on the chest.

Each chest point moves along its local chest normal (towards the radar for a supine subject
under the radar or a seated one in front of it) by its share of the breathing excursion and
of the heartbeat displacement (with its own delay), plus the rigid movement of the torso.
The chest is modelled as part of a cylinder (radius ``CHEST_RADIUS_M``, axis along the body):
off-centre points are a little further away and their normals tilt outwards, so the chest
spreads over a few range bins and angles like a real one.

The heartbeat's amplitude and delay per point, and the beats' timing and strength, follow the
subject's electrical facts through ``coupling_for`` (heart axis -> apex, bundle branch block ->
dyssynchrony, infarct -> regional hypokinesis; docs/simulator.md, "Couplings").
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from hardware_sim.subject.breathing import Breathing
from hardware_sim.subject.mechanics import (
    ElectromechanicalCoupling, HeartMechanics, MechanicalEvents, chest_pattern,
)
from hardware_sim.subject.movement import BodyMovement, MovementEvent
from hardware_sim.subject.types import ElectricalSource

if TYPE_CHECKING:  # params imports the electrical model; keep the package import light
    from hardware_sim.subject.params import SubjectParams

log = logging.getLogger(__name__)

CHEST_RADIUS_M = 0.15

__all__ = ["VirtualSubject", "CHEST_RADIUS_M", "coupling_for"]


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
        self.coupling = coupling_for(params, electrical)
        self.mechanics = HeartMechanics(params.mechanics, electrical, params.sex, s_mech,
                                        coupling=self.coupling, respiration=self.breathing)
        self.movement = BodyMovement(params.movement, s_move)
        self._base_m, self._normal = _chest_geometry(params)
        self._reflectivity = np.array([p.reflectivity for p in params.chest], dtype=np.float64)
        self._resp_scale = np.array([p.resp_scale for p in params.chest], dtype=np.float64)
        self._cardiac_scale, self._delays_s = _cardiac_pattern(params, self.coupling)

    @property
    def cardiac_scale(self) -> np.ndarray:
        """Heartbeat amplitude of each chest point (n_s,) after the couplings (apex position,
        regional hypokinesis); ``params.chest``'s ``cardiac_scale`` is the standard layout's."""
        return self._cardiac_scale.copy()

    @property
    def cardiac_delay_s(self) -> np.ndarray:
        """Heartbeat delay of each chest point (n_s,) s after the couplings (apex, dyssynchrony)."""
        return self._delays_s.copy()

    @classmethod
    def from_recording(
        cls, path, params: SubjectParams, seed: int, fs_hz: float | None = None
    ) -> VirtualSubject:
        """A subject whose heart follows a recorded ECG (``params.electrical`` unused).
        ``path``: an ECG file, or an ``EcgRecording`` already in memory."""
        from hardware_sim.subject.recorded import EcgRecording, RecordedHeart, load_ecg_recording

        if isinstance(path, EcgRecording):
            recording = path
        else:
            recording = load_ecg_recording(path, fs_hz=fs_hz)
        # The agreed contract is RecordedHeart(recording, seed); the current one takes no seed
        # (a recording has no random choices). Accept both until they agree.
        if len(inspect.signature(RecordedHeart).parameters) >= 2:
            heart = RecordedHeart(recording, _component_seeds(seed)[1])
        else:
            heart = RecordedHeart(recording)
        log.info("subject %s driven by recording %s", params.subject_id, Path(recording.source).name)
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
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        resp = self.resp_mm(t)
        cardiac = self.mechanics.displacement_at_delays_mm(t, self._delays_s)
        _place_points(self._base_m, self._normal, resp, self._resp_scale, cardiac, self._cardiac_scale,
                      self.movement.offset_m(t), out)

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
def _place_points(base_m, normal, resp_mm, resp_scale, cardiac_mm, cardiac_scale, offset_m, out):
    """out[t, s] = base_m[s] + (d_mm[t, s] * 1e-3) * normal[s] + offset_m[t] (all m), with
    d_mm = resp_mm[:, None] * resp_scale + cardiac_mm * cardiac_scale (``point_displacement_mm``'s
    operations, fused here: its numpy temporaries cost ~0.3 us per fast-mode frame)."""
    for t in range(cardiac_mm.shape[0]):
        for s in range(cardiac_mm.shape[1]):
            d_m = (resp_mm[t] * resp_scale[s] + cardiac_mm[t, s] * cardiac_scale[s]) * 1e-3
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


# ---- electromechanical coupling: what of the heart's electrical facts the chest motion follows
# Population references for the QT ratio: the synthetic population's mean QTc by sex
# (electrical.py draws 404 / 414 ms); older parameter sets carry only qt_scale (mean 1.1).
_QTC_REF_MS = {"M": 404.0, "F": 414.0}
_QT_SCALE_REF = 1.1


def coupling_for(params: SubjectParams, electrical: ElectricalSource) -> ElectromechanicalCoupling:
    """The subject's ``ElectromechanicalCoupling``: the electrical source's own facts first
    (a recording may carry ``frontal_axis_deg``, ``conduction``, ``infarct_wall``,
    ``qt_ratio``, ``lvh``), then, for a synthetic heart made from ``params.electrical``, that model's
    parameters (read with defaults, so fields not there yet leave a normal heart)."""
    ep = params.electrical
    own = getattr(electrical, "params", None) is ep  # synthetic heart of these params
    cond = str(getattr(ep, "condition", params.condition) if own else "").lower()

    axis = _first(electrical, ("frontal_axis_deg",))
    if axis is None and own:
        axis = _first(ep, ("frontal_axis_deg", "qrs_axis_deg"))
        if axis is None:
            axis = _net_qrs_axis_deg(ep)
    conduction = _conduction(_first(electrical, ("conduction", "bundle_branch_block", "bbb")))
    if conduction == "normal" and own:
        conduction = _conduction(_first(ep, ("conduction", "bundle_branch_block", "bbb", "bbb_kind")))
        if conduction == "normal":
            if getattr(ep, "lbbb", False) or cond == "lbbb":
                conduction = "LBBB"
            elif getattr(ep, "rbbb", False) or cond == "rbbb":
                conduction = "RBBB"
    wall = _wall(_first(electrical, ("infarct_wall", "infarct")))
    severity = 0.6 if wall else 0.0
    if not wall and own:
        wall = _wall(_first(ep, ("infarct_wall", "infarct", "infarct_territory")))
        if not wall and ("infarct" in cond or cond.endswith("_mi")):
            wall = _wall(cond) or "inferior"
        severity = 0.6 if wall else 0.0
        if not wall and cond == "st_depression":  # inferolateral ST vector: lateral ischaemia
            wall, severity = "lateral", 0.3
    qt_ratio = _first(electrical, ("qt_ratio",))
    if qt_ratio is None and own:
        qtc = _first(ep, ("qtc_ms",))
        qt_scale = _first(ep, ("qt_scale",))
        if qtc is not None:
            # A wide QRS lengthens QT without moving LV ejection's end (the block's delay is
            # the PEP coupling's): take out the QRS beyond 100 ms (our choice, as JT-based
            # corrections of QT in bundle branch block do).
            qrs = _first(ep, ("qrs_ms",))
            qtc = qtc - max(float(qrs) - 100.0, 0.0) if qrs is not None else qtc
            qt_ratio = qtc / _QTC_REF_MS.get(params.sex, 409.0)
        elif qt_scale is not None:
            qt_ratio = qt_scale / _QT_SCALE_REF
    lvh = bool(getattr(electrical, "lvh", False) or (own and (getattr(ep, "lvh", False) or cond == "lvh")))
    return ElectromechanicalCoupling(
        frontal_axis_deg=float(axis) if axis is not None else ElectromechanicalCoupling.frontal_axis_deg,
        conduction=conduction, infarct_wall=wall, infarct_severity=float(severity),
        qt_ratio=float(np.clip(qt_ratio, 0.8, 1.25)) if qt_ratio is not None else 1.0, lvh=lvh,
    )


def _first(obj, names: tuple[str, ...]):
    """The first of ``names`` that ``obj`` has set (not None, not NaN, not a method)."""
    for name in names:
        v = getattr(obj, name, None)
        if v is None or callable(v) or (isinstance(v, float) and not np.isfinite(v)):
            continue
        return v
    return None


def _conduction(v) -> str:
    s = str(v or "").lower()
    return "LBBB" if "lbbb" in s or s == "left" else "RBBB" if "rbbb" in s or s == "right" else "normal"


def _wall(v) -> str:
    s = str(v or "").lower()
    for wall in ("anterior", "inferior", "lateral"):
        if wall in s:
            return wall
    return ""


def _net_qrs_axis_deg(ep) -> float | None:
    """Frontal QRS axis the way it is read off an ECG (net QRS area in I and aVF), from the
    synthetic model's QRS Gaussians and heart rotation: a parameter, not the waveform."""
    try:
        import math

        from hardware_sim.subject.ecg import rotation_matrix, vcg_to_leads

        net = [sum(a * b * math.sqrt(2 * math.pi) for a, b, w in zip(g.alpha_mv, g.b_rad, g.wave)
                   if w in ("Q", "R", "S", "RP")) for g in ep.vcg.axes()]
        v = rotation_matrix(*ep.axis_rotation_rad) @ np.array(net)
        leads = vcg_to_leads(v[None, :])[0]
        return float(np.degrees(np.arctan2(leads[5], leads[0])))  # aVF, I
    except (AttributeError, TypeError, ValueError) as e:
        log.warning("heart axis not derivable from ElectricalParams (%s): standard apex used", e)
        return None


def _cardiac_pattern(params: SubjectParams, coupling: ElectromechanicalCoupling) -> tuple[np.ndarray, np.ndarray]:
    """Per chest point heartbeat scale and delay (n_s,) after the couplings (``chest_pattern``)
    from the layout's own values; the standard layout's apex and falloff come from params."""
    from hardware_sim.subject import params as layout

    lat = np.array([p.lateral_m for p in params.chest], dtype=np.float64)
    cran = np.array([p.cranial_m for p in params.chest], dtype=np.float64)
    scale = np.array([p.cardiac_scale for p in params.chest], dtype=np.float64)
    delay = np.array([p.cardiac_delay_s for p in params.chest], dtype=np.float64)
    ref_apex = (getattr(layout, "_APEX_LAT_M", 0.05), getattr(layout, "_APEX_CRAN_M", -0.05))
    return chest_pattern(lat, cran, scale, delay, coupling, ref_apex,
                         getattr(layout, "_CARDIAC_SPREAD_M", 0.07),
                         getattr(layout, "_PULSE_SPREAD_S_PER_M", 0.25))
