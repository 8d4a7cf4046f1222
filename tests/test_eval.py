"""host.eval: the metrics pipeline on an oracle, a noisy oracle, the template baseline and
noise-injected frames; the CLI's JSON line."""

import json

import numpy as np
import pytest

from cardioradar.cli import main
from cardioradar.errors import ConfigError, InputDataError
from host import eval as ev
from host.noise import NoiseSpec

KEYS = ("pcc_median", "rmse_mv_median", "ibi_mae_ms_median", "rpeak_err_ms_median", "mdr",
        "hr_err_bpm_median", "n_beats", "n_subjects")


@pytest.fixture(scope="module")
def windows():
    # clean and -9 dB burst windows from the same two recordings
    return ev.sim_windows(2, 25.0, 21, (None, NoiseSpec(burst_s=3.0, burst_db=-9.0)))


def test_oracle_scores_perfectly(windows):
    clean = windows[0]
    r = ev.evaluate_windows(ev.OraclePredictor(clean), clean)
    s = r.summary
    assert s["n_subjects"] == 2 and s["n_beats"] > 30
    assert s["pcc_median"] > 0.999 and s["rmse_mv_median"] < 1e-4
    assert s["mdr"] == 0 and s["rpeak_err_ms_median"] < 1e-6 and s["ibi_mae_ms_median"] < 1e-6
    assert s["hr_err_bpm_median"] < 1e-6 and s["ppi_err_ms_median"] < 1e-3
    assert set(r.per_lead) == set(ev.LEADS) and all(v["pcc_median"] > 0.999 for v in r.per_lead.values())
    assert sum(v["n_subjects"] for v in r.per_condition.values()) == 2


def test_noisy_oracle_scores_lower(windows):
    clean = windows[0]
    exact = ev.evaluate_windows(ev.OraclePredictor(clean), clean)
    noisy = ev.evaluate_windows(ev.OraclePredictor(clean, noise_mv=0.1, seed=1), clean)
    assert 0.5 < noisy.summary["pcc_median"] < exact.summary["pcc_median"] - 0.05
    assert 0.08 < noisy.summary["rmse_mv_median"] < 0.12  # sigma 0.1 mV, a little less after overlap-add
    assert ev.dm_vs(noisy, exact) < 0
    base = ev.evaluate_windows(ev.TemplateBaseline(), clean)
    assert ev.dm_vs(noisy, base) > 0 and base.summary["pcc_median"] < noisy.summary["pcc_median"]


def test_noise_changes_the_features_not_the_truth(windows):
    clean, noisy = windows
    assert np.array_equal(clean.ecg_mv, noisy.ecg_mv) and np.array_equal(clean.window_start_s, noisy.window_start_s)
    differs = np.any(clean.features_q15 != noisy.features_q15, axis=(1, 2, 3))
    assert differs.any() and not differs.all()  # bursts hit some windows only
    base = ev.TemplateBaseline()
    r = ev.with_dm(ev.evaluate_windows(base, noisy, noise="bursts"), ev.evaluate_windows(base, clean), "clean")
    assert np.isfinite(r.dm_percent) and r.dm_baseline == "clean"


def test_stitch_rebuilds_a_track():
    x = np.sin(np.arange(2000) / 7.0)[:, None] * np.ones((1, 3))
    starts = np.arange(0, 2000 - 512 + 1, 256)
    track, covered = ev.stitch(starts, np.stack([x[s:s + 512] for s in starts]))
    assert covered.all() and np.allclose(track, x[:len(track)])
    gap, cov = ev.stitch(np.array([0, 1000]), np.ones((2, 512, 1)))
    assert cov.sum() == 1024 and np.isnan(gap[600]).all()


def test_json_has_every_key_and_no_nan(windows):
    r = ev.evaluate_windows(ev.TemplateBaseline(), windows[0], source="t")
    d = json.loads(r.to_json())
    assert all(k in d for k in KEYS)
    assert "table" not in d and "lead" in r.format_tables()


def test_refuses_training_population_and_bad_predictors(windows):
    with pytest.raises(ConfigError, match="not held out"):
        ev.sim_windows(2, 10.0, 7, train_seed=ev.training_seed({"training_data": {"seed": 7}}))
    with pytest.raises(InputDataError, match="predictor output"):
        ev.evaluate_windows(lambda f: (np.zeros((len(f), 10, 12)), np.zeros((len(f), 512)), np.zeros(len(f))),
                            windows[0])


def test_cli_eval_json_last_line(capsys):
    rc = main(["eval", "--subjects", "1", "--seconds", "12", "--seed", "33", "--snr-db", "3", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    d = json.loads(out[-1])
    assert all(k in d for k in KEYS) and d["n_subjects"] == 1 and d["noise"] == "white 3 dB"
    assert d["dm_baseline"] == "clean input"
