"""Heart mechanics timed from electrical beats: Weissler intervals, valve events, displacement."""

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from hardware_sim.subject.mechanics import (
    HeartMechanics,
    MechanicalParams,
    systolic_intervals_ms,
)
from hardware_sim.subject.types import Beat

JITTER_BOUND_MS = 3 * 2.0 + 1e-6  # per-beat jitter is clipped at 3 SD of 2 ms


class BeatList:
    """A hand-made electrical source: regular or given RR intervals."""

    def __init__(self, rr_s, t0_s=0.5, r_after_onset_s=0.03, kinds=None):
        r = t0_s + np.cumsum(rr_s)
        kinds = kinds or ["N"] * len(rr_s)
        self.beats = [
            Beat(i, float(r[i]), float(r[i] - r_after_onset_s), float(rr_s[i]), kinds[i])
            for i in range(len(rr_s))
        ]

    def beats_between(self, t0_s, t1_s):
        return [b for b in self.beats if t0_s <= b.r_time_s < t1_s]

    def ecg_mv(self, t_s):
        return np.zeros((len(t_s), 12))


def test_weissler_values():
    assert systolic_intervals_ms(70.0, "M") == pytest.approx((103.0, 294.0, 399.0))
    assert systolic_intervals_ms(70.0, "F") == pytest.approx((105.0, 306.0, 409.0))
    pep, lvet, qs2 = systolic_intervals_ms(np.array([60.0, 120.0]), "M")
    assert pep.shape == (2,) and np.all(np.diff(lvet) < 0)
    with pytest.raises(ConfigError, match="sex"):
        systolic_intervals_ms(70.0, "X")


@pytest.mark.parametrize("sex", ["M", "F"])
@pytest.mark.parametrize("hr", [50.0, 70.0, 100.0, 150.0])
def test_event_timing_matches_weissler_within_spread(sex, hr):
    params = MechanicalParams.draw(np.random.default_rng(int(hr) + (sex == "F")), sex)
    src = BeatList(np.full(40, 60.0 / hr))
    mech = HeartMechanics(params, src, sex, seed=4)
    events = mech.events_between(0.0, 1e3)
    assert len(events) == 40
    pep, lvet, qs2 = systolic_intervals_ms(hr, sex)
    for ev in events:
        assert ev.qrs_onset_s == src.beats[ev.beat_index].qrs_onset_s
        got_pep = (ev.ao_s - ev.qrs_onset_s) * 1e3
        got_lvet = (ev.ac_s - ev.ao_s) * 1e3
        got_qs2 = (ev.ac_s - ev.qrs_onset_s) * 1e3
        assert abs(got_pep - pep * params.pep_scale) <= JITTER_BOUND_MS
        assert abs(got_lvet - lvet * params.lvet_scale) <= JITTER_BOUND_MS
        # QS2 = PEP + LVET; Weissler's separate QS2 regression agrees within its few ms.
        expect_qs2 = pep * params.pep_scale + lvet * params.lvet_scale
        assert abs(got_qs2 - expect_qs2) <= 2 * JITTER_BOUND_MS
        assert abs(got_qs2 - qs2) <= 2 * JITTER_BOUND_MS + 0.2 * qs2  # drawn spread <= 20 %
        assert ev.mc_s < ev.ao_s < ev.ac_s < ev.mo_s
        assert 30.0 - JITTER_BOUND_MS <= (ev.mc_s - ev.qrs_onset_s) * 1e3 <= 60.0 + JITTER_BOUND_MS
        assert (ev.mo_s - ev.ac_s) * 1e3 == pytest.approx(params.ivrt_ms)
        assert 70.0 <= params.ivrt_ms <= 90.0
        assert ev.mo_s < ev.qrs_onset_s + 60.0 / hr  # the cycle ends before the next beat


def test_spread_drawn_per_subject():
    rng = np.random.default_rng(0)
    ps = [MechanicalParams.draw(rng, "M") for _ in range(200)]
    pep = np.array([p.pep_scale for p in ps])
    assert 0.04 < pep.std() < 0.12
    assert all(30 <= p.mc_delay_ms <= 60 and 0.1 <= p.pulse_mm <= 0.5 for p in ps)
    assert all(10 <= p.vib1_um <= 50 and 10 <= p.vib2_um <= 50 for p in ps)


def test_displacement_pulse_and_vibrations():
    params = MechanicalParams(pulse_mm=0.3, vib1_um=30.0, vib2_um=20.0)
    src = BeatList(np.full(30, 1.0))
    mech = HeartMechanics(params, src, "M", seed=1)
    fs = 1000.0
    t = np.arange(0.0, 30.0, 1 / fs)
    d = mech.displacement_mm(t)
    # Peak-to-peak per beat about the pulse amplitude plus the vibrations.
    assert 0.28 < d.max() - d.min() < 0.3 + 0.1
    # Band 10-45 Hz holds the valve vibrations: tens of um, about 10x below the pulse.
    spec = np.fft.rfft(d - d.mean())
    f = np.fft.rfftfreq(d.size, 1 / fs)
    hp = np.fft.irfft(np.where((f > 10) & (f < 45), spec, 0), d.size)
    assert 0.005 < np.abs(hp).max() < 0.06
    # Heartbeat fundamental at the beat rate.
    assert f[np.argmax(np.abs(spec[1:])) + 1] == pytest.approx(1.0, abs=0.05)
    # A point further from the apex: same shape, later.
    late = mech.displacement_mm(t, delay_s=0.03)
    # Shapes are cut at 4.5 sigma (4e-5 of their peak); a sample on a cut edge may fall
    # on either side once shifted, so equal within that truncation level.
    np.testing.assert_allclose(late[30:], d[:-30], atol=2e-5)


def test_pvc_beats_weaker_and_local_rate_used():
    rr = np.array([1.0, 1.0, 0.6, 1.4, 1.0, 1.0])
    src = BeatList(rr, kinds=["N", "N", "V", "N", "N", "N"])
    mech = HeartMechanics(MechanicalParams(), src, "M", seed=2)
    ev = mech.events_between(0.0, 10.0)
    lvet = [(e.ac_s - e.ao_s) for e in ev]
    assert lvet[2] < lvet[1] and lvet[3] > lvet[1]  # short RR -> short LVET
    t = np.arange(0.0, 8.0, 0.001)
    d = mech.displacement_mm(t)
    seg = lambda e: d[(t >= e.qrs_onset_s) & (t < e.mo_s)].max()  # noqa: E731
    assert seg(ev[2]) < 0.8 * seg(ev[1])


def test_deterministic_and_chunked_equals_whole():
    rng = np.random.default_rng(3)
    rr = rng.uniform(0.5, 1.2, 400)
    params = MechanicalParams.draw(rng, "F")
    t = np.arange(0.0, float(rr.sum()), 0.01)
    whole = HeartMechanics(params, BeatList(rr), "F", 8).displacement_mm(t)
    mech = HeartMechanics(params, BeatList(rr), "F", 8)
    chunks = np.array_split(t, 41)
    parts = [mech.displacement_mm(c) for c in chunks[::-1]][::-1]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    other = HeartMechanics(params, BeatList(rr), "F", 9).displacement_mm(t)
    assert not np.array_equal(other, whole)
    e1 = HeartMechanics(params, BeatList(rr), "F", 8).events_between(100.0, 120.0)
    e2 = mech.events_between(100.0, 120.0)
    assert e1 == e2 and all(100.0 <= e.qrs_onset_s < 120.0 for e in e1)


def test_several_delays_at_once_equal_one_at_a_time():
    rr = np.random.default_rng(5).uniform(0.6, 1.1, 60)
    mech = HeartMechanics(MechanicalParams(), BeatList(rr), "M", 3)
    t = np.arange(0.0, 40.0, 0.005)
    delays = np.array([0.0, 0.012, 0.04])
    many = mech.displacement_at_delays_mm(t, delays)
    for j, d in enumerate(delays):
        np.testing.assert_array_equal(many[:, j], mech.displacement_mm(t, delay_s=d))
