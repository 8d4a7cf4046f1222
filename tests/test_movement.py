"""Body movement: Poisson counts and durations as drawn, smooth offsets, determinism."""

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from hardware_sim.subject.movement import BodyMovement, MovementParams


def test_counts_per_hour_and_durations():
    p = MovementParams(mild_per_h=12.0, extensive_per_h=4.0)
    m = BodyMovement(p, 5)
    hours = 50.0
    ev = m.events_between(0.0, hours * 3600.0)
    n_mild = sum(e.kind == "mild" for e in ev)
    n_ext = sum(e.kind == "extensive" for e in ev)
    # Poisson: within 4 SD of the expected count.
    for n, rate in ((n_mild, 12.0), (n_ext, 4.0)):
        mu = rate * hours
        assert abs(n - mu) < 4 * np.sqrt(mu), (n, mu)
    dur = np.array([e.end_s - e.start_s for e in ev])
    assert dur.min() >= 0.5 and dur.max() <= 5.0
    amp_mild = np.array([e.amplitude_m for e in ev if e.kind == "mild"])
    amp_ext = np.array([e.amplitude_m for e in ev if e.kind == "extensive"])
    assert amp_mild.min() >= 2e-3 and amp_mild.max() <= 10e-3
    assert amp_ext.min() >= 10e-3 and amp_ext.max() <= 50e-3
    assert [e.start_s for e in ev] == sorted(e.start_s for e in ev)


def test_offset_is_zero_outside_events_until_a_shift_and_smooth():
    p = MovementParams(mild_per_h=30.0, extensive_per_h=10.0, shift_prob=1.0)
    m = BodyMovement(p, 9)
    t = np.arange(0.0, 3600.0, 0.01)
    off = m.offset_m(t)
    ev = m.events_between(0.0, 3600.0)
    first = min(e.start_s for e in ev)
    assert np.all(off[t < first] == 0.0)
    # Rigid movement is smooth: no jumps beyond what 0.6 m/s allows in 10 ms.
    assert np.abs(np.diff(off, axis=0)).max() < 6e-3
    # After a shifting event the torso stays at the event's new rest position.
    shifts = [e for e in ev if e.rest_after_m is not None]
    assert shifts
    e = shifts[0]
    nxt = min([x.start_s for x in ev if x.start_s > e.end_s], default=3600.0)
    if nxt - e.end_s > 0.1:
        probe = m.offset_m(np.array([e.end_s + 0.05]))[0]
        np.testing.assert_allclose(probe, e.rest_after_m, atol=1e-12)
    inside = [x for x in ev if x.kind == "mild"][0]
    tt = np.linspace(inside.start_s, inside.end_s, 50)
    assert np.abs(np.diff(m.offset_m(tt), axis=0)).max() > 0


def test_deterministic_and_chunked_equals_whole():
    p = MovementParams(mild_per_h=60.0, extensive_per_h=30.0, shift_prob=0.8)
    t = np.arange(0.0, 2 * 3600.0, 0.02)
    whole = BodyMovement(p, 21).offset_m(t)
    m = BodyMovement(p, 21)
    chunks = np.array_split(t, 37)
    parts = [m.offset_m(c) for c in chunks[::-1]][::-1]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert not np.array_equal(BodyMovement(p, 22).offset_m(t), whole)
    ev = BodyMovement(p, 21).events_between(1000.0, 2000.0)
    assert all(e.end_s > 1000.0 and e.start_s < 2000.0 for e in ev)


def test_draw_and_validation():
    rng = np.random.default_rng(1)
    calm = MovementParams.draw(rng, "still")
    wild = MovementParams.draw(rng, "restless")
    assert calm.mild_per_h < wild.mild_per_h and calm.extensive_per_h < wild.extensive_per_h
    with pytest.raises(ConfigError, match="duration_s"):
        MovementParams(duration_s=(0.1, 3.0))
    with pytest.raises(ConfigError, match="restlessness"):
        MovementParams.draw(rng, "dancing")
