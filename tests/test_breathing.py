"""Breathing: rate and depth as drawn, inhale shorter than exhale, determinism, interface."""

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from hardware_sim.subject.breathing import Breathing, BreathingParams


def test_rate_and_depth_match_params():
    for seed, (rate, depth) in enumerate([(0.12, 2.0), (0.25, 6.0), (0.45, 11.0)]):
        p = BreathingParams(rate_hz=rate, depth_mm=depth, rate_drift_frac=0.05)
        b = Breathing(p, seed)
        breaths = b.breaths_between(0.0, 1800.0)
        periods = np.array([x.inhale_s + x.exhale_s for x in breaths])
        assert abs(1.0 / periods.mean() - rate) / rate < 0.05
        depths = np.array([x.depth_mm for x in breaths])
        assert abs(depths.mean() - depth) / depth < 0.05
        # The waveform itself: peak-to-peak of each breath is its depth.
        t = np.arange(0.0, 600.0, 0.01)
        d = b.displacement_mm(t)
        assert d.min() >= -1e-9 and d.max() <= depths.max() + 1e-9  # float rounding either side
        # Rate from the waveform's spectrum peak (detrended) near the drawn rate.
        spec = np.abs(np.fft.rfft(d - d.mean()))
        f = np.fft.rfftfreq(d.size, 0.01)
        assert abs(f[np.argmax(spec)] - rate) < 0.03


def test_inhale_shorter_than_exhale_and_shape():
    p = BreathingParams(rate_hz=0.2, depth_mm=5.0, inhale_frac=0.4)
    b = Breathing(p, 7)
    breaths = b.breaths_between(0.0, 300.0)
    assert all(x.inhale_s < x.exhale_s for x in breaths)
    ti = np.mean([x.inhale_s for x in breaths])
    te = np.mean([x.exhale_s for x in breaths])
    assert 1.6 < ti < 2.4 and 2.6 < te < 3.4  # Ti ~ 2 s, Te ~ 3 s at 12 breaths/min
    x = breaths[5]
    t = np.array([x.start_s, x.start_s + x.inhale_s - 1e-9, x.end_s - 1e-9])
    lvl = b.resp_level(t)
    assert lvl[0] == pytest.approx(0.0, abs=1e-6) and lvl[1] == pytest.approx(1.0, abs=1e-6)
    assert lvl[2] == pytest.approx(0.0, abs=1e-6)
    # Exhale is exponential: fast at first, halfway down before half the exhale has passed.
    mid = b.resp_level(np.array([x.start_s + x.inhale_s + 0.5 * x.exhale_s]))[0]
    assert mid < 0.4


def test_phase_continuous_and_advances_2pi_per_breath():
    b = Breathing(BreathingParams(), 3)
    t = np.arange(0.0, 200.0, 0.01)
    ph = b.resp_phase_rad(t)
    assert np.all(np.diff(ph) > 0) and np.diff(ph).max() < 0.05
    n = len(b.breaths_between(0.0, 200.0))
    assert abs(ph[-1] / (2 * np.pi) - n) <= 1.0
    starts = np.array([x.start_s for x in b.breaths_between(0.0, 200.0)])
    np.testing.assert_allclose(b.resp_phase_rad(starts) / (2 * np.pi), np.arange(len(starts)), atol=1e-9)


def test_deterministic_and_chunk_order_independent():
    p = BreathingParams(rate_hz=0.3)
    t = np.arange(0.0, 1200.0, 0.01)
    whole = Breathing(p, 11).displacement_mm(t)
    b = Breathing(p, 11)
    chunks = np.array_split(t, 53)
    parts = {i: b.displacement_mm(c) for i, c in reversed(list(enumerate(chunks)))}
    np.testing.assert_array_equal(np.concatenate([parts[i] for i in range(len(chunks))]), whole)
    assert not np.array_equal(Breathing(p, 12).displacement_mm(t), whole)
    # Far ahead (8 h) and back again gives the same values.
    late = np.arange(8 * 3600.0, 8 * 3600.0 + 10.0, 0.01)
    a = b.displacement_mm(late)
    b.displacement_mm(t[:100])
    np.testing.assert_array_equal(b.displacement_mm(late), a)
    np.testing.assert_array_equal(Breathing(p, 11).displacement_mm(late), a)


def test_draw_in_range_and_bad_params():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = BreathingParams.draw(rng)
        assert 0.1 <= p.rate_hz <= 0.5 and 1.0 <= p.depth_mm <= 12.0
    with pytest.raises(ConfigError, match="rate_hz"):
        BreathingParams(rate_hz=0.8)
    with pytest.raises(ConfigError, match="finite"):
        Breathing(BreathingParams(), 0).resp_level(np.array([np.nan]))


def test_negative_times_continue_breath_zero_backwards():
    # The heart model asks for respiration a few beats before t = 0.
    b = Breathing(BreathingParams(), 2)
    t = np.arange(-30.0, 30.0, 0.01)
    ph = b.resp_phase_rad(t)
    assert np.all(np.diff(ph) > 0) and np.diff(ph).max() < 0.05
    lvl = b.resp_level(t)
    assert np.abs(np.diff(lvl)).max() < 0.05 and lvl.min() >= 0 and lvl.max() <= 1
    np.testing.assert_array_equal(b.resp_phase_rad(t[:500]), ph[:500])
    assert b.breaths_between(-20.0, 0.0)[-1].index == -1


def test_chest_turns_smoothly_no_kinks():
    """No kink at end-inhale / end-exhale: a kink's second derivative is a broadband spike that
    would land in the heart's valve-vibration band (10-40 Hz) after the eq.-4 differentiator."""
    for seed in range(4):
        params = BreathingParams.draw(np.random.default_rng(seed))
        b = Breathing(params, seed)
        fs = 1000.0
        t = np.arange(0.0, 60.0, 1.0 / fs)
        x = b.displacement_mm(t)
        acc = np.diff(x, 2) * fs * fs  # mm/s^2
        rate_rad_s = 2 * np.pi * params.rate_hz
        # A smooth breath's acceleration is a few depth * omega^2; a kink at 1 kHz sampling is
        # about 1000x that.
        assert np.max(np.abs(acc)) < 30.0 * params.depth_mm * max(rate_rad_s, 1.0) ** 2
        # and the breathing truth stays continuous across breaths
        assert np.max(np.abs(np.diff(x))) < 0.05 * params.depth_mm
