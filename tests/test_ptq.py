"""quantize model: full-integer int8 TFLite + metadata + float-vs-int8 report."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from cardioradar.jsonvalues import json_clean
from model_helpers import tiny_int8_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_int8_model(tmp_path_factory.mktemp("ptq"))


def test_int8_model_and_metadata(tiny):
    from ai_edge_litert.interpreter import Interpreter

    _, _, tfl = tiny
    meta = json.loads(tfl.with_suffix(".json").read_text())
    it = Interpreter(model_path=str(tfl))
    d = it.get_input_details()[0]
    assert d["dtype"] == np.int8 and tuple(d["shape"]) == (1, 512, 4, 3)
    assert meta["input"]["scale"] == pytest.approx(d["quantization"][0])
    assert meta["input"]["zero_point"] == d["quantization"][1]
    assert meta["input"]["layout"]["order"] == "TVC"
    assert set(meta["outputs"]) == {"ecg", "anchors", "cycle_s"}
    assert meta["outputs"]["ecg"]["shape"] == [1, 512, 12]
    assert meta["lead_order"][:3] == ["I", "II", "III"] and len(meta["lead_order"]) == 12
    assert meta["dsp"]["hop_samples"] == 256 and meta["fs_hz"] == 100.0
    assert meta["training"]["splits"]["train"]["n_windows"] == 8
    m = meta["metrics"]
    assert m["split"] == "test" and m["float"]["n_windows"] == 4 and m["scorer"].startswith("host.scoring")
    # the one scorer's keys, as `cardioradar eval` writes them
    for k in ("pcc_median", "rmse_mv_median", "rpeak_err_ms_median", "ibi_mae_ms_median", "mdr",
              "hr_err_bpm_median", "ppi_err_ms_median", "n_beats", "n_subjects", "per_lead"):
        assert k in m["int8"] and k in m["float"]
    assert m["int8"]["n_windows"] == 4 and m["int8"]["n_subjects"] >= 1
    assert set(m["int8_vs_float"]["metric_rel_diff"]) >= {"pcc_median", "rmse_mv_median", "mdr"}
    # An untrained tiny model is still one function: int8 tracks float closely.
    assert m["int8_vs_float"]["ecg_corr"] > 0.95
    # Full integer: the only float tensors are the three dequantised outputs.
    floats = {t["index"] for t in it.get_tensor_details() if t["dtype"] == np.float32}
    assert floats == {o["index"] for o in it.get_output_details()}
    ops = {o["op_name"] for o in it._get_ops_details()}
    assert ops <= {"CONV_2D", "RELU", "ADD", "CONCATENATION", "RESIZE_NEAREST_NEIGHBOR", "MEAN", "FULLY_CONNECTED",
                   "LOGISTIC", "RESHAPE", "EXPAND_DIMS", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "DEQUANTIZE"}, ops


def test_report_is_the_eval_scorer(tiny):
    """quantize's report and `cardioradar eval` give the same figures for the same windows."""
    from edge.infer import EcgModel
    from host import eval as ev
    from host.data.format import load_split

    _, ds, tfl = tiny
    meta = json.loads(tfl.with_suffix(".json").read_text())
    test = load_split(ds, "test")
    r = ev.evaluate_windows(EcgModel(tfl).predict, test, hop_samples=meta["hop_samples"])
    for k in ("pcc_median", "rmse_mv_median", "mdr", "n_beats", "ppi_err_ms_median"):
        a, b = meta["metrics"]["int8"][k], json_clean(r.summary[k])
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9) if a is not None else b is None, k


def test_eval_data_as_a_user_runs_it_agrees_with_the_report(tiny, capsys):
    """`cardioradar eval --model M --data DS --json` (docs/model.md) scores the test split with
    the report's figures: the dataset's windows joined at the dataset's own stride (256), not
    scored one by one at the board's hop (128)."""
    from cardioradar.cli import main

    _, ds, tfl = tiny
    meta = json.loads(tfl.with_suffix(".json").read_text())
    assert main(["eval", "--model", str(tfl), "--data", str(ds), "--json"]) == 0
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "joined at that stride" in d["source"]
    for k in ("pcc_median", "rmse_mv_median", "mdr", "n_beats", "seconds"):
        a = meta["metrics"]["int8"][k]
        assert a == pytest.approx(d[k], rel=1e-6, abs=1e-9) if a is not None else d[k] is None, k


def test_bad_arguments(tiny, tmp_path):
    keras_path, ds, _ = tiny
    from host.ptqreport import quantize_model

    with pytest.raises(ConfigError, match="tflite"):
        quantize_model(keras_path, ds, tmp_path / "x.bin")
    with pytest.raises(ConfigError, match="no such model"):
        quantize_model(tmp_path / "none.keras", ds, tmp_path / "x.tflite")
