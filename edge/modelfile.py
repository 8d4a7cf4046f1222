"""Check a ``.tflite`` file before any interpreter touches it.

A TFLite interpreter trusts the flatbuffer it is given: a truncated, zero-byte or garbage
file makes LiteRT / tflite_runtime crash the process (SIGSEGV, exit 139) instead of
raising. This module reads the file with bounds checks on every offset and refuses it
with one line naming the file, the field, what was expected and what was found:

1. size: at least 8 bytes (root offset + file identifier), at most `MAX_MODEL_BYTES`;
2. the FlatBuffer file identifier ``TFL3`` at bytes 4..8;
3. the schema: the ``Model`` table (version 3), its buffers (inline data and, for large
   models, offset/size, inside the file), its operator codes and first subgraph: every
   tensor (shape, known type, buffer index, quantisation), the subgraph inputs/outputs and
   every operator's opcode and tensor indices in range;
4. with the model's metadata JSON (contract 4): the input and each output head name a
   tensor of the subgraph's inputs/outputs with the same shape, dtype and quantisation.

Field numbers follow the TFLite schema (``schema.fbs``: Model, SubGraph, Tensor, Buffer,
QuantizationParameters, Operator). Pure standard library: it runs on the board and in
``bundle build``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from cardioradar.errors import ConfigError

IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
MIN_MODEL_BYTES = 8
MAX_MODEL_BYTES = 256 * 1024 * 1024  # our cap: a board has 512 MB to 1 GB of memory
# TensorType enum of schema.fbs, as numpy-style dtype names (the metadata's "dtype").
TENSOR_TYPES = ("float32", "float16", "int32", "uint8", "int64", "string", "bool", "int16", "complex64",
                "int8", "float64", "complex128", "uint64", "resource", "variant", "uint32", "uint16",
                "int4", "bfloat16", "int2")


@dataclass(frozen=True)
class TensorRef:
    """A tensor of the model: its index in the subgraph's tensor table, name, shape, dtype
    (a `TENSOR_TYPES` name). The file's table and the metadata both describe tensors so."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class TensorEntry(TensorRef):
    """One tensor of the subgraph's tensor table, with its buffer and per-channel quantization."""

    buffer: int
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()


@dataclass(frozen=True)
class ModelFileInfo:
    path: str
    size_bytes: int
    version: int
    tensors: tuple[TensorEntry, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    n_operators: int
    n_operator_codes: int
    n_buffers: int


class _Table:
    def __init__(self, fb: "_Flatbuffer", pos: int, what: str):
        self.fb, self.pos, self.what = fb, pos, what
        vt = pos - fb.i32(pos, what)
        self.vt_len = fb.u16(vt, what)
        self.tbl_len = fb.u16(vt + 2, what)
        if self.vt_len < 4 or self.vt_len % 2 or pos + self.tbl_len > fb.n:
            fb.fail(what, f"a table ({self.vt_len}-byte vtable, {self.tbl_len}-byte table at byte {pos})",
                    "a malformed table")
        self.vt = vt
        fb.need(vt, self.vt_len, what)

    def _field(self, i: int) -> int | None:
        slot = 4 + 2 * i
        if slot >= self.vt_len:
            return None
        off = self.fb.u16(self.vt + slot, self.what)
        if off == 0:
            return None
        if off + 1 > self.tbl_len:
            self.fb.fail(self.what, f"field {i} inside its {self.tbl_len}-byte table", f"offset {off}")
        return self.pos + off

    def scalar(self, i: int, fmt: str, default):
        p = self._field(i)
        return default if p is None else self.fb.unpack(fmt, p, self.what)

    def ref(self, i: int, what: str) -> int | None:
        p = self._field(i)
        return None if p is None else p + self.fb.u32(p, what)

    def table(self, i: int, what: str) -> "_Table | None":
        p = self.ref(i, what)
        return None if p is None else _Table(self.fb, p, what)

    def vector(self, i: int, fmt: str, what: str) -> tuple:
        p = self.ref(i, what)
        if p is None:
            return ()
        n = self.fb.u32(p, what)
        size = struct.calcsize("<" + fmt)
        self.fb.need(p + 4, n * size, what)
        return struct.unpack_from(f"<{n}{fmt}", self.fb.data, p + 4)

    def byte_vector_len(self, i: int, what: str) -> int:
        p = self.ref(i, what)
        if p is None:
            return 0
        n = self.fb.u32(p, what)
        self.fb.need(p + 4, n, what)
        return n

    def tables(self, i: int, what: str) -> list["_Table"]:
        p = self.ref(i, what)
        if p is None:
            return []
        n = self.fb.u32(p, what)
        self.fb.need(p + 4, 4 * n, what)
        out = []
        for j in range(n):
            e = p + 4 + 4 * j
            out.append(_Table(self.fb, e + self.fb.u32(e, what), f"{what}[{j}]"))
        return out

    def string(self, i: int, what: str) -> str:
        p = self.ref(i, what)
        if p is None:
            return ""
        n = self.fb.u32(p, what)
        self.fb.need(p + 4, n, what)
        return self.fb.data[p + 4:p + 4 + n].decode("utf-8", errors="replace")


class _Flatbuffer:
    """Bounds-checked reads; every failure is a `ConfigError` naming the file and field."""

    def __init__(self, data: bytes, where: str):
        self.data, self.n, self.where = data, len(data), where

    def fail(self, what: str, expected: str, got: str):
        raise ConfigError(f"model {self.where}: {what}: expected {expected}, got {got}",
                          hint="the .tflite is damaged or cut short: copy or convert it again")

    def need(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or size < 0 or pos + size > self.n:
            self.fail(what, f"{size} bytes at byte {pos} inside the file",
                      f"a file of {self.n} bytes (truncated or not a TFLite model)")

    def unpack(self, fmt: str, pos: int, what: str):
        self.need(pos, struct.calcsize("<" + fmt), what)
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def u16(self, pos: int, what: str) -> int:
        return self.unpack("H", pos, what)

    def u32(self, pos: int, what: str) -> int:
        return self.unpack("I", pos, what)

    def i32(self, pos: int, what: str) -> int:
        return self.unpack("i", pos, what)


def read_model_file(path: str | Path) -> ModelFileInfo:
    """The checked tensor table of ``path``; `ConfigError` (one line) for anything wrong."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ConfigError(f"model {path}: size: expected at most {MAX_MODEL_BYTES} bytes, got {size}")
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(f"model {path}: file not found") from e
    except OSError as e:
        raise ConfigError(f"model {path}: cannot read: {e.strerror or e}") from e
    return parse_model(data, str(path))


def parse_model(data: bytes, where: str) -> ModelFileInfo:
    fb = _Flatbuffer(data, where)
    if len(data) < MIN_MODEL_BYTES:
        fb.fail("size", f"at least {MIN_MODEL_BYTES} bytes (a TFLite flatbuffer)",
                "an empty file (0 bytes)" if not data else f"{len(data)} bytes")
    if data[4:8] != IDENTIFIER:
        fb.fail("file identifier", f"{IDENTIFIER!r} at bytes 4..8 (a TFLite flatbuffer)", repr(data[4:8]))
    model = _Table(fb, fb.u32(0, "root offset"), "Model")
    version = model.scalar(0, "I", 0)
    if version != SCHEMA_VERSION:
        fb.fail("Model.version", f"schema version {SCHEMA_VERSION}", str(version))
    n_codes = len(model.tables(1, "Model.operator_codes"))
    buffers = model.tables(4, "Model.buffers")
    for j, b in enumerate(buffers):
        b.byte_vector_len(0, f"Model.buffers[{j}].data")
        off, n = b.scalar(1, "Q", 0), b.scalar(2, "Q", 0)
        if off > 1 and off + n > fb.n:
            fb.fail(f"Model.buffers[{j}]", f"data at bytes {off}..{off + n} inside the file",
                    f"a file of {fb.n} bytes (truncated)")
    subgraphs = model.tables(2, "Model.subgraphs")
    if not subgraphs:
        fb.fail("Model.subgraphs", "at least one subgraph", "none")
    sg = subgraphs[0]
    tensors = tuple(_tensor(t, i, len(buffers), fb) for i, t in enumerate(sg.tables(0, "SubGraph.tensors")))
    nt = len(tensors)
    inputs = sg.vector(1, "i", "SubGraph.inputs")
    outputs = sg.vector(2, "i", "SubGraph.outputs")
    for name, idx in (("inputs", inputs), ("outputs", outputs)):
        bad = [i for i in idx if not 0 <= i < nt]
        if bad:
            fb.fail(f"SubGraph.{name}", f"tensor indices 0..{nt - 1}", str(bad[:5]))
    ops = sg.tables(3, "SubGraph.operators")
    for j, op in enumerate(ops):
        code = op.scalar(0, "I", 0)
        if code >= n_codes:
            fb.fail(f"SubGraph.operators[{j}].opcode_index", f"0..{n_codes - 1}", str(code))
        for k, name in ((1, "inputs"), (2, "outputs")):
            bad = [i for i in op.vector(k, "i", f"SubGraph.operators[{j}].{name}") if not -1 <= i < nt]
            if bad:
                fb.fail(f"SubGraph.operators[{j}].{name}", f"tensor indices -1..{nt - 1}", str(bad[:5]))
    return ModelFileInfo(where, len(data), version, tensors, tuple(inputs), tuple(outputs), len(ops), n_codes,
                         len(buffers))


def _tensor(t: _Table, i: int, n_buffers: int, fb: _Flatbuffer) -> TensorEntry:
    what = f"SubGraph.tensors[{i}]"
    shape = t.vector(0, "i", f"{what}.shape")
    typ = t.scalar(1, "B", 0)
    if typ >= len(TENSOR_TYPES):
        fb.fail(f"{what}.type", f"a TensorType 0..{len(TENSOR_TYPES) - 1}", str(typ))
    buf = t.scalar(2, "I", 0)
    if n_buffers and buf >= n_buffers:
        fb.fail(f"{what}.buffer", f"a buffer index 0..{n_buffers - 1}", str(buf))
    q = t.table(4, f"{what}.quantization")
    scale = q.vector(2, "f", f"{what}.quantization.scale") if q else ()
    zp = q.vector(3, "q", f"{what}.quantization.zero_point") if q else ()
    return TensorEntry(i, t.string(3, f"{what}.name"), tuple(shape), TENSOR_TYPES[typ], buf, tuple(scale), tuple(zp))


def check_tensor_table(info: ModelFileInfo, metadata: Mapping[str, Any], where: str) -> None:
    """The metadata's input and output tensors exist in the file with the stated shape, dtype
    and quantisation. ``where`` names the metadata file."""
    try:
        items = [("input", metadata["input"], info.inputs)]
        items += [(f"outputs.{head}", d, info.outputs) for head, d in dict(metadata["outputs"]).items()]
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"model metadata {where}: expected 'input' and 'outputs' tensors, got {e!r}") from e
    for field, d, allowed in items:
        try:
            idx, shape, dtype = int(d["index"]), tuple(int(s) for s in d["shape"]), str(d["dtype"])
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"model metadata {where}: {field}: expected index, shape, dtype, got {d!r:.120}") from e
        if idx not in allowed:
            kind = "inputs" if field == "input" else "outputs"
            raise ConfigError(f"model {info.path}: metadata {field}.index: expected one of the model's {kind} "
                              f"{list(allowed)}, got {idx}")
        t = info.tensors[idx]
        if t.shape != shape or t.dtype != dtype:
            raise ConfigError(f"model {info.path}: metadata {field}: says {dtype} {shape}, the tensor table has "
                              f"{t.dtype} {t.shape} (tensor {idx} {t.name!r})")
        if dtype in ("int8", "uint8"):
            scale, zp = d.get("scale"), d.get("zero_point")
            got_scale = t.scale[0] if t.scale else None
            got_zp = t.zero_point[0] if t.zero_point else None
            if (scale is None or got_scale is None or not math.isclose(float(scale), got_scale, rel_tol=1e-6)
                    or zp != got_zp):
                raise ConfigError(f"model {info.path}: metadata {field} quantisation: says scale {scale} zero_point "
                                  f"{zp}, the tensor table has {got_scale} {got_zp}")


def validate_model_file(path: str | Path, metadata: Mapping[str, Any] | None = None,
                        metadata_where: str = "") -> ModelFileInfo:
    """`read_model_file`, then (with ``metadata``) `check_tensor_table`."""
    info = read_model_file(path)
    if metadata is not None:
        check_tensor_table(info, metadata, metadata_where or str(Path(path).with_suffix(".json")))
    return info
