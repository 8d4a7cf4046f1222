"""The front end's counter-based Gaussian generator: distribution, independence, purity."""

from __future__ import annotations

import numpy as np
from scipy import stats

from hardware_sim.frontend.noise import frame_keys, gauss, gauss_fill, gauss_pair, seed_key


def _values(seed: int, n_frames: int = 40, n: int = 6144) -> np.ndarray:
    keys = frame_keys(seed_key(seed, 1), np.arange(n_frames, dtype=np.int64))
    out = np.empty((n_frames, n))
    for f in range(n_frames):
        gauss_fill(keys[f], 0, out[f])
    return out


def test_standard_normal_moments_tails_and_ks():
    x = _values(7).ravel()  # 245760 values
    se = 1.0 / np.sqrt(x.size)
    assert abs(x.mean()) < 4 * se
    assert abs(x.var() - 1.0) < 4 * np.sqrt(2.0) * se
    assert abs(stats.skew(x)) < 4 * np.sqrt(6.0) * se
    assert abs(stats.kurtosis(x)) < 4 * np.sqrt(24.0) * se
    for t in (1.0, 2.0, 3.0, 3.8):  # 3.8 lies beyond the ziggurat's base strip (r = 3.65)
        p = 2.0 * stats.norm.sf(t)
        got = np.mean(np.abs(x) > t)
        assert abs(got - p) < 5 * np.sqrt(p * (1 - p) / x.size), (t, got, p)
    assert stats.kstest(x, "norm").pvalue > 1e-3


def test_values_are_uncorrelated_within_and_across_frames():
    v = _values(3)
    x = v.ravel()
    lim = 4.0 / np.sqrt(x.size)
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < lim
    assert abs(np.corrcoef(v[:, 0::2].ravel(), v[:, 1::2].ravel())[0, 1]) < 2 * lim  # I vs Q
    assert abs(np.corrcoef(v[:-1].ravel(), v[1:].ravel())[0, 1]) < 2 * lim  # frame f vs f + 1


def test_pure_function_of_key_and_index():
    key = frame_keys(seed_key(11, 2), np.array([5], np.int64))[0]
    whole = np.empty(500)
    gauss_fill(key, 0, whole)
    part = np.empty(200)
    gauss_fill(key, 300, part)  # any start: the same values
    assert np.array_equal(part, whole[300:])
    assert all(gauss(key, i) == whole[i] for i in range(0, 500, 7))
    assert gauss_pair(key, 10) == (whole[20], whole[21])
    other = np.empty(500)
    gauss_fill(frame_keys(seed_key(12, 2), np.array([5], np.int64))[0], 0, other)
    assert not np.array_equal(other, whole)
