"""The model: shapes, heads, variable split, MAC and size budgets."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from host.model import ModelConfig, build_model, int8_size_bytes, macs_per_second, macs_per_window, split_variables

MAC_BUDGET_PER_S = 60e6
SIZE_BUDGET_BYTES = 1_000_000


@pytest.fixture(scope="module")
def model():
    return build_model(ModelConfig())


def test_shapes(model):
    assert model.input_shape == (None, 512, 4, 3)
    ecg, anc, cyc = model(np.zeros((2, 512, 4, 3), np.float32))
    assert ecg.shape == (2, 512, 12) and anc.shape == (2, 512) and cyc.shape == (2, 1)
    assert np.all((anc.numpy() >= 0) & (anc.numpy() <= 1))
    # The cycle head starts at a typical resting cycle length.
    assert float(cyc[0, 0]) == pytest.approx(0.9, abs=0.5)


def test_variable_split(model):
    shared, heads = split_variables(model)
    names = {t: {v.name.split("/")[0] for v in vs} for t, vs in heads.items()}
    assert names["ecg"] == {"ecg_conv", "ecg"}
    assert names["anchors"] == {"anchors_conv", "anchors_logit"}
    assert names["cycle_s"] == {"cycle_fc", "cycle_s"}
    assert len(shared) + sum(map(len, heads.values())) == len(model.trainable_variables)
    assert all(v.name.startswith(("enc", "dec")) for v in shared)


def test_mac_count_by_hand():
    from host.model import keras

    inp = keras.Input((100, 12))
    x = keras.layers.Conv1D(8, 5, strides=2, padding="same")(inp)  # 50 * 5 * 12 * 8
    y = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(x))  # 8 * 3
    assert macs_per_window(keras.Model(inp, y)) == 50 * 5 * 12 * 8 + 24


def test_budgets(model):
    """<= 60 M MAC per second of signal (one window per hop, as deployed) and <= 1 MB as int8."""
    from boards import load_profile

    d = load_profile("sim").dsp  # the hop the boards deploy (a window every 1.28 s)
    mps = macs_per_second(model, d.frame_rate_hz, d.hop_samples)
    assert mps <= MAC_BUDGET_PER_S, mps
    assert macs_per_window(model) > 1e6  # a real count, not zero
    assert int8_size_bytes(model) < SIZE_BUDGET_BYTES


def test_int8_flatbuffer_size(model):
    from quantize.ptq import convert_keras_int8

    calib = np.random.default_rng(0).uniform(-1, 1, (4, 512, 4, 3)).astype(np.float32)
    flat = convert_keras_int8(model, calib)
    assert len(flat) <= SIZE_BUDGET_BYTES, len(flat)
