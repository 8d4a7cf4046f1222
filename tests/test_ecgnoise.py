"""Reference-ECG noise: seeded, chunk-independent, per electrode (so the lead identities
still hold), each kind in its band, off unless asked for."""

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from hardware_sim.subject import VirtualSubject
from hardware_sim.subject.ecgnoise import (
    NOISE_LEVELS, NoisyReference, ReferenceEcgNoise, ReferenceNoiseParams, electrodes_to_leads,
)
from hardware_sim.subject.electrical import ElectricalParams, SyntheticHeart
from hardware_sim.subject.params import PRESETS

FS = 500.0
T = np.arange(0.0, 60.0, 1 / FS)


def band_share(x, lo, hi):
    f = np.fft.rfftfreq(x.size, 1 / FS)
    s = np.abs(np.fft.rfft(x - x.mean())) ** 2
    return s[(f >= lo) & (f < hi)].sum() / s.sum()


def test_default_truth_is_clean():
    # the simulator's own truth carries no noise: the layer is only applied on request
    vs = VirtualSubject(PRESETS["healthy-rest"].make(1), 1)
    assert not isinstance(vs.electrical, NoisyReference)
    assert not ReferenceNoiseParams().active
    assert not ReferenceNoiseParams.level("clean").active
    assert np.array_equal(ReferenceEcgNoise(ReferenceNoiseParams(), 3).leads_mv(T), np.zeros((T.size, 12)))


def test_same_seed_same_bytes_any_chunking_other_seed_differs():
    p = ReferenceNoiseParams.level("ambulatory", powerline_hz=60.0)
    whole = ReferenceEcgNoise(p, 5).leads_mv(T)
    n = ReferenceEcgNoise(p, 5)
    parts = [None] * 9
    for i in reversed(range(9)):  # newest first, odd chunk size, across 10-s blocks
        parts[i] = n.leads_mv(T[i * 3400:(i + 1) * 3400])
    assert np.concatenate(parts).tobytes() == whole.tobytes()
    assert not np.array_equal(ReferenceEcgNoise(p, 6).leads_mv(T), whole)


def test_leads_keep_einthoven_and_goldberger():
    e = ReferenceEcgNoise(ReferenceNoiseParams.level("ambulatory"), 2).leads_mv(T)
    I, II = e[:, 0], e[:, 1]
    assert np.abs(e[:, 2] - (II - I)).max() < 1e-12
    assert np.abs(e[:, 3] + (I + II) / 2).max() < 1e-12
    assert np.abs(e[:, 4] - (I - II / 2)).max() < 1e-12
    assert np.abs(e[:, 5] - (II - I / 2)).max() < 1e-12
    # a single moving electrode shows in the leads that use it, not in the others
    el = np.zeros((4, 9))
    el[:, 3] = 1.0  # V1 electrode only
    leads = electrodes_to_leads(el)
    assert np.allclose(leads[:, :6], 0) and np.allclose(leads[:, 6], 1) and np.allclose(leads[:, 7:], 0)


@pytest.mark.parametrize("kind,params,band", [
    ("baseline", dict(baseline_mv=0.1), (0.0, 0.7)),
    ("powerline50", dict(powerline_mv=0.05), (49.5, 50.5)),
    ("powerline60", dict(powerline_mv=0.05, powerline_hz=60.0), (59.5, 60.5)),
    ("emg", dict(emg_mv=0.03), (20.0, 250.0)),
])
def test_each_kind_lives_in_its_band(kind, params, band):
    x = ReferenceEcgNoise(ReferenceNoiseParams(**params), 1).leads_mv(T)[:, 1]
    assert band_share(x, *band) > 0.8, kind
    amp = next(v for k, v in params.items() if k.endswith("_mv"))
    assert 0.3 * amp < x.std() < 4 * amp, (kind, x.std())


def test_emg_bursts_and_electrode_motion_are_transient_events():
    p = ReferenceNoiseParams(emg_bursts_per_min=6.0, emg_burst_mv=0.2, motion_per_min=6.0,
                             motion_mv=0.8)
    e = ReferenceEcgNoise(p, 4).electrode_mv(T)
    active = np.abs(e).max(axis=1) > 0.02
    assert 0.02 < active.mean() < 0.6  # events, not a constant layer
    step = np.abs(np.diff(e, axis=0)).max()
    assert step > 0.05  # electrode motion rises within ~20 ms: a jump a filter cannot hide
    with pytest.raises(ConfigError, match="motion_mv"):
        ReferenceNoiseParams(motion_mv=-1.0)
    with pytest.raises(ConfigError, match="powerline_hz"):
        ReferenceNoiseParams(powerline_hz=55.0)
    with pytest.raises(ConfigError, match="noise level"):
        ReferenceNoiseParams.level("loud")


def test_noisy_reference_wraps_a_heart_and_leaves_the_beats_alone():
    p = ElectricalParams.draw(np.random.default_rng(3), "sinus")
    heart = SyntheticHeart(p, 3)
    noisy = NoisyReference(SyntheticHeart(p, 3), ReferenceNoiseParams.level("bedside"), seed=8)
    assert noisy.beats_between(0, 20) == heart.beats_between(0, 20)
    diff = noisy.ecg_mv(T[:5000]) - heart.ecg_mv(T[:5000])
    assert 0.01 < diff.std() < 0.5
    assert noisy.params is p  # everything else comes from the source
    drawn = [ReferenceNoiseParams.draw(np.random.default_rng(s)) for s in range(20)]
    for d in drawn:
        for k, hi in NOISE_LEVELS["ambulatory"].items():
            assert getattr(d, k) <= hi * 1.0001
    assert len({d.powerline_hz for d in drawn}) == 2
