"""`cardioradar quantize model`: post-training full-integer int8 TFLite from the Keras model.

Choice of I/O types: **int8 input, float32 outputs**. The input is int8 because the edge
DSP writes the model's int8 tensor itself (``edge.dsp.tensor.to_model_input``) from the
input scale / zero point recorded in the metadata. Every op inside is int8 (weights
per-channel, activations per-tensor, calibrated on training windows); only the three
outputs are dequantised in the graph, so the board reads mV, anchor likelihood and
seconds directly and needs no per-head output quantisation. ``edge.infer`` also accepts
int8 outputs (it dequantises them from the tensor's parameters), e.g. from ``convert``.

The accuracy report compares float Keras and the int8 interpreter on the *test* split
(held-out subjects), feeding the int8 model exactly what the board feeds it (the DSP's
Q15 -> int8 rule), scored by the one scorer ``host.scoring`` that `cardioradar eval` uses
(the board's stitcher and R peaks; PCC, RMSE, R-peak error, IBI, MDR, HR and PPI error,
medians across subjects; handed down by ``host.ptqreport``, as quantize sits below host and
imports none of it), plus the float-vs-int8 agreement of the ECG outputs and the
relative difference of every metric.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from cardioradar.errors import ConfigError, InputDataError  # noqa: E402
from cardioradar.leads import LEADS as LEAD_ORDER  # noqa: E402
from edge.dsp.tensor import Q15_SCALE, FeatureLayout, ModelInputSpec, to_model_input  # noqa: E402
from edge.infer import HEADS, ModelMetadata, TensorInfo, load_interpreter, metadata_path  # noqa: E402

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostTools:
    """What the report needs from the host layer, handed in by it: the dataset reader, the one
    scorer (``accuracy(ecg, anchors, cycle, window_set, fs_hz, hop) -> dict``), the MAC counter."""
    read_manifest: Callable[[Path], dict]
    load_split: Callable[[Path, str], object]
    accuracy: Callable[..., dict]
    macs_per_window: Callable[[object], int]
    macs_per_second: Callable[[object, float, int], float]


def representative_windows(features_q15: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded choice of ``n`` windows as float32 (n, T, V, C) in [-1, 1)."""
    idx = np.sort(np.random.default_rng([seed, 0xCA1B]).permutation(len(features_q15))[:n])
    return features_q15[idx].astype(np.float32) / Q15_SCALE


def convert_keras_int8(model, calib_x: np.ndarray) -> bytes:
    """Full-integer int8 flatbuffer of a ``tf_keras`` model: int8 input, float32 outputs."""
    import tensorflow as tf

    def rep():
        for i in range(len(calib_x)):
            yield [calib_x[i:i + 1]]

    # A fixed batch of 1 (what the board runs) keeps shape arithmetic (SHAPE, STRIDED_SLICE,
    # PACK around every reshape) out of the graph.
    fn = tf.function(lambda x: model(x, training=False))
    spec = tf.TensorSpec((1,) + tuple(model.input_shape[1:]), tf.float32)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function(spec)], model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.float32
    try:
        return conv.convert()
    except Exception as e:  # the converter raises ConverterError / ValueError / RuntimeError
        raise ConfigError(f"int8 conversion of model {model.name!r} failed: {e}") from e


def head_of(shape: tuple[int, ...], window_samples: int, n_leads: int = 12) -> str | None:
    """Which head a (1, ...) output tensor is, by its shape (TFLite may reorder outputs)."""
    s = tuple(int(d) for d in shape)
    if s == (1, window_samples, n_leads):
        return "ecg"
    if s in ((1, window_samples), (1, window_samples, 1)):
        return "anchors"
    if s in ((1, 1), (1,)):
        return "cycle_s"
    return None


def describe_tensors(interp, window_samples: int) -> tuple[TensorInfo, dict[str, TensorInfo]]:
    """The interpreter's input and head outputs as metadata ``TensorInfo``."""
    def info(d):
        scale, zp = d["quantization"]
        q = np.dtype(d["dtype"]).name in ("int8", "uint8")
        return TensorInfo(int(d["index"]), str(d["name"]), tuple(int(s) for s in d["shape"]),
                          np.dtype(d["dtype"]).name, float(scale) if q else None, int(zp) if q else None)

    ins = interp.get_input_details()
    if len(ins) != 1:
        raise ConfigError(f"model: expected one input tensor, got {len(ins)}")
    outs = {}
    for d in interp.get_output_details():
        head = head_of(tuple(d["shape"]), window_samples)
        if head is None or head in outs:
            raise ConfigError(f"model output {d['name']!r} shape {tuple(d['shape'])}: expected one each of "
                              f"(1, {window_samples}, 12) ecg, (1, {window_samples}) anchors, (1, 1) cycle")
        outs[head] = info(d)
    missing = [h for h in HEADS if h not in outs]
    if missing:
        raise ConfigError(f"model: missing output heads {missing}")
    return info(ins[0]), {h: outs[h] for h in HEADS}


# The metrics the report compares float and int8 on (int8 should stay within 1 % of float).
COMPARED = ("pcc_median", "rmse_mv_median", "rpeak_err_ms_median", "ibi_mae_ms_median", "mdr", "hr_err_bpm_median",
            "ppi_err_ms_median")


def relative_diff(int8: dict, flt: dict, keys=COMPARED) -> dict:
    """(int8 - float) / |float| per metric; None where float is 0 or missing."""
    out = {}
    for k in keys:
        a, b = int8.get(k), flt.get(k)
        out[k] = None if a is None or b is None or b == 0 else float((a - b) / abs(b))
    return out


def run_int8(interp, inp: TensorInfo, outs: dict[str, TensorInfo], features_q15: np.ndarray,
             spec: ModelInputSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows int16 (N, T, V, C) through the int8 interpreter, input made as the DSP makes it."""
    n, t = features_q15.shape[:2]
    ecg, anc, cyc = np.zeros((n, t, 12), np.float32), np.zeros((n, t), np.float32), np.zeros(n, np.float32)
    for i in range(n):
        interp.set_tensor(inp.index, to_model_input(features_q15[i], spec).reshape(inp.shape))
        interp.invoke()
        got = {}
        for h, o in outs.items():
            y = interp.get_tensor(o.index)
            got[h] = (y.astype(np.float32) - o.zero_point) * o.scale if o.scale is not None else y
        ecg[i], anc[i], cyc[i] = got["ecg"].reshape(t, 12), got["anchors"].reshape(t), got["cycle_s"].ravel()[0]
    return ecg, anc, cyc


def training_summary(manifest: dict, keras_model_path: Path) -> dict:
    """What the model was trained on and how (manifest splits + history.json beside the model)."""
    out = {"source": manifest.get("source"), "dataset_seed": manifest.get("seed"),
           "seconds_per_subject": manifest.get("seconds_per_subject"), "splits": {}}
    for split, d in manifest.get("splits", {}).items():
        subjects = d.get("subjects", []) if isinstance(d, dict) else []
        conditions = sorted({s.get("condition") for s in subjects if isinstance(s, dict) and s.get("condition")})
        out["splits"][split] = {"n_windows": d.get("n_windows") if isinstance(d, dict) else d,
                                "n_subjects": len(subjects), "conditions": conditions}
    hist = keras_model_path.parent / "history.json"
    if hist.is_file():
        h = json.loads(hist.read_text())
        cfg = h.get("config", {})
        out["training"] = {k: cfg.get(k) for k in ("epochs", "batch_size", "seed", "mtl", "temperature",
                                                    "warmup_epochs", "lr", "p_noise", "p_burst", "prior", "model")}
        out["training"].update(best_epoch=h.get("best_epoch"), best_val_loss=h.get("best_val_loss"),
                               selection="lowest validation loss (sum of the 3 task losses)")
    return out


def quantize_model(keras_model_path: str | Path, dataset_dir: str | Path, out_path: str | Path, *,
                   tools: HostTools, n_calib: int = 256, seed: int = 0) -> Path:
    """Keras model -> full-integer int8 ``out_path`` (.tflite) + metadata ``<out>.json`` with the
    float-vs-int8 accuracy report on the dataset's test split. Returns ``out_path``."""
    import tf_keras as keras

    read_manifest, load_split, accuracy = tools.read_manifest, tools.load_split, tools.accuracy
    keras_model_path, out_path = Path(keras_model_path), Path(out_path)
    if not keras_model_path.exists():
        raise ConfigError(f"--keras {keras_model_path}: no such model")
    if out_path.suffix != ".tflite":
        raise ConfigError(f"--out {out_path}: expected a .tflite path")
    manifest = read_manifest(dataset_dir)
    train, test = load_split(dataset_dir, "train"), load_split(dataset_dir, "test")
    if len(train) == 0 or len(test) == 0:
        raise InputDataError(f"{dataset_dir}: train and test splits must not be empty "
                             f"(got {len(train)} and {len(test)} windows)")
    model = keras.models.load_model(str(keras_model_path), compile=False)
    t, v, c = train.features_q15.shape[1:]
    if tuple(model.input_shape[1:]) != (t, v, c):
        raise ConfigError(f"model {keras_model_path}: input {tuple(model.input_shape[1:])}, "
                          f"the dataset's windows are {(t, v, c)}")
    dsp = dict(manifest.get("dsp", {}))
    fs_hz = float(dsp.get("frame_rate_hz", 100.0))
    hop = int(dsp.get("hop_samples", t // 2))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(convert_keras_int8(model, representative_windows(train.features_q15, n_calib, seed)))
    interp, _ = load_interpreter(out_path)
    inp, outs = describe_tensors(interp, t)
    layout = FeatureLayout(t, v, fs_hz)
    spec = ModelInputSpec(inp.scale, inp.zero_point, layout)
    e8, a8, c8 = run_int8(interp, inp, outs, test.features_q15, spec)
    ef, af, cf = (np.asarray(y) for y in model.predict(test.features_q15.astype(np.float32) / Q15_SCALE,
                                                       batch_size=64, verbose=0))
    rep_f = accuracy(ef, af, cf.ravel(), test, fs_hz, hop)
    rep_8 = accuracy(e8, a8, c8, test, fs_hz, hop)
    agree = float(np.corrcoef(ef.ravel(), e8.ravel())[0, 1])
    metrics = {"split": "test", "scorer": "host.scoring (as cardioradar eval)", "float": rep_f, "int8": rep_8,
               "int8_vs_float": {"ecg_corr": agree, "ecg_max_abs_diff_mv": float(np.max(np.abs(ef - e8))),
                                 "anchors_max_abs_diff": float(np.max(np.abs(af - a8))),
                                 "metric_rel_diff": relative_diff(rep_8, rep_f)}}
    macs_per_second, macs_per_window = tools.macs_per_second, tools.macs_per_window
    from boards import load_profile

    deployed_hop = load_profile(dsp.get("board", "sim")).dsp.hop_samples  # the board's, not the dataset's stride
    metrics["cost"] = {"macs_per_window": macs_per_window(model),
                       "macs_per_s": macs_per_second(model, fs_hz, deployed_hop),
                       "tflite_bytes": out_path.stat().st_size}
    meta = ModelMetadata(inp, layout, outs, fs_hz, t, hop, LEAD_ORDER, dsp,
                         training_summary(manifest, keras_model_path), metrics,
                         source=f"quantize model: {keras_model_path.name} (Keras, int8 PTQ, {n_calib} train windows)")
    meta.write(metadata_path(out_path))
    log.info("int8 %s: PCC float %s int8 %s, RMSE float %s int8 %s mV, ECG corr %.4f", out_path,
             rep_f["pcc_median"], rep_8["pcc_median"], rep_f["rmse_mv_median"], rep_8["rmse_mv_median"], agree)
    return out_path
