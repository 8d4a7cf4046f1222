"""convert: ONNX (built with onnx.helper, the model's input shape) -> float32 / int8 TFLite via onnx2tf."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from model_helpers import tiny_dataset

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def make_onnx(path, in_shape=(1, 12, 512), extra_op=None):
    """Conv1d(12->8, k5) + ReLU; ecg = Conv1d(8->12, k1); anchors = sigmoid(Conv1d(8->1)) as (1, 512);
    cycle = Gemm(mean over time) (1, 1)."""
    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in (
        ("w1", rng.normal(0, 0.3, (8, 12, 5))), ("b1", rng.normal(0, 0.1, 8)),
        ("w2", rng.normal(0, 0.3, (12, 8, 1))), ("b2", np.zeros(12)),
        ("w3", rng.normal(0, 0.3, (1, 8, 1))), ("b3", np.zeros(1)),
        ("w4", rng.normal(0, 0.3, (8, 1))), ("b4", np.array([0.9])))]
    init.append(numpy_helper.from_array(np.array([1, 512], np.int64), "shape_anc"))
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["h0"], kernel_shape=[5], pads=[2, 2], name="conv1"),
        helper.make_node("Relu", ["h0"], ["h"], name="relu1"),
        helper.make_node("Conv", ["h", "w2", "b2"], ["ecg"], kernel_shape=[1], name="ecg_conv"),
        helper.make_node("Conv", ["h", "w3", "b3"], ["a0"], kernel_shape=[1], name="anc_conv"),
        helper.make_node("Sigmoid", ["a0"], ["a1"], name="anc_sigmoid"),
        helper.make_node("Reshape", ["a1", "shape_anc"], ["anchors"], name="anc_reshape"),
        helper.make_node("ReduceMean", ["h"], ["m"], axes=[2], keepdims=0, name="pool"),
        helper.make_node("Gemm", ["m", "w4", "b4"], ["cycle_s"], name="cycle_fc"),
    ]
    if extra_op:
        nodes.insert(2, helper.make_node(extra_op, ["h"], ["h_x"], name="weird", domain="com.example"))
        nodes[-1] = helper.make_node("Gemm", ["m", "w4", "b4"], ["cycle_s"], name="cycle_fc")
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("ecg", TensorProto.FLOAT, [1, 12, 512]),
         helper.make_tensor_value_info("anchors", TensorProto.FLOAT, [1, 512]),
         helper.make_tensor_value_info("cycle_s", TensorProto.FLOAT, [1, 1])], init)
    opsets = [helper.make_opsetid("", 13)] + ([helper.make_opsetid("com.example", 1)] if extra_op else [])
    model = helper.make_model(graph, opset_imports=opsets, producer_name="test")
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from host.convert import convert_onnx

    tmp = tmp_path_factory.mktemp("convert")
    ds = tiny_dataset(tmp / "ds", n_train=12, n_val=2, n_test=2)
    return tmp, ds, convert_onnx(make_onnx(tmp / "tiny.onnx"), tmp / "out", ds, n_calib=12, n_check=4)


def test_float_and_int8_match_onnxruntime(converted):
    _, _, r = converted
    assert r.float_path.is_file() and r.int8_path.is_file()
    assert max(r.check["float32_max_abs_err"].values()) < 1e-4
    assert min(r.check["int8_corr"].values()) > 0.98
    assert set(r.check["int8_corr"]) == {"ecg", "anchors", "cycle_s"}


def test_int8_runs_in_the_edge_with_metadata(converted):
    from edge.dsp.tensor import to_model_input
    from edge.infer import EcgModel
    from host.data.format import load_split

    _, ds, r = converted
    meta = json.loads(r.int8_path.with_suffix(".json").read_text())
    assert meta["input"]["shape"] == [1, 512, 12] and meta["input"]["dtype"] == "int8"
    assert meta["dsp"]["hop_samples"] == 256
    preds = []
    for backend in ("ai_edge_litert", "tflite_runtime"):
        m = EcgModel(r.int8_path, prefer=backend, reference_kernels=True)
        x = to_model_input(load_split(ds, "test").features_q15[0], m.input_spec)  # (1, 512, 4, 3) from the DSP
        preds.append(m.predict_int8(x))
    assert preds[0].ecg_mv.shape == (512, 12)
    np.testing.assert_allclose(preds[0].ecg_mv, preds[1].ecg_mv, atol=1e-6)


def test_unsupported_op_and_wrong_shape_are_refused(tmp_path):
    from host.convert import convert_onnx

    ds = tiny_dataset(tmp_path / "ds", n_train=2, n_val=1, n_test=1)
    with pytest.raises(ConfigError, match=r"input 'x': expected shape \(N, 12, 512\).*\(1, 3, 4, 512\)"):
        convert_onnx(make_onnx(tmp_path / "a.onnx", in_shape=(1, 3, 4, 512)), tmp_path / "o", ds)
    with pytest.raises(ConfigError, match="cannot convert: FancyOp"):
        convert_onnx(make_onnx(tmp_path / "b.onnx", extra_op="FancyOp"), tmp_path / "o", ds)
    with pytest.raises(ConfigError, match="file not found"):
        convert_onnx(tmp_path / "none.onnx", tmp_path / "o", ds)
