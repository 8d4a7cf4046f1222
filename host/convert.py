"""`cardioradar convert`: an ONNX model (e.g. trained in PyTorch) -> float32 and int8 TFLite.

The ONNX model must take one input (N, 12, 512) float -- PyTorch's Conv1d layout NCW,
channel index v * 3 + c of the DSP's (512, 4, 3) window (voxel-major, channels phase_dd,
i_dd, q_dd), real value q15 / 2**15 -- and give three outputs: ecg (N, 12, 512) or
(N, 512, 12) mV, anchors (N, 512), cycle_s (N, 1). onnx2tf (1.29.24) turns NCW into NWC,
so the TFLite input is (1, 512, 12): the DSP's (1, 512, 4, 3) int8 tensor reshaped,
byte for byte (``edge.infer.EcgModel`` does the reshape).

Pitfalls handled (shared/specs/dependencies.md): onnx2tf runs ``onnxsim`` as a program, so
the interpreter's ``bin`` goes on PATH; int8 calibration of a non-image input needs
``custom_input_op_name_np_data_path`` with the data in the TF layout (NWC); output tensor
names are not stable, so heads are found by shape. Ops onnx2tf has no converter for, and
wrong input shapes, are refused before conversion with a ConfigError naming them.

The result is checked against onnxruntime on the calibration windows: float32 max error
(must be below ``float_tol``, else ConfigError), int8 correlation per head (reported).
Each ``.tflite`` gets its metadata JSON (``edge.infer.ModelMetadata``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from cardioradar.errors import ConfigError, InputDataError  # noqa: E402
from edge.dsp.tensor import Q15_SCALE, FeatureLayout, ModelInputSpec, to_model_input  # noqa: E402
from edge.infer import ModelMetadata, load_interpreter, metadata_path  # noqa: E402

log = logging.getLogger(__name__)
WINDOW, N_VOXELS, N_CH = 512, 4, 3


@dataclass(frozen=True)
class ConvertResult:
    float_path: Path
    int8_path: Path
    check: dict  # float max abs error and int8 correlation per head vs onnxruntime


def _dims(value_info) -> list:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in value_info.type.tensor_type.shape.dim]


def inspect_onnx(path: Path):
    """Load and validate: one (N, 12, 512) input, ops onnx2tf can convert. -> (model, input name)."""
    import onnx

    if not path.is_file():
        raise ConfigError(f"onnx model {path}: file not found")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as e:  # onnx raises its own ValidationError / DecodeError kinds
        raise ConfigError(f"onnx model {path}: not a valid ONNX model: {e}") from e
    init = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init]
    if len(inputs) != 1:
        raise ConfigError(f"onnx model {path}: expected 1 input, got {len(inputs)} ({[i.name for i in inputs]})")
    dims = _dims(inputs[0])
    if len(dims) != 3 or dims[1:] != [N_VOXELS * N_CH, WINDOW] or dims[0] not in (1, None) and not isinstance(dims[0], str):
        raise ConfigError(f"onnx model {path}: input {inputs[0].name!r}: expected shape (N, 12, 512) (NCW), got "
                          f"{tuple(dims)}", hint="export the model with the DSP window as (N, 12, 512)")
    bad = sorted({f"{n.op_type} (node {n.name or '?'})" for n in model.graph.node
                  if n.domain not in ("", "ai.onnx") or importlib.util.find_spec(f"onnx2tf.ops.{n.op_type}") is None})
    if bad:
        raise ConfigError(f"onnx model {path}: ops onnx2tf cannot convert: {', '.join(bad)}",
                          hint="replace them with standard ONNX ops (opset <= 20) before exporting")
    return model, inputs[0].name


def load_calibration(calib: str | Path, n: int, seed: int) -> tuple[np.ndarray, dict]:
    """Calibration windows as int16 Q15 (n, 512, 4, 3) and the DSP block they came with.

    ``calib``: a dataset folder (its train split; DSP block from the manifest) or a .npy of
    int16 Q15 or float in [-1, 1) windows (N, 512, 4, 3) (no DSP block)."""
    p = Path(calib)
    dsp: dict = {}
    if p.is_dir():
        from host.data.format import load_split, read_manifest

        dsp = dict(read_manifest(p).get("dsp", {}))
        x = load_split(p, "train").features_q15
    elif p.suffix == ".npy" and p.is_file():
        x = np.load(p, allow_pickle=False)
        if x.dtype.kind == "f":
            x = np.clip(np.round(x * Q15_SCALE), -32768, 32767).astype(np.int16)
    else:
        raise ConfigError(f"calibration {p}: expected a dataset folder or a .npy file")
    if x.ndim != 4 or x.shape[1:] != (WINDOW, N_VOXELS, N_CH) or x.dtype != np.int16 or not len(x):
        raise InputDataError(f"calibration {p}: expected windows (N, {WINDOW}, {N_VOXELS}, {N_CH}) int16 Q15 or "
                             f"float, got {x.dtype} {x.shape}")
    idx = np.sort(np.random.default_rng([seed, 0xCA1B]).permutation(len(x))[:n])
    return np.ascontiguousarray(x[idx]), dsp


@contextlib.contextmanager
def _venv_bin_on_path():
    """onnx2tf runs ``onnxsim`` as a separate program: make this interpreter's scripts findable."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), old])
    try:
        yield
    finally:
        os.environ["PATH"] = old


def run_onnx2tf(onnx_path: Path, work: Path, input_name: str, calib_nwc_path: Path) -> tuple[Path, Path]:
    """-> (float32 .tflite, full-integer int8 .tflite) in ``work``."""
    import onnx2tf

    out = io.StringIO()
    try:
        with _venv_bin_on_path(), contextlib.redirect_stdout(out):
            onnx2tf.convert(
                input_onnx_file_path=str(onnx_path), output_folder_path=str(work), batch_size=1,
                output_integer_quantized_tflite=True, input_quant_dtype="int8", output_quant_dtype="int8",
                custom_input_op_name_np_data_path=[[input_name, str(calib_nwc_path), 0.0, 1.0]],
                non_verbose=True)
    except (Exception, SystemExit) as e:  # onnx2tf reports some failures by sys.exit
        tail = out.getvalue().strip().splitlines()[-5:]
        raise ConfigError(f"onnx2tf could not convert {onnx_path}: {e!r} {' | '.join(tail)}") from e
    stem = onnx_path.stem
    f32, i8 = work / f"{stem}_float32.tflite", work / f"{stem}_full_integer_quant.tflite"
    for p in (f32, i8):
        if not p.is_file():
            raise ConfigError(f"onnx2tf did not write {p.name} for {onnx_path} (got {sorted(q.name for q in work.glob('*.tflite'))})")
    return f32, i8


def _run_tflite(path: Path, x_q15: np.ndarray) -> tuple[dict[str, np.ndarray], object]:
    """Windows through a .tflite (int8 input made by the DSP's rule) -> {head: (N, ...)}, input detail."""
    from quantize.ptq import head_of

    interp, _ = load_interpreter(path)
    d_in = interp.get_input_details()[0]
    outs = {}
    for d in interp.get_output_details():
        h = head_of(tuple(d["shape"]), WINDOW)
        if h is None:
            raise ConfigError(f"{path.name}: output shape {tuple(d['shape'])}: expected (1, 512, 12) ecg, "
                              f"(1, 512) anchors or (1, 1) cycle")
        outs[h] = d
    res: dict[str, list] = {h: [] for h in outs}
    for x in x_q15:
        if d_in["dtype"] == np.int8:
            scale, zp = d_in["quantization"]
            xi = to_model_input(x, ModelInputSpec(scale, zp, FeatureLayout(WINDOW, N_VOXELS, 100.0)))
        else:
            xi = x.astype(np.float32) / Q15_SCALE
        interp.set_tensor(d_in["index"], xi.reshape(d_in["shape"]))
        interp.invoke()
        for h, d in outs.items():
            y = interp.get_tensor(d["index"])
            if y.dtype == np.int8:
                s, z = d["quantization"]
                y = (y.astype(np.float32) - z) * s
            res[h].append(y[0])
    return {h: np.asarray(v) for h, v in res.items()}, interp


def _onnx_heads(onnx_path: Path, x_q15: np.ndarray) -> dict[str, np.ndarray]:
    """onnxruntime outputs for the windows, ecg as (N, 512, 12)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    res: dict[str, list] = {}
    for x in x_q15:
        ncw = (x.astype(np.float32) / Q15_SCALE).reshape(1, WINDOW, -1).transpose(0, 2, 1)
        for y in sess.run(None, {name: np.ascontiguousarray(ncw)}):
            y = y[0]
            head = ("ecg" if y.ndim == 2 and 12 in y.shape else "anchors" if y.size == WINDOW else
                    "cycle_s" if y.size == 1 else None)
            if head is None:
                raise ConfigError(f"onnx model {onnx_path}: output of shape {y.shape}: expected ecg (12, 512) or "
                                  f"(512, 12), anchors (512,), cycle (1,)")
            if head == "ecg" and y.shape == (12, WINDOW):
                y = y.T
            res.setdefault(head, []).append(y.reshape(-1) if head != "ecg" else y)
    return {h: np.asarray(v) for h, v in res.items()}


def _metadata(path: Path, interp, dsp: dict, check: dict, source: str) -> Path:
    from quantize.ptq import LEAD_ORDER, describe_tensors

    inp, outs = describe_tensors(interp, WINDOW)
    fs = float(dsp.get("frame_rate_hz", 100.0))
    meta = ModelMetadata(inp, FeatureLayout(WINDOW, N_VOXELS, fs), outs, fs, WINDOW, int(dsp.get("hop_samples", 256)),
                         LEAD_ORDER, dsp, {"source": source}, {"check_vs_onnxruntime": check}, source=source)
    return meta.write(metadata_path(path))


def convert_onnx(onnx_path: str | Path, out_dir: str | Path, calib: str | Path, *, n_calib: int = 64,
                 n_check: int = 8, seed: int = 0, float_tol: float = 1e-3) -> ConvertResult:
    """ONNX -> ``out_dir``/<stem>_float32.tflite and <stem>_int8.tflite (+ .json metadata each)."""
    onnx_path, out = Path(onnx_path), Path(out_dir)
    _, input_name = inspect_onnx(onnx_path)
    x_q15, dsp = load_calibration(calib, n_calib, seed)
    work = out / "onnx2tf"
    work.mkdir(parents=True, exist_ok=True)
    calib_path = work / "calibration_nwc.npy"  # onnx2tf's layout: (N, 512, 12), real values
    np.save(calib_path, (x_q15.astype(np.float32) / Q15_SCALE).reshape(len(x_q15), WINDOW, -1))
    f32_src, i8_src = run_onnx2tf(onnx_path, work, input_name, calib_path)
    f32, i8 = out / f"{onnx_path.stem}_float32.tflite", out / f"{onnx_path.stem}_int8.tflite"
    shutil.copyfile(f32_src, f32)
    shutil.copyfile(i8_src, i8)
    xs = x_q15[:n_check]
    ref = _onnx_heads(onnx_path, xs)
    got_f, interp_f = _run_tflite(f32, xs)
    got_8, interp_8 = _run_tflite(i8, xs)
    check = {"n_windows": len(xs), "float32_max_abs_err": {}, "int8_corr": {}}
    for h, r in ref.items():
        check["float32_max_abs_err"][h] = float(np.max(np.abs(got_f[h].reshape(r.shape) - r)))
        a, b = got_8[h].reshape(r.shape).ravel(), r.ravel()
        check["int8_corr"][h] = float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else float("nan")
    worst = max(check["float32_max_abs_err"].values())
    scale = max(float(np.max(np.abs(r))) for r in ref.values())
    if worst > float_tol * (1.0 + scale):
        raise ConfigError(f"convert {onnx_path}: float32 TFLite differs from onnxruntime by {worst:.3g} "
                          f"(tolerance {float_tol * (1 + scale):.3g}); per head {check['float32_max_abs_err']}")
    if any(c < 0.95 for c in check["int8_corr"].values()):
        log.warning("convert %s: int8 correlation with onnxruntime is low: %s", onnx_path, check["int8_corr"])
    src = f"convert: {onnx_path.name} via onnx2tf"
    _metadata(f32, interp_f, dsp, check, src + " (float32)")
    _metadata(i8, interp_8, dsp, check, src + f" (full integer int8, {len(x_q15)} calibration windows)")
    log.info("converted %s: float32 max err %s, int8 corr %s", onnx_path, check["float32_max_abs_err"],
             check["int8_corr"])
    return ConvertResult(f32, i8, check)
