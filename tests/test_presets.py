"""Presets and populations: every preset builds, round-trips through JSON, reproducible."""

import json

import numpy as np
import pytest

from cardioradar.errors import ConfigError, InputDataError
from hardware_sim.subject.electrical import CONDITIONS
from hardware_sim.subject.params import (
    PRESETS,
    Placement,
    SubjectParams,
    random_population,
)

REQUIRED = {
    "healthy-rest", "sleep", "af", "pvc", "pac", "rbbb", "brady", "tachy",
    "st-depression", "t-inversion", "restless", "lbbb", "infarct-inferior", "infarct-anterior",
    "lvh", "early-repol", "low-voltage",
}


def test_required_presets_exist_with_descriptions():
    assert REQUIRED <= set(PRESETS)
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert preset.description and "\n" not in preset.description


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_preset_builds_and_round_trips(name):
    p = PRESETS[name].make(3)
    assert isinstance(p, SubjectParams) and p.condition in CONDITIONS
    text = p.to_json()
    q = SubjectParams.from_json(text)
    assert q.to_json() == text
    assert type(q.electrical) is type(p.electrical)
    assert q.chest == p.chest and q.placement == p.placement and q.breathing == p.breathing
    # same seed, same subject; another seed, another subject
    assert PRESETS[name].make(3).to_json() == text
    assert PRESETS[name].make(4).to_json() != text
    total_rcs = sum(c.reflectivity**2 for c in p.chest)
    assert 0.3 <= total_rcs <= 1.0


def test_presets_differ_as_described():
    sleep = PRESETS["sleep"].make(1)
    restless = PRESETS["restless"].make(1)
    assert sleep.movement.mild_per_h < restless.movement.mild_per_h
    assert sleep.movement.extensive_per_h < restless.movement.extensive_per_h
    assert PRESETS["af"].make(1).condition == "af"
    assert PRESETS["st-depression"].make(1).condition == "st_depression"


def test_population_reproducible_and_varied():
    a = random_population(12, seed=5)
    b = random_population(12, seed=5)
    assert [p.to_json() for p in a] == [p.to_json() for p in b]
    assert [p.to_json() for p in random_population(4, seed=5)] == [p.to_json() for p in a[:4]]
    c = random_population(12, seed=6)
    assert [p.to_json() for p in a] != [p.to_json() for p in c]
    assert len({p.subject_id for p in a}) == 12
    assert {p.sex for p in a} == {"M", "F"}
    d = np.array([p.placement.distance_m for p in a])
    assert d.min() >= 0.3 and d.max() <= 1.2 and d.std() > 0.1
    assert len({p.condition for p in random_population(40, seed=2)}) >= 6
    ages = np.array([p.age_y for p in a])
    assert ages.min() >= 20 and ages.max() <= 85


def test_bad_json_names_the_field():
    p = PRESETS["healthy-rest"].make(0)
    doc = json.loads(p.to_json())
    doc["subject"]["placement"]["distance_m"] = 3.0
    with pytest.raises(InputDataError, match="placement"):
        SubjectParams.from_json(json.dumps(doc), source="subject.json")
    doc = json.loads(p.to_json())
    del doc["subject"]["sex"]
    with pytest.raises(InputDataError, match="sex: missing"):
        SubjectParams.from_json(json.dumps(doc))
    with pytest.raises(InputDataError, match="schema"):
        SubjectParams.from_json('{"schema": 99}')
    with pytest.raises(ConfigError, match="posture"):
        Placement(posture="standing")
