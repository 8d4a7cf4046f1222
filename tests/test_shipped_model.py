"""The shipped int8 model: fits the boards, runs through the DSP's int8 rule, evaluates on
held-out subjects only, and beats the template baseline on real recorded ECGs."""

import json
from pathlib import Path

import numpy as np
import pytest

from boards import load_profile
from cardioradar.cli import main
from edge.dsp.config import DspConfig
from edge.dsp.tensor import to_model_input
from edge.infer import EcgModel

SHIPPED = load_profile("sim").model_path
# The suite of real recorded ECGs (never trained on; tests/data/ecg-suite/ATTRIBUTION.md)
# that drives the simulator.
SUITE = Path(__file__).parent / "data" / "ecg-suite"


@pytest.fixture(scope="module")
def model():
    return EcgModel(SHIPPED)


@pytest.mark.parametrize("board", ["sim", "rpi4-iwr6843isk", "rpizero2w-iwr6843aop"])
def test_shipped_model_matches_every_board(model, board):
    profile = load_profile(board)
    assert profile.model_path == SHIPPED
    model.check_against(DspConfig.from_profile(profile))


def test_batch_predict_is_the_per_window_int8_path(model):
    rng = np.random.default_rng(3)
    feats = rng.integers(-8000, 8000, size=(3, 512, 4, 3), dtype=np.int16)
    ecg, anchors, cycle = model.predict(feats)
    assert ecg.shape == (3, 512, 12) and anchors.shape == (3, 512) and cycle.shape == (3,)
    one = model.predict_int8(to_model_input(feats[1], model.input_spec))
    np.testing.assert_array_equal(ecg[1], one.ecg_mv)
    np.testing.assert_array_equal(anchors[1], one.anchors)


def test_eval_cli_on_held_out_subjects(capsys):
    # no --model: the board's shipped model, named in the JSON
    rc = main(["eval", "--subjects", "1", "--seconds", "20", "--seed", "5", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Path(out["model"]).resolve() == SHIPPED.resolve() and SHIPPED.name in out["source"]
    assert out["dm_baseline"] == "template baseline" and out["dm_percent"] > 0
    for key in ("pcc_median", "rmse_mv_median", "ibi_mae_ms_median", "rpeak_err_ms_median", "mdr",
                "hr_err_bpm_median", "n_beats", "n_subjects"):
        assert key in out
    assert out["n_subjects"] == 1 and out["n_beats"] > 10
    assert 0.0 < out["pcc_median"] <= 1.0


def test_eval_refuses_the_training_population(capsys):
    seed = json.loads(SHIPPED.with_suffix(".json").read_text())["training"]["dataset_seed"]
    rc = main(["eval", "--model", str(SHIPPED), "--subjects", "1", "--seconds", "20", "--seed", str(seed)])
    assert rc != 0
    assert "not held out" in capsys.readouterr().err


def test_eval_accepts_the_float_keras_model(tmp_path, capsys):
    """Float vs int8 comparisons: `eval --model X.keras` scores the float model on the same features."""
    from host.model import ModelConfig, build_model

    model = build_model(ModelConfig(widths=[4, 4, 4, 4], head_width=4))
    path = tmp_path / "tiny.keras"
    model.save(path)
    (tmp_path / "tiny.json").write_text(SHIPPED.with_suffix(".json").read_text())
    rc = main(["eval", "--model", str(path), "--subjects", "1", "--seconds", "20", "--seed", "5", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_subjects"] == 1 and "pcc_median" in out
    # its metadata names the training population, so that seed is refused
    rc = main(["eval", "--model", str(path), "--subjects", "1", "--seconds", "20", "--seed", "2026"])
    assert rc != 0


def test_beats_the_template_baseline_on_real_recordings(model):
    """Real recorded ECGs drive the simulator: on every file of the suite the shipped model
    reconstructs better than the model-free template baseline (PCC, RMSE, R peaks), and by a
    wide margin over the suite. The per-file PCC margin is 0.05: the real AF record at 150 bpm
    (CPSC A0003) beats the baseline by 0.10 only (docs/model.md, the AF records). Missed beats
    are compared per file on the non-AF records and pooled over the AF ones: in AF the board
    misses the beats after the shortest RR (A0009: a third), where the baseline's evenly
    spaced guesses land within 150 ms of such dense beats by chance."""
    from host import eval as ev

    (ws,), names, status = ev.drive_suite([SUITE], 20.0, 1000)
    assert len(names) == len(status) >= 5 and not any("error" in v for v in status.values())
    got = ev.evaluate_windows(model.predict, ws, names=names)
    base = ev.evaluate_windows(ev.TemplateBaseline(), ws, names=names)
    assert "sinus" in got.per_condition  # rhythms from the suite's recordings.json
    for m, b in zip(got.subjects, base.subjects):
        assert m.name == b.name and m.n_beats >= 15
        assert m.pcc > b.pcc + 0.05, m.name
        assert m.rmse_mv < b.rmse_mv, m.name
        assert m.rpeak_err_ms < b.rpeak_err_ms, m.name
        if m.condition != "af":
            assert m.mdr < b.mdr, m.name
    af = [(m, b) for m, b in zip(got.subjects, base.subjects) if m.condition == "af"]
    assert len(af) >= 2 and sum(m.n_missed for m, _ in af) < 0.5 * sum(b.n_missed for _, b in af)
    assert got.summary["pcc_median"] > base.summary["pcc_median"] + 0.15 and got.summary["mdr"] < 0.1
    assert got.summary["hr_err_bpm_median"] < base.summary["hr_err_bpm_median"]
    assert ev.dm_vs(got, base) > 50
