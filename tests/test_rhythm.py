"""AF screening on hand-made RR series: irregularly irregular -> AF; sinus with respiratory
arrhythmia, isolated PVCs (compensatory pause) and PACs -> not AF; episodes and burden."""

import numpy as np
import pytest

from cardioradar.errors import InputDataError
from edge.rhythm import AfConfig, af_burden, af_episodes, af_score, irregularity, window_scores


def sinus(rng, n=32, hr=70.0, rsa_s=0.04, noise_s=0.01):
    """Sinus rhythm: respiratory sinus arrhythmia (3-6 s breaths), a 10-s Mayer wave, jitter."""
    rr0 = 60.0 / hr
    t = np.cumsum(np.full(n, rr0))
    return (rr0 + rsa_s * np.sin(2 * np.pi * t / rng.uniform(3, 6) + rng.uniform(0, 6))
            + 0.02 * np.sin(2 * np.pi * t / 10) + rng.normal(0, noise_s, n))


def af(rng, n=32):
    """AF: independent RR around a mean of 0.5-0.9 s with a 12-25 % spread."""
    m = rng.uniform(0.5, 0.9)
    return np.clip(rng.normal(m, m * rng.uniform(0.12, 0.25), n), 0.3, 2.0)


def ectopic(rng, n=32, every=10, early=0.6, pause=1.4):
    """Sinus with an ectopic beat every ``every`` beats: PVC (0.6 then 1.4: full compensatory
    pause) or PAC (0.75 then 1.1)."""
    rr = sinus(rng, n)
    for i in range(int(rng.integers(2, 6)), n - 1, every):
        rr[i] *= early
        rr[i + 1] *= pause
    return rr


def _auc(pos, neg):
    pos, neg = np.asarray(pos), np.asarray(neg)
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def test_af_separates_from_sinus_and_ectopy():
    rngs = [np.random.default_rng(s) for s in range(60)]
    s_af = [af_score(af(r)) for r in rngs]
    s_other = ([af_score(sinus(r)) for r in rngs] + [af_score(ectopic(r)) for r in rngs]
               + [af_score(ectopic(r, early=0.75, pause=1.1)) for r in rngs]
               + [af_score(ectopic(r, every=6)) for r in rngs])
    assert _auc(s_af, s_other) >= 0.99
    assert np.mean(np.array(s_af) >= 0.5) >= 0.95  # sensitivity at the default threshold
    assert np.mean(np.array(s_other) < 0.5) >= 0.97  # specificity


def test_measures_follow_dash_definitions():
    rr = np.array([0.8, 0.9] * 8)  # alternating: every inner point turns
    m = irregularity(rr, trim_frac=0.0)
    assert m.tpr == pytest.approx(1.0)
    assert m.nrmssd == pytest.approx(0.1 / 0.85)
    flat = irregularity(np.full(16, 0.8), trim_frac=0.0)
    assert flat.nrmssd == 0.0 and flat.entropy == 0.0 and flat.tpr == 0.0
    with pytest.raises(InputDataError, match="expected >= 8 finite intervals, got 3"):
        irregularity([0.8, 0.9, np.nan, 1.0])


def test_episodes_and_burden_on_a_paroxysm():
    """60 sinus beats, 80 AF beats, 60 sinus beats: one episode covering the AF stretch."""
    rng = np.random.default_rng(4)
    rr = np.concatenate([sinus(rng, 60), af(rng, 80), sinus(rng, 60)])
    t = np.cumsum(rr)
    eps = af_episodes(t, rr)
    assert len(eps) == 1
    af_t0, af_t1 = t[59], t[139]
    assert abs(eps[0].t0_s - af_t0) < 12 and abs(eps[0].t1_s - af_t1) < 12
    assert 0.3 < af_burden(eps, float(t[-1])) < 0.55


def test_windows_never_span_a_gap():
    rng = np.random.default_rng(1)
    rr = af(rng, 70)
    rr[40] = np.nan  # first beat after a break in the recording
    t = np.cumsum(np.nan_to_num(rr, nan=5.0))
    for t0, t1, _ in window_scores(t, rr, AfConfig(window_beats=16, step_beats=4)):
        assert not (t0 < t[40] - 1 and t1 >= t[40])
    with pytest.raises(InputDataError, match="same shape"):
        window_scores(t[:-1], rr)
