"""edge.infer: interpreters, the metadata contract, int8 prediction, stitching."""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from boards import load_profile
from cardioradar.errors import ConfigError, InputDataError
from edge.dsp.tensor import to_model_input
from edge.infer import CrossFadeStitcher, EcgModel, load_interpreter
from host.data.format import load_split
from model_helpers import tiny_int8_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_int8_model(tmp_path_factory.mktemp("infer"))


def _window_inputs(model, ds, n=3):
    test = load_split(ds, "test")
    return test, [to_model_input(test.features_q15[i], model.input_spec) for i in range(n)]


def test_same_outputs_under_litert_and_tflite_runtime(tiny):
    _, ds, tfl = tiny
    a = EcgModel(tfl, prefer="ai_edge_litert", reference_kernels=True)
    b = EcgModel(tfl, prefer="tflite_runtime", reference_kernels=True)
    assert (a.backend, b.backend) == ("ai_edge_litert", "tflite_runtime")
    _, xs = _window_inputs(a, ds)
    for x in xs:
        pa, pb = a.predict_int8(x), b.predict_int8(x)
        assert x.shape == (1, 512, 4, 3) and x.dtype == np.int8
        assert pa.ecg_mv.shape == (512, 12) and pa.anchors.shape == (512,) and isinstance(pa.cycle_s, float)
        # The same int8 kernels: the same integers, so equal up to the float dequantise.
        np.testing.assert_allclose(pa.ecg_mv, pb.ecg_mv, atol=1e-6)
        np.testing.assert_allclose(pa.anchors, pb.anchors, atol=1e-6)
        assert pa.cycle_s == pytest.approx(pb.cycle_s, abs=1e-6)


def test_default_xnnpack_kernels_agree_closely(tiny):
    _, ds, tfl = tiny
    a, b = EcgModel(tfl, prefer="ai_edge_litert"), EcgModel(tfl, prefer="tflite_runtime")
    ref = EcgModel(tfl, reference_kernels=True)
    _, xs = _window_inputs(a, ds)
    for x in xs:
        pr = ref.predict_int8(x)
        for p in (a.predict_int8(x), b.predict_int8(x)):
            assert np.corrcoef(p.ecg_mv.ravel(), pr.ecg_mv.ravel())[0, 1] > 0.995
            assert np.max(np.abs(p.anchors - pr.anchors)) < 0.02


def test_int8_close_to_float_keras(tiny):
    import tf_keras as keras

    keras_path, ds, tfl = tiny
    m = EcgModel(tfl)
    test, xs = _window_inputs(m, ds)
    ecg_f, anc_f, cyc_f = keras.models.load_model(str(keras_path), compile=False).predict(
        test.features_q15[:3].astype(np.float32) / 32768, verbose=0)
    for i, x in enumerate(xs):
        p = m.predict_int8(x)
        assert np.corrcoef(p.ecg_mv.ravel(), ecg_f[i].ravel())[0, 1] > 0.99
        assert np.max(np.abs(p.anchors - anc_f[i])) < 0.05
        assert abs(p.cycle_s - float(cyc_f[i, 0])) < 0.05


def test_edge_does_not_import_tensorflow_or_host(tiny):
    import subprocess

    _, _, tfl = tiny
    code = ("import sys; from edge.infer import EcgModel; m = EcgModel(sys.argv[1]); "
            "bad = [k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'host', 'hardware_sim', 'tf_keras')]; "
            "print(m.backend, bad)")
    out = subprocess.run([sys.executable, "-c", code, str(tfl)], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.stdout.split() == ["ai_edge_litert", "[]"]


def test_check_against_board_profiles(tiny):
    _, _, tfl = tiny
    m = EcgModel(tfl)
    m.check_against(load_profile("sim").dsp)
    good = dict(frame_rate_hz=100.0, window_samples=512, hop_samples=128, n_voxels=4)
    m.check_against(good)  # the hop is the board's (its latency), not the model's
    with pytest.raises(ConfigError, match="'window_samples'.*512.*384"):
        m.check_against(dict(good, window_samples=384))
    with pytest.raises(ConfigError, match="'cardiac_band_hz'"):
        m.check_against(dict(good, cardiac_band_hz=[0.5, 3.0]))
    with pytest.raises(ConfigError, match="missing field 'n_voxels'"):
        m.check_against(dict(frame_rate_hz=100.0, window_samples=512, hop_samples=256))


def test_metadata_errors(tiny, tmp_path):
    _, _, tfl = tiny
    meta = json.loads(tfl.with_suffix(".json").read_text())
    copy = tmp_path / "m.tflite"
    copy.write_bytes(tfl.read_bytes())
    with pytest.raises(ConfigError, match="m.json: file not found"):
        EcgModel(copy)
    meta["input"]["zero_point"] += 1
    copy.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="input quantisation"):
        EcgModel(copy)
    del meta["lead_order"]
    copy.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="missing field 'lead_order'"):
        EcgModel(copy)
    with pytest.raises(ConfigError, match="file not found"):
        load_interpreter(tmp_path / "none.tflite")
    with pytest.raises(InputDataError, match="expected int8"):
        EcgModel(tfl).predict_int8(np.zeros((1, 512, 4, 3), np.float32))


def test_cross_fade_stitcher():
    w, h = 8, 4
    s = CrossFadeStitcher(w, h)
    ramp = np.arange(20, dtype=float)
    pieces = []
    for k in range(3):  # windows of one linear signal: the stitch reproduces it exactly
        seg = ramp[k * h:k * h + w]
        pieces.append(s.push(np.repeat(seg[:, None], 12, 1), seg))
    pieces.append(s.flush())
    assert [p.start for p in pieces] == [0, 4, 8, 12]
    np.testing.assert_allclose(np.concatenate([p.anchors for p in pieces]), ramp[:16])
    # Two constant windows of different level: a monotone cross-fade, no jump.
    s = CrossFadeStitcher(w, h)
    s.push(np.zeros((w, 12)), np.zeros(w))
    mid = s.push(np.ones((w, 12)), np.ones(w)).anchors
    assert np.all(np.diff(mid) > 0) and 0 < mid[0] < 0.5 < mid[-1] < 1
    with pytest.raises(InputDataError):
        s.push(np.zeros((5, 12)), np.zeros(5))
    assert s.flush() is not None and s.flush() is None


@pytest.mark.parametrize("w,h,lag", [(8, 4, 4), (16, 4, 3), (16, 4, 12), (16, 4, 0), (512, 128, 96)])
def test_stitcher_lag_sets_the_delay_and_keeps_a_signal_whole(w, h, lag):
    """With hold-back ``lag``, window k (ending at sample k*h + w) gives the samples that lie
    lag+1..lag+h before its end, contiguous from 0, and flush the last lag; a signal every
    window sees alike comes out unchanged across every fade."""
    s = CrossFadeStitcher(w, h, lag)
    ramp = np.arange(10 * h + w, dtype=float)
    got, n = [], 0
    for k in range(10):
        seg = ramp[k * h:k * h + w]
        p = s.push(np.repeat(seg[:, None], 12, 1), seg)
        assert p.start == n
        end = k * h + w  # the newest sample the window saw, +1
        assert k == 0 or (end - (p.start + len(p.anchors)) == lag and len(p.anchors) == h)
        got.append(p.anchors)
        n += len(p.anchors)
    last = s.flush()
    assert (last.start, len(last.anchors)) == (n, lag)
    np.testing.assert_allclose(np.concatenate(got + [last.anchors]), ramp[:n + lag], atol=1e-3)


def test_stitcher_refuses_a_lag_beyond_the_overlap():
    with pytest.raises(ConfigError, match=r"expected 0 <= lag <= window - hop \(384\), got 400"):
        CrossFadeStitcher(512, 128, 400)
