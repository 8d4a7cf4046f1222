"""Everything that defines one virtual subject, presets, and random populations.

``SubjectParams`` holds the parameters of every model (electrical, breathing, mechanics,
movement), where the subject is relative to the radar, and the layout of the chest scatterers;
it round-trips through JSON (``subject.json`` in every recording). A subject's behaviour is
then fixed by (SubjectParams, seed).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import types
import typing
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cardioradar.errors import ConfigError, InputDataError
from hardware_sim.subject.breathing import BreathingParams
from hardware_sim.subject.electrical import CONDITIONS, ElectricalParams
from hardware_sim.subject.mechanics import MechanicalParams
from hardware_sim.subject.movement import MovementParams

log = logging.getLogger(__name__)

POSTURES = ("supine", "sitting", "side")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Placement:
    """Where the chest centre is, seen from the radar (radar frame, see docs/architecture.md).

    distance_m: range of the chest centre (0.3-1.2 m); azimuth_deg, elevation_deg: its angles.
    posture: 'supine' (radar above, e.g. ceiling or bedside arm), 'sitting' (radar in front),
    'side' (lying on one side: the radar sees the lateral chest wall, weaker cardiac motion).
    """

    distance_m: float = 0.5
    azimuth_deg: float = 0.0
    elevation_deg: float = 0.0
    posture: str = "supine"

    def __post_init__(self) -> None:
        if not (0.3 <= self.distance_m <= 1.2):
            raise ConfigError(f"Placement.distance_m: expected 0.3..1.2, got {self.distance_m!r}")
        if not (-60.0 <= self.azimuth_deg <= 60.0):
            raise ConfigError(f"Placement.azimuth_deg: expected -60..60, got {self.azimuth_deg!r}")
        if not (-45.0 <= self.elevation_deg <= 45.0):
            raise ConfigError(f"Placement.elevation_deg: expected -45..45, got {self.elevation_deg!r}")
        if self.posture not in POSTURES:
            raise ConfigError(f"Placement.posture: expected one of {POSTURES}, got {self.posture!r}")

    def centre_m(self) -> np.ndarray:
        """(3,) float64 position of the chest centre at rest, radar frame, metres."""
        az, el = np.radians(self.azimuth_deg), np.radians(self.elevation_deg)
        r = self.distance_m
        return np.array([r * np.cos(el) * np.sin(az), r * np.cos(el) * np.cos(az), r * np.sin(el)])

    @classmethod
    def draw(cls, rng: np.random.Generator, posture: str | None = None) -> Placement:
        return cls(
            distance_m=float(rng.uniform(0.3, 1.2)),
            azimuth_deg=float(rng.uniform(-25.0, 25.0)),
            elevation_deg=float(rng.uniform(-15.0, 15.0)),
            posture=posture if posture is not None else str(rng.choice(POSTURES, p=[0.6, 0.3, 0.1])),
        )


@dataclass(frozen=True)
class ChestPoint:
    """One scatterer on the chest surface.

    lateral_m: towards the subject's left (the radar's +x for a subject facing it);
    cranial_m: towards the head (the radar's +z). Both from the chest centre, in the chest plane.
    cardiac_scale: heartbeat amplitude relative to the subject's ``MechanicalParams.pulse_mm``
    (1 at the strongest point, near the apex / left sternal border).
    cardiac_delay_s: extra mechanical delay of the heartbeat at this point.
    resp_scale: breathing excursion relative to ``BreathingParams.depth_mm``.
    reflectivity: sqrt(RCS in m^2).
    """

    lateral_m: float
    cranial_m: float
    cardiac_scale: float
    cardiac_delay_s: float
    resp_scale: float
    reflectivity: float


# Apex / left sternal border region: subject's left, lower chest.
_APEX_LAT_M, _APEX_CRAN_M = 0.05, -0.05
_CARDIAC_SPREAD_M = 0.07  # Gaussian falloff of the heartbeat amplitude over the chest
_PULSE_SPREAD_S_PER_M = 0.25  # the pulse reaches far points later (tens of ms over the chest)


def draw_chest_layout(rng: np.random.Generator, posture: str = "supine", n_points: int = 9) -> tuple[ChestPoint, ...]:
    """A 3 x 3 grid (jittered) over a 0.2 m x 0.24 m chest; total RCS 0.3-1 m^2."""
    if n_points != 9:
        raise ConfigError(f"draw_chest_layout: n_points: expected 9 (3 x 3 grid), got {n_points}")
    lat = np.repeat([-0.08, 0.0, 0.08], 3) + rng.normal(0, 0.01, 9)
    cran = np.tile([0.1, 0.0, -0.1], 3) + rng.normal(0, 0.01, 9)
    d = np.hypot(lat - _APEX_LAT_M, cran - _APEX_CRAN_M)
    cardiac = np.exp(-0.5 * (d / _CARDIAC_SPREAD_M) ** 2)
    cardiac = cardiac / cardiac.max()
    delay = _PULSE_SPREAD_S_PER_M * (d - d.min())
    resp = 0.9 - 1.5 * cran + rng.normal(0, 0.05, 9)  # lower chest/abdomen moves more
    if posture == "side":  # lateral wall: less of both motions towards the radar
        cardiac, resp = 0.6 * cardiac, 0.7 * resp
    total_rcs = rng.uniform(0.3, 1.0)
    w = rng.dirichlet(np.full(9, 4.0))
    refl = np.sqrt(total_rcs * w)
    return tuple(
        ChestPoint(float(a), float(b), float(c), float(dl), float(r), float(f))
        for a, b, c, dl, r, f in zip(lat, cran, cardiac, delay, resp, refl)
    )


@dataclass(frozen=True)
class SubjectParams:
    """One virtual subject. ``condition`` is the electrical condition (``CONDITIONS``)."""

    subject_id: str
    age_y: float
    sex: str
    condition: str
    electrical: ElectricalParams
    breathing: BreathingParams
    mechanics: MechanicalParams
    movement: MovementParams
    placement: Placement
    chest: tuple[ChestPoint, ...]

    def __post_init__(self) -> None:
        if self.sex not in ("M", "F"):
            raise ConfigError(f"SubjectParams.sex: expected 'M' or 'F', got {self.sex!r}")
        if not (18.0 <= self.age_y <= 100.0):
            raise ConfigError(f"SubjectParams.age_y: expected 18..100, got {self.age_y!r}")
        if self.condition not in CONDITIONS:
            raise ConfigError(f"SubjectParams.condition: expected one of {CONDITIONS}, got {self.condition!r}")
        if not self.chest:
            raise ConfigError("SubjectParams.chest: expected at least one ChestPoint, got none")

    def to_json(self) -> str:
        """JSON text (sorted keys, with a schema version): the subject.json of a recording."""
        return json.dumps({"schema": SCHEMA_VERSION, "subject": _to_jsonable(self)}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "<subject.json>") -> SubjectParams:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputDataError(f"{source}: not JSON: {e}") from e
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_VERSION:
            got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
            raise InputDataError(f"{source}: schema: expected {SCHEMA_VERSION}, got {got!r}")
        return _from_jsonable(cls, doc["subject"], f"{source}:subject")


# ---- generic dataclass <-> JSON (nested dataclasses, tuples, numpy arrays) -----------------
def _to_jsonable(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (tuple, list)):
        return [_to_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    return obj


def _from_jsonable(tp, data, where: str):
    """Rebuild a value of annotated type ``tp`` from JSON data; errors name the field."""
    if tp is typing.Any:
        return data
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise InputDataError(f"{where}: expected an object for {tp.__name__}, got {type(data).__name__}")
        hints = typing.get_type_hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = _from_jsonable(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InputDataError(f"{where}.{f.name}: missing")
        try:
            return tp(**kwargs)
        except ConfigError as e:
            raise InputDataError(f"{where}: {e}") from e
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _from_jsonable(a, data, where)
            except (InputDataError, TypeError, ValueError):
                continue
        raise InputDataError(f"{where}: {data!r} fits none of {args}")
    if tp is np.ndarray:
        return np.asarray(data, dtype=np.float64)
    if origin is tuple:
        if not isinstance(data, list):
            raise InputDataError(f"{where}: expected a list, got {type(data).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_jsonable(args[0], x, f"{where}[{i}]") for i, x in enumerate(data))
        if args and len(args) != len(data):
            raise InputDataError(f"{where}: expected {len(args)} items, got {len(data)}")
        return tuple(_from_jsonable(a, x, f"{where}[{i}]") for i, (a, x) in enumerate(zip(args, data))) if args else tuple(data)
    if origin is list:
        return [_from_jsonable(args[0], x, f"{where}[{i}]") for i, x in enumerate(data)] if args else list(data)
    if origin is dict:
        return {k: _from_jsonable(args[1], v, f"{where}.{k}") for k, v in data.items()} if args else dict(data)
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise InputDataError(f"{where}: expected a number, got {data!r}")
        return float(data)
    if tp in (int, str, bool):
        if not isinstance(data, tp) or (tp is int and isinstance(data, bool)):
            raise InputDataError(f"{where}: expected {tp.__name__}, got {data!r}")
        return data
    return data


# ---- building subjects -------------------------------------------------------------------
def build_subject(
    rng: np.random.Generator,
    subject_id: str,
    condition: str = "sinus",
    hr_bpm: float | None = None,
    age_y: float | None = None,
    sex: str | None = None,
    asleep: bool = False,
    restlessness: str = "rest",
    placement: Placement | None = None,
) -> SubjectParams:
    """Draw every part of a subject from ``rng``; the named arguments pin what they say."""
    if condition not in CONDITIONS:
        raise ConfigError(f"build_subject: condition: expected one of {CONDITIONS}, got {condition!r}")
    sex = sex if sex is not None else str(rng.choice(["M", "F"]))
    age_y = float(age_y if age_y is not None else rng.uniform(25.0, 75.0))
    placement = placement if placement is not None else Placement.draw(rng)
    electrical = ElectricalParams.draw(rng, condition=condition, hr_bpm=hr_bpm, sex=sex, age_y=age_y)
    return SubjectParams(
        subject_id=subject_id,
        age_y=age_y,
        sex=sex,
        condition=condition,
        electrical=electrical,
        breathing=BreathingParams.draw(rng, asleep=asleep),
        mechanics=MechanicalParams.draw(rng, sex=sex),
        movement=MovementParams.draw(rng, restlessness=restlessness),
        placement=placement,
        chest=draw_chest_layout(rng, posture=placement.posture),
    )


@dataclass(frozen=True)
class Preset:
    """A named kind of subject; ``make(seed)`` draws one (same seed, same subject)."""

    name: str
    description: str
    _build: Callable[[np.random.Generator, str], SubjectParams]

    def make(self, seed: int) -> SubjectParams:
        return self._build(np.random.default_rng([int(seed), _name_key(self.name)]), f"{self.name}-{seed}")


def _name_key(name: str) -> int:
    # stable across runs (str hash is salted per process)
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")


def _supine(rng: np.random.Generator) -> Placement:
    return Placement(float(rng.uniform(0.4, 0.7)), float(rng.uniform(-10, 10)), float(rng.uniform(-8, 8)), "supine")


def _preset(name: str, description: str, condition: str, asleep: bool = False, restlessness: str = "rest", hr=None) -> Preset:
    def build(rng: np.random.Generator, subject_id: str) -> SubjectParams:
        hr_bpm = float(rng.uniform(*hr)) if hr is not None else None
        return build_subject(
            rng, subject_id, condition=condition, hr_bpm=hr_bpm, asleep=asleep,
            restlessness=restlessness, placement=_supine(rng),
        )

    return Preset(name, description, build)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _preset("healthy-rest", "Healthy adult awake at rest, supine under the radar, sinus rhythm 60-80 bpm.", "sinus", hr=(60.0, 80.0)),
        _preset("sleep", "Healthy adult asleep: slower regular breathing, few movements, sinus 60-66 bpm.", "sinus", asleep=True, restlessness="still", hr=(60.0, 66.0)),
        _preset("af", "Atrial fibrillation: irregular RR, no P waves, f-waves.", "af"),
        _preset("pvc", "Sinus rhythm with premature ventricular contractions (wide QRS, compensatory pause).", "pvc"),
        _preset("pac", "Sinus rhythm with premature atrial contractions (early beat, changed P).", "pac"),
        _preset("rbbb", "Right bundle branch block: wide QRS, rsR' in V1/V2 (mechanics nearly normal).", "rbbb"),
        _preset("brady", "Sinus bradycardia below 60 bpm.", "brady"),
        _preset("tachy", "Sinus tachycardia above 100 bpm.", "tachy"),
        _preset("st-depression", "Sinus rhythm with ST depression (>= 0.05 mV) in contiguous leads.", "st_depression"),
        _preset("t-inversion", "Sinus rhythm with T-wave inversion (>= 0.1 mV).", "t_inversion"),
        _preset("restless", "Healthy adult who moves a lot: frequent mild and extensive body movements.", "sinus", restlessness="restless"),
        _preset("lbbb", "Left bundle branch block: QRS >= 120 ms, broad notched R in I/V5-V6, QS in V1, discordant ST-T.", "lbbb"),
        _preset("infarct-inferior", "Old inferior infarct: pathological Q waves in II, III, aVF.", "infarct_inferior"),
        _preset("infarct-anterior", "Old anterior infarct: Q / QS waves in V1-V3.", "infarct_anterior"),
        _preset("lvh", "Left ventricular hypertrophy by voltage: Sokolow-Lyon >= 3.5 mV, strain in half.", "lvh"),
        _preset("early-repol", "Early repolarisation: J-point elevation >= 0.1 mV in inferior or lateral leads.", "early_repol"),
        _preset("low-voltage", "Low QRS voltage: every limb-lead QRS < 0.5 mV.", "low_voltage"),
    )
}

# Condition mix of a random population (a monitoring ward rather than the general public;
# our choice, docs/simulator.md "Population" gives the general-population prevalences
# for comparison). The morphology variants of sinus subjects (axis deviation, early/late
# transition, T-wave variants) come from the electrical model itself.
_POPULATION_CONDITIONS = {
    "sinus": 0.31, "brady": 0.05, "tachy": 0.05, "af": 0.09, "pvc": 0.07, "pac": 0.06,
    "rbbb": 0.05, "st_depression": 0.05, "t_inversion": 0.05, "lbbb": 0.04,
    "infarct_inferior": 0.04, "infarct_anterior": 0.03, "lvh": 0.05, "early_repol": 0.03,
    "low_voltage": 0.03,
}


def random_population(n: int, seed: int) -> list[SubjectParams]:
    """``n`` varied subjects (ages, sexes, rates, conditions, placements, breathing, movement).

    Subject i depends only on (seed, i): a larger population extends a smaller one.
    """
    if n < 0:
        raise ConfigError(f"random_population: n: expected >= 0, got {n}")
    conds = [c for c in _POPULATION_CONDITIONS if c in CONDITIONS]
    probs = np.array([_POPULATION_CONDITIONS[c] for c in conds])
    probs = probs / probs.sum()
    out = []
    for i, child in enumerate(np.random.SeedSequence(int(seed)).spawn(n)):
        rng = np.random.default_rng(child)
        condition = str(rng.choice(conds, p=probs))
        out.append(draw_population_subject(rng, f"pop{seed}-{i:04d}", condition))
    return out


def draw_population_subject(rng: np.random.Generator, subject_id: str, condition: str,
                            hr_bpm: float | None = None) -> SubjectParams:
    """One subject of a random population with its condition (and rate) given: asleep 30 %,
    still / at rest / restless 30 / 60 / 10 %, age 20-85, the rest by ``build_subject``."""
    asleep = bool(rng.uniform() < 0.3)
    restless = str(rng.choice(["still", "rest", "restless"], p=[0.3, 0.6, 0.1]))
    return build_subject(rng, subject_id, condition=condition, hr_bpm=hr_bpm,
                         age_y=float(rng.uniform(20.0, 85.0)), asleep=asleep, restlessness=restless)
