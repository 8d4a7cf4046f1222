"""On-board inference: the int8 TFLite model, its metadata, and window stitching.

The board runs ``.tflite`` files under LiteRT (``ai_edge_litert``), else the older
``tflite_runtime``; ``tensorflow.lite`` is only the last fallback for a workstation, so
TensorFlow is imported only when neither board interpreter is installed.

Model contract (DESIGN.md, contract 4): a ``.tflite`` travels with a metadata JSON
beside it (same stem, ``.json``). The metadata names the input tensor's layout and
quantisation (the DSP writes the int8 input itself from them), the outputs (index,
shape, dtype, quantisation, head), sample rate, window and hop, lead order and the DSP
settings the model was trained with. ``EcgModel.check_against`` refuses a model whose
DSP settings differ from the board's, naming the field.

This module must not import ``host`` or ``hardware_sim``: it runs on the board.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from cardioradar.errors import ConfigError, InputDataError
from edge.dsp.tensor import FeatureLayout, ModelInputSpec
from edge.modelfile import TensorRef

log = logging.getLogger(__name__)

METADATA_FORMAT = "cardioradar-model/1"
BACKENDS = ("ai_edge_litert", "tflite_runtime", "tensorflow")
HEADS = ("ecg", "anchors", "cycle_s")
# DSP settings compared between a model and a board: metadata key -> accepted board names.
# Not the hop: how often a window is taken is the board's choice (its latency), not the model's.
_DSP_FIELDS = {
    "frame_rate_hz": ("frame_rate_hz", "fs_hz"),
    "window_samples": ("window_samples",),
    "n_voxels": ("n_voxels",),
    "range_bins": ("range_bins",),
    "cardiac_band_hz": ("cardiac_band_hz",),
    "breathing_band_hz": ("breathing_band_hz",),
}
_REQUIRED_DSP = ("frame_rate_hz", "window_samples", "n_voxels")


def metadata_path(tflite_path: str | Path) -> Path:
    """The metadata JSON that belongs to a ``.tflite``: same folder and stem, ``.json``."""
    return Path(tflite_path).with_suffix(".json")


# ----------------------------------------------------------------------------- interpreters
def _interpreter_api(name: str):
    """-> (Interpreter class, OpResolverType enum) of one backend; ImportError when absent."""
    if name == "ai_edge_litert":
        mod = importlib.import_module("ai_edge_litert.interpreter")
        return mod.Interpreter, mod.OpResolverType
    if name == "tflite_runtime":
        mod = importlib.import_module("tflite_runtime.interpreter")
        return mod.Interpreter, mod.OpResolverType
    if name == "tensorflow":
        tf = importlib.import_module("tensorflow")
        return tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    raise ConfigError(f"interpreter: expected one of {BACKENDS}, got {name!r}")


def load_interpreter(path: str | Path, prefer: str | None = None, num_threads: int | None = None,
                     reference_kernels: bool = False):
    """A TFLite interpreter for ``path`` with tensors allocated -> (interpreter, backend name).

    Tries LiteRT, then tflite_runtime, then tensorflow.lite; ``prefer`` names the one to
    use (and only that one: tests compare backends). ``reference_kernels`` runs the
    builtin kernels without the default XNNPACK delegate: slower, but bit-identical across
    LiteRT and tflite_runtime (XNNPACK's int8 kernels round differently by about one
    output step, and differently per version).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model {path}: file not found")
    from edge.modelfile import read_model_file

    read_model_file(path)  # a damaged .tflite crashes the interpreters (SIGSEGV): check it first
    order = (prefer,) if prefer is not None else BACKENDS
    errors = []
    for name in order:
        try:
            cls, resolver = _interpreter_api(name)
        except ImportError as e:
            errors.append(f"{name}: {e}")
            continue
        kw = {"experimental_op_resolver_type": resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES} if reference_kernels else {}
        try:
            interp = cls(model_path=str(path), num_threads=num_threads, **kw)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ConfigError(f"model {path}: {name} cannot load it: {e}") from e
        log.debug("model %s loaded with %s", path, name)
        return interp, name
    raise ConfigError(f"model {path}: no TFLite interpreter available ({'; '.join(errors)})",
                      hint="install ai-edge-litert (pip install 'cardioradar-edge[edge]')")


# ----------------------------------------------------------------------------- metadata
@dataclass(frozen=True)
class TensorInfo(TensorRef):
    """One model tensor as the metadata describes it: real = scale * (q - zero_point)."""

    scale: float | None = None
    zero_point: int | None = None

    def to_json(self) -> dict:
        return {"index": self.index, "name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "scale": self.scale, "zero_point": self.zero_point}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str) -> "TensorInfo":
        try:
            return cls(int(d["index"]), str(d["name"]), tuple(int(s) for s in d["shape"]), str(d["dtype"]),
                       None if d.get("scale") is None else float(d["scale"]),
                       None if d.get("zero_point") is None else int(d["zero_point"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{where}: expected index, name, shape, dtype[, scale, zero_point], got {d!r}") from e


@dataclass(frozen=True)
class ModelMetadata:
    """The model contract. ``outputs`` maps head name ("ecg", "anchors", "cycle_s") to its tensor;
    ``dsp`` holds the DSP settings the model was trained with (keys as in the board profile's [dsp])."""

    input: TensorInfo
    layout: FeatureLayout
    outputs: dict[str, TensorInfo]
    fs_hz: float
    window_samples: int
    hop_samples: int
    lead_order: tuple[str, ...]
    dsp: dict
    training: dict
    metrics: dict
    source: str = ""

    def to_json(self) -> dict:
        lay = self.layout
        return {
            "format": METADATA_FORMAT,
            "source": self.source,
            "input": {**self.input.to_json(), "layout": {
                "order": lay.order, "window_samples": lay.window_samples, "n_voxels": lay.n_voxels,
                "fs_hz": lay.fs_hz, "channels": list(lay.channels),
                "real_value": "q15 / 2**15 in [-1, 1)"}},
            "outputs": {k: v.to_json() for k, v in self.outputs.items()},
            "heads": list(self.outputs),
            "fs_hz": self.fs_hz,
            "window_samples": self.window_samples,
            "hop_samples": self.hop_samples,
            "lead_order": list(self.lead_order),
            "dsp": self.dsp,
            "training": self.training,
            "metrics": self.metrics,
        }

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n")
        return path

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str = "model metadata") -> "ModelMetadata":
        if d.get("format") != METADATA_FORMAT:
            raise ConfigError(f"{where}: field 'format': expected {METADATA_FORMAT!r}, got {d.get('format')!r}")
        try:
            lay = d["input"]["layout"]
            layout = FeatureLayout(int(lay["window_samples"]), int(lay["n_voxels"]), float(lay["fs_hz"]),
                                   tuple(lay["channels"]), str(lay["order"]))
            outputs = {k: TensorInfo.from_json(v, f"{where}: outputs.{k}") for k, v in d["outputs"].items()}
            meta = cls(TensorInfo.from_json(d["input"], f"{where}: input"), layout, outputs, float(d["fs_hz"]),
                       int(d["window_samples"]), int(d["hop_samples"]), tuple(d["lead_order"]),
                       dict(d.get("dsp", {})), dict(d.get("training", {})), dict(d.get("metrics", {})),
                       str(d.get("source", "")))
        except KeyError as e:
            raise ConfigError(f"{where}: missing field {e.args[0]!r}") from e
        missing = [h for h in HEADS if h not in meta.outputs]
        if missing:
            raise ConfigError(f"{where}: field 'outputs': expected heads {HEADS}, missing {missing}")
        return meta

    @classmethod
    def load(cls, path: str | Path) -> "ModelMetadata":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"model metadata {path}: file not found",
                              hint="a .tflite must travel with its metadata JSON (same name, .json)")
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"model metadata {path}: line {e.lineno}: not JSON: {e.msg}") from e
        return cls.from_json(d, f"model metadata {path}")

    def dsp_settings(self) -> dict:
        """The DSP settings to compare with a board: the trained-with block plus the
        fields every model fixes (rate, window, voxels)."""
        s = {k: self.dsp[k] for k in _DSP_FIELDS if k in self.dsp}
        s.update(frame_rate_hz=self.fs_hz, window_samples=self.window_samples, n_voxels=self.layout.n_voxels)
        return s


def _board_value(settings: Any, names: tuple[str, ...]):
    for n in names:
        if isinstance(settings, Mapping):
            if n in settings:
                return settings[n]
        elif hasattr(settings, n):
            return getattr(settings, n)
    return None


def _same(a, b) -> bool:
    a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))


# ----------------------------------------------------------------------------- the model
class WindowPrediction(NamedTuple):
    """One window: ecg_mv float32 (W, 12) in lead order; anchors float32 (W,) in [0, 1]
    (R-peak likelihood); cycle_s: cardiac-cycle length in seconds."""

    ecg_mv: np.ndarray
    anchors: np.ndarray
    cycle_s: float


class EcgModel:
    """The int8 model with its metadata. ``predict_int8`` takes the DSP's int8 tensor."""

    def __init__(self, path: str | Path, prefer: str | None = None, num_threads: int | None = 1,
                 reference_kernels: bool = False):
        self.path = Path(path)
        self.meta = ModelMetadata.load(metadata_path(self.path))
        from edge.modelfile import validate_model_file

        validate_model_file(self.path, self.meta.to_json())  # the tensor table vs the metadata, pre-interpreter
        self.interpreter, self.backend = load_interpreter(self.path, prefer, num_threads, reference_kernels)
        ins = self.interpreter.get_input_details()
        if len(ins) != 1:
            raise ConfigError(f"model {self.path}: expected 1 input tensor, got {len(ins)}")
        self._in = ins[0]
        self._check_tensor(self._in, self.meta.input, "input")
        outs = {d["index"]: d for d in self.interpreter.get_output_details()}
        self._outs = {}
        for head, info in self.meta.outputs.items():
            if info.index not in outs:
                raise ConfigError(f"model {self.path}: metadata outputs.{head}.index {info.index} is not an output "
                                  f"tensor (outputs: {sorted(outs)})")
            self._check_tensor(outs[info.index], info, f"outputs.{head}")
            self._outs[head] = outs[info.index]

    def _check_tensor(self, detail: dict, info: TensorInfo, field: str) -> None:
        shape = tuple(int(s) for s in detail["shape"])
        dtype = np.dtype(detail["dtype"]).name
        if shape != info.shape or dtype != info.dtype:
            raise ConfigError(f"model {self.path}: metadata {field}: says {info.dtype} {info.shape}, "
                              f"the .tflite has {dtype} {shape}")
        if dtype in ("int8", "uint8"):
            scale, zp = detail["quantization"]
            if info.scale is None or not np.isclose(scale, info.scale, rtol=1e-6) or zp != info.zero_point:
                raise ConfigError(f"model {self.path}: metadata {field} quantisation: says scale {info.scale} "
                                  f"zero_point {info.zero_point}, the .tflite has {scale} {zp}")

    @property
    def input_spec(self) -> ModelInputSpec:
        """What ``edge.dsp`` needs to write the model's int8 input."""
        if self.meta.input.dtype != "int8":
            raise ConfigError(f"model {self.path}: input dtype {self.meta.input.dtype}: the DSP writes int8 only")
        return ModelInputSpec(self.meta.input.scale, self.meta.input.zero_point, self.meta.layout)

    def check_against(self, dsp_settings: Any) -> None:
        """Refuse the model unless its DSP settings equal the board's. ``dsp_settings``: the board
        profile's ``[dsp]`` (``boards.DspSection``), ``edge.dsp.config.DspConfig`` or a mapping."""
        model = self.meta.dsp_settings()
        for key, names in _DSP_FIELDS.items():
            board = _board_value(dsp_settings, names)
            if board is None:
                if key in _REQUIRED_DSP:
                    raise ConfigError(f"board DSP settings: missing field {key!r} (needed to check model {self.path})")
                continue
            if key in model and not _same(model[key], board):
                raise ConfigError(
                    f"model {self.path}: DSP setting {key!r}: the model was trained with {model[key]}, "
                    f"the board uses {board}",
                    hint="use a model trained with this board's DSP settings, or change the board profile's [dsp]")

    def predict_int8(self, x_int8: np.ndarray) -> WindowPrediction:
        """x_int8: the DSP's int8 tensor of ``input_spec.layout.shape`` -> one window's outputs."""
        x = np.asarray(x_int8)
        want = tuple(self._in["shape"])
        if x.dtype != np.int8 or x.size != int(np.prod(want)):
            raise InputDataError(f"model input: expected int8 {tuple(self.meta.layout.shape)}, got {x.dtype} {x.shape}")
        self.interpreter.set_tensor(self._in["index"], np.ascontiguousarray(x.reshape(want)))
        self.interpreter.invoke()
        ecg = self._get("ecg").reshape(self.meta.window_samples, len(self.meta.lead_order))
        anchors = self._get("anchors").reshape(self.meta.window_samples)
        cycle = float(self._get("cycle_s").ravel()[0])
        return WindowPrediction(ecg, anchors, cycle)

    def predict(self, features_q15: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A batch of DSP windows, features int16 Q15 (N, T, V, C) -> (ecg_mv (N, T, 12),
        anchors (N, T), cycle_s (N,)); each window goes through the DSP's own int8 rule."""
        from edge.dsp.tensor import to_model_input

        spec = self.input_spec
        preds = [self.predict_int8(to_model_input(np.asarray(f), spec)) for f in features_q15]
        if not preds:
            w, n_leads = self.meta.window_samples, len(self.meta.lead_order)
            return np.zeros((0, w, n_leads), np.float32), np.zeros((0, w), np.float32), np.zeros(0, np.float32)
        return (np.stack([p.ecg_mv for p in preds]), np.stack([p.anchors for p in preds]),
                np.array([p.cycle_s for p in preds], np.float32))

    def _get(self, head: str) -> np.ndarray:
        d = self._outs[head]
        y = self.interpreter.get_tensor(d["index"])
        if y.dtype in (np.int8, np.uint8):
            scale, zp = d["quantization"]
            return ((y.astype(np.float32) - zp) * scale).astype(np.float32)
        return y.astype(np.float32, copy=False)


# ----------------------------------------------------------------------------- stitching
@dataclass(frozen=True)
class StitchedPiece:
    """Final samples [start, start + n) of a continuous run of windows.

    start: sample index relative to the first window's first sample. ecg_mv: float32 (n, L).
    anchors: float32 (n,)."""

    start: int
    ecg_mv: np.ndarray
    anchors: np.ndarray


class CrossFadeStitcher:
    """Joins consecutive windows (window W, hop H) into one track, with a linear cross-fade
    where two windows meet, so no sample jumps at a window edge.

    ``lag`` L (default W - H) sets how far behind the newest sample a window's piece ends:
    each push returns the window's samples [W - L - H, W - L) (the first push [0, W - L)),
    so a sample leaves L..L + H samples after it arrived. The default is the classic
    overlap-add (every sample from the window that starts at it); a smaller L is the
    low-latency stream, which takes each window's later part and holds back only its last L
    samples, where a non-causal model still lacks context. The fade spans min(L, W - H)
    samples, from the previous window's held-back part into the new piece:
    old (O - i - 0.5) / O, new (i + 0.5) / O for i = 0..O-1.
    ``push`` returns the samples that no later window will change; ``flush`` the rest.
    """

    def __init__(self, window_samples: int, hop_samples: int, lag_samples: int | None = None):
        lag = window_samples - hop_samples if lag_samples is None else int(lag_samples)
        if not 0 < hop_samples <= window_samples:
            raise ConfigError(f"stitcher: expected 0 < hop <= window, got hop {hop_samples}, window {window_samples}")
        if not 0 <= lag <= window_samples - hop_samples:
            raise ConfigError(f"stitcher: expected 0 <= lag <= window - hop ({window_samples - hop_samples}), got {lag}")
        self.window, self.hop, self.lag = window_samples, hop_samples, lag
        self.overlap = min(lag, window_samples - hop_samples)
        self._ramp = ((np.arange(self.overlap) + 0.5) / max(self.overlap, 1)).astype(np.float32)[:, None]
        self._tail: np.ndarray | None = None  # (lag, L + 1): the last window's held-back samples
        self._next = 0  # index of the first sample not yet returned

    def push(self, ecg_mv: np.ndarray, anchors: np.ndarray) -> StitchedPiece:
        y = np.concatenate([np.asarray(ecg_mv, np.float32), np.asarray(anchors, np.float32)[:, None]], axis=1)
        if y.shape[0] != self.window:
            raise InputDataError(f"stitcher: expected a window of {self.window} samples, got {y.shape[0]}")
        end = self.window - self.lag
        if self._tail is None:
            done = y[:end]
        else:
            a = end - self.hop  # the fade may run on past the piece into the held-back part (O > H)
            y[a:a + self.overlap] = (1.0 - self._ramp) * self._tail[: self.overlap] + self._ramp * y[a:a + self.overlap]
            done = y[a:end]
        self._tail = y[end:].copy()
        piece = StitchedPiece(self._next, done[:, :-1], done[:, -1])
        self._next += len(done)
        return piece

    def flush(self) -> StitchedPiece | None:
        """The last window's overlap (call at the end of a run, or at a gap); resets the stitcher."""
        if self._tail is None:
            return None
        piece = StitchedPiece(self._next, self._tail[:, :-1], self._tail[:, -1])
        self._tail, self._next = None, 0
        return piece
