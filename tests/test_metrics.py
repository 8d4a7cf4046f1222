"""The papers' metrics on a real 12-lead ECG: identities, lag tolerance, peak matching, dm%."""

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from cardioradar.errors import InputDataError
from host import metrics

CSV = Path(__file__).parent / "data" / "ecg" / "ecg-plot_12lead_10s_500hz.csv"


@pytest.fixture(scope="module")
def ecg100():
    """The real 12-lead recording at the model's output rate (100 Hz)."""
    ecg500 = np.loadtxt(CSV, delimiter=",", skiprows=1)
    return resample_poly(ecg500, 1, 5, axis=0), 100.0


def test_identical_reconstruction_is_perfect(ecg100):
    ecg, fs = ecg100
    pcc = metrics.window_pcc(ecg, ecg, fs)
    assert pcc.shape == (len(ecg) // 256, 12)
    np.testing.assert_allclose(pcc, 1.0, atol=1e-12)
    np.testing.assert_allclose(metrics.rmse_mv(ecg, ecg), 0.0)


def test_pcc_absorbs_sub_second_lag_but_rmse_does_not(ecg100):
    ecg, fs = ecg100
    shifted = np.roll(ecg, 5, axis=0)  # 50 ms late
    pcc = metrics.window_pcc(shifted, ecg, fs)
    assert np.median(pcc) > 0.97
    assert metrics.window_pcc(shifted, ecg, fs, max_lag_s=0.0).mean() < pcc.mean() - 0.05
    assert metrics.rmse_mv(shifted, ecg)[1] > 0.05


def test_noise_lowers_pcc_and_raises_rmse(ecg100):
    ecg, fs = ecg100
    rng = np.random.default_rng(1)
    noisy = ecg + rng.normal(0, 0.2, ecg.shape)
    assert np.median(metrics.window_pcc(noisy, ecg, fs)) < 0.95
    np.testing.assert_allclose(metrics.rmse_mv(noisy, ecg), 0.2, rtol=0.15)


def test_neurokit_peaks_on_real_lead_ii(ecg100):
    ecg, fs = ecg100
    peaks = metrics.detect_r_peaks_s(ecg[:, 1], fs)
    assert 8 <= len(peaks) <= 16  # 10 s of a resting ECG
    assert np.all(np.diff(peaks) > 0.3)


def test_peak_matching_counts_misses_timing_and_ibi():
    true_s = np.arange(1.0, 11.0, 1.0)  # 10 beats
    pred = true_s + 0.004
    pred = np.delete(pred, 3)  # one missed beat
    pred = np.append(pred, 5.5)  # one spurious beat
    m = metrics.match_peaks(true_s, pred)
    assert m.n_missed == 1 and m.mdr == pytest.approx(0.1)
    np.testing.assert_allclose(m.timing_errors_ms, 4.0, atol=1e-9)
    # 9 IBIs, two touch the missed beat
    assert len(m.ibi_errors_ms) == 7
    np.testing.assert_allclose(m.ibi_errors_ms, 0.0, atol=1e-9)
    far = metrics.match_peaks(true_s, true_s + 0.2)
    assert far.n_missed == 10


def test_hr_error():
    true_s = np.arange(0, 60, 1.0)  # 60 bpm
    pred_s = np.arange(0, 60, 60 / 61)  # 61 bpm
    assert metrics.hr_error_bpm(true_s, pred_s) == pytest.approx(1.0, abs=1e-6)


def test_dm_percent_signs():
    better = {"rmse": 0.09, "pcc": 0.88}
    base = {"rmse": 0.10, "pcc": 0.80}
    hib = {"rmse": False, "pcc": True}
    assert metrics.dm_percent(better, base, hib) == pytest.approx((10 + 10) / 2)
    assert metrics.dm_percent(base, better, hib) < 0
    with pytest.raises(InputDataError, match="rmse"):
        metrics.dm_percent({"rmse": 1.0}, {"rmse": 0.0}, {"rmse": False})


def test_shape_mismatch_is_named():
    with pytest.raises(InputDataError, match="shapes differ"):
        metrics.rmse_mv(np.zeros((10, 12)), np.zeros((10, 11)))


def test_one_scorer_on_a_real_ecg(ecg100):
    """host.scoring.score_runs: a perfect run scores perfectly; samples the board did not keep
    (excluded, NaN) drop their PCC windows and their beats count as missed."""
    from host import scoring

    ecg, fs = ecg100
    r = np.array(metrics.detect_r_peaks_s(ecg[:, 1], fs))
    s = scoring.score_runs([scoring.Run(0.0, fs, ecg, ecg, r, r)])
    assert s.pcc == pytest.approx(1.0) and s.rmse_mv == pytest.approx(0.0) and s.mdr == 0
    assert len(s.pcc_windows) == len(ecg) // 256 and s.excluded_fraction == 0
    cut = ecg.copy()
    cut[:300] = np.nan  # the board excluded the first 3 s: no ECG, no beats there
    s2 = scoring.score_runs([scoring.Run(0.0, fs, cut, ecg, r[r >= 3.0], r)])
    assert len(s2.pcc_windows) == len(s.pcc_windows) - 2  # windows [0, 2.56) and [2.56, 5.12) are not whole
    assert s2.n_missed == int(np.sum(r < 3.0)) > 0 and s2.excluded_fraction == pytest.approx(0.3, abs=0.01)
    assert s2.rmse_mv == pytest.approx(0.0)  # over the kept samples only
    # a second run after a gap: peaks are matched within their run, seconds add up
    late = scoring.Run(100.0, fs, ecg, ecg, r + 100.0, r + 100.0)
    s3 = scoring.score_runs([scoring.Run(0.0, fs, ecg, ecg, r, r), late])
    assert s3.n_beats == 2 * len(r) and s3.n_missed == 0 and s3.seconds == pytest.approx(2 * len(ecg) / fs)
    with pytest.raises(InputDataError, match="shape"):
        scoring.Run(0.0, fs, ecg[:, :3], ecg[:, :3], r, r)
