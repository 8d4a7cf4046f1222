"""The edge model: radar features -> 12-lead ECG, R-peak anchors, cardiac-cycle length.

Input: the DSP's window, (window_samples, n_voxels, 3) float in [-1, 1) (real value of
the Q15 features, ``edge.dsp.tensor.FeatureLayout`` order "TVC"), viewed as
(window_samples, n_voxels * 3) channels.

Shared trunk (radarODE-MTL's split into a shared encoder and task heads): a 1-D conv
U-Net -- a stem, three stride-2 stages (x1/8 time), a dilated residual block at the
bottleneck, then nearest-neighbour upsampling back to the input rate with skip
concatenations. Heads:
- ``ecg``: (window_samples, 12) mV at the DSP's rate, lead order I, II, III, aVR, aVL,
  aVF, V1-V6 (two convs on the trunk's full-rate features);
- ``anchors``: (window_samples,) sigmoid, the R-peak Gaussian bumps;
- ``cycle_s``: (1,) seconds, from the pooled bottleneck.

Only ops LiteRT runs in int8 on ARM: Conv1D (lowered to CONV_2D), ReLU, ADD,
CONCATENATION, RESIZE_NEAREST_NEIGHBOR (UpSampling2D on a (T, 1, C) view), MEAN,
FULLY_CONNECTED, LOGISTIC, RESHAPE. No normalisation layers, attention or GELU.

Variables are split by layer-name prefix: layers named ``ecg_*``, ``anchors_*`` and
``cycle_*`` belong to one task's head; everything else is the shared trunk (the set
multi-task gradient methods act on).

Uses ``tf_keras`` (Keras 2.19, what ``tf.keras`` is in TF 2.19 with legacy Keras):
its models convert with ``TFLiteConverter.from_keras_model`` and load in onnx2tf's TF.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tf_keras as keras  # noqa: E402

TASKS = ("ecg", "anchors", "cycle_s")
HEAD_PREFIX = {"ecg": "ecg_", "anchors": "anchors_", "cycle_s": "cycle_"}
BOTTLENECK = "enc3_res4"  # the trunk's 1/8-rate features (the ECG prior aligns to them)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the model. ``widths``: channels of the stem and the three stride-2 stages."""

    window_samples: int = 512
    n_voxels: int = 4
    n_channels: int = 3
    n_leads: int = 12
    widths: tuple[int, int, int, int] = (32, 48, 64, 96)
    kernel: int = 5
    head_width: int = 32
    cycle_init_s: float = 0.9  # bias of the cycle head: a typical resting cycle

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ModelConfig":
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        return cls(**d)


def _conv(x, width: int, kernel: int, name: str, stride: int = 1, dilation: int = 1, act: str | None = "relu"):
    return keras.layers.Conv1D(width, kernel, strides=stride, dilation_rate=dilation, padding="same",
                               activation=act, kernel_initializer="he_uniform", name=name)(x)


def _up2(x, name: str):
    """x2 nearest-neighbour upsampling in time as RESIZE_NEAREST_NEIGHBOR on (T, 1, C)."""
    t, c = x.shape[1], x.shape[2]
    x = keras.layers.Reshape((t, 1, c), name=f"{name}_4d")(x)
    x = keras.layers.UpSampling2D((2, 1), interpolation="nearest", name=name)(x)
    return keras.layers.Reshape((2 * t, c), name=f"{name}_3d")(x)


def build_model(cfg: ModelConfig = ModelConfig()) -> keras.Model:
    """The multi-task model (untrained). Outputs in ``TASKS`` order."""
    t = cfg.window_samples
    if t % 8:
        raise ValueError(f"window_samples must be a multiple of 8, got {t}")
    w0, w1, w2, w3 = cfg.widths
    k = cfg.kernel
    inp = keras.Input((t, cfg.n_voxels, cfg.n_channels), name="features")
    x = keras.layers.Reshape((t, cfg.n_voxels * cfg.n_channels), name="flatten_voxels")(inp)
    s0 = _conv(x, w0, 7, "enc0")
    s1 = _conv(_conv(s0, w1, k, "enc1_down", stride=2), w1, k, "enc1")
    s2 = _conv(_conv(s1, w2, k, "enc2_down", stride=2), w2, k, "enc2")
    b = _conv(s2, w3, k, "enc3_down", stride=2)
    for d in (1, 2, 4):  # receptive field (the last Add is BOTTLENECK) at 1/8 rate: a few cardiac cycles
        b = keras.layers.Add(name=f"enc3_res{d}")([b, _conv(b, w3, k, f"enc3_dil{d}", dilation=d)])
    u = b
    for name, skip, width in (("dec2", s2, w2), ("dec1", s1, w1), ("dec0", s0, w0)):
        u = keras.layers.Concatenate(name=f"{name}_cat")([_up2(u, f"{name}_up"), skip])
        u = _conv(u, width, k, name)
    ecg = _conv(u, cfg.head_width, k, "ecg_conv")
    ecg = _conv(ecg, cfg.n_leads, 1, "ecg", act=None)
    anc = _conv(u, cfg.head_width // 2, k, "anchors_conv")
    anc = _conv(anc, 1, 1, "anchors_logit", act="sigmoid")
    anc = keras.layers.Reshape((t,), name="anchors")(anc)
    cyc = keras.layers.GlobalAveragePooling1D(name="cycle_pool")(b)
    cyc = keras.layers.Dense(cfg.head_width, activation="relu", name="cycle_fc")(cyc)
    cyc = keras.layers.Dense(1, name="cycle_s",
                             bias_initializer=keras.initializers.Constant(cfg.cycle_init_s))(cyc)
    return keras.Model(inp, [ecg, anc, cyc], name="cardioradar")


def split_variables(model: keras.Model) -> tuple[list, dict[str, list]]:
    """-> (shared trunk variables, {task: that head's variables}), by layer-name prefix."""
    heads: dict[str, list] = {t: [] for t in TASKS}
    shared = []
    for layer in model.layers:
        owner = next((t for t, p in HEAD_PREFIX.items() if layer.name.startswith(p) or layer.name == t), None)
        (heads[owner] if owner else shared).extend(layer.trainable_variables)
    return shared, heads


def macs_per_window(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass, from the layer shapes (conv and dense
    layers; adds, resizes and activations are not MACs)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv1D):
            _, t_out, c_out = layer.output.shape
            c_in = layer.input.shape[-1]
            total += t_out * layer.kernel_size[0] * c_in * c_out // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            total += int(layer.input.shape[-1]) * layer.units
    return int(total)


def macs_per_second(model: keras.Model, fs_hz: float = 100.0, hop_samples: int = 128) -> float:
    """MACs per second of signal as deployed: one window every ``hop_samples`` samples."""
    return macs_per_window(model) * fs_hz / hop_samples


def int8_size_bytes(model: keras.Model) -> int:
    """Lower bound of the int8 flatbuffer's weight bytes: one byte per weight, four per bias
    (int32). The converted file adds graph structure and per-channel scales."""
    n = 0
    for v in model.weights:
        n += int(v.shape.num_elements()) * (4 if "bias" in v.name else 1)
    return n
