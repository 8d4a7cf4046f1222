"""Synthetic ``.tflite`` files for transfer tests and `bench flash` (host side only).

A synthetic model is a well-formed TFLite flatbuffer (it passes `edge.modelfile`, so
`bundle build` takes it) with the model contract's input and output tensors and one
constant tensor of seeded int8 weights that sets its size, plus a metadata JSON that
matches its tensor table. It has no operators, so it cannot run: LiteRT loads it, and the
first inference fails (its outputs have no data), as the default health check reports.

The writer lays every object out front to back (vtable, table, then the objects the table
points at), so every unsigned offset points forward as the FlatBuffers format requires.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from cardioradar.leads import LEADS
from edge.modelfile import IDENTIFIER, SCHEMA_VERSION, TENSOR_TYPES

# (name, shape, dtype, scale, zero_point) of the contract's tensors; indices 0..3
_CONTRACT = (("x", (1, 512, 4, 3), "int8", 0.007843017578125, 0),
             ("ecg", (1, 512, 12), "float32", None, None),
             ("anchors", (1, 512), "float32", None, None),
             ("cycle_s", (1, 1), "float32", None, None))


class _Writer:
    def __init__(self):
        self.buf = bytearray(8)  # root offset + identifier, patched at the end
        self.buf[4:8] = IDENTIFIER

    def _align(self, n: int, extra: int = 0) -> None:
        while (len(self.buf) + extra) % n:
            self.buf.append(0)

    def _patch(self, at: int, target: int) -> None:
        struct.pack_into("<I", self.buf, at, target - at)

    def table(self, fields: list) -> int:
        """fields[i]: None, (fmt, value) inline, or ("ref", fn) where fn() writes a child and
        returns its position. Returns the table's position."""
        n = len(fields)
        self._align(4, 4 + 2 * n + (2 if n % 2 else 0))
        vt = len(self.buf)
        sizes = [0 if f is None else (4 if f[0] == "ref" else max(4, struct.calcsize("<" + f[0]))) for f in fields]
        offs, o = [], 4
        for s in sizes:
            if s and s == 8 and o % 8:
                o += 4
            offs.append(o if s else 0)
            o += s
        self.buf += struct.pack(f"<HH{n}H", 4 + 2 * n, o, *offs)
        self._align(8)  # the table start, so 8-byte fields are aligned
        pos = len(self.buf)
        self.buf += struct.pack("<i", pos - vt) + bytes(o - 4)
        refs = []
        for f, off in zip(fields, offs):
            if f is None:
                continue
            if f[0] == "ref":
                refs.append((pos + off, f[1]))
            else:
                struct.pack_into("<" + f[0], self.buf, pos + off, f[1])
        for at, fn in refs:
            self._patch(at, fn())
        return pos

    def vector(self, fmt: str, values) -> int:
        size = struct.calcsize("<" + fmt)
        self._align(max(4, size), 4)
        pos = len(self.buf)
        self.buf += struct.pack(f"<I{len(values)}{fmt}", len(values), *values)
        return pos

    def bytes_vector(self, data: bytes) -> int:
        self._align(16, 4)
        pos = len(self.buf)
        self.buf += struct.pack("<I", len(data)) + data
        return pos

    def string(self, s: str) -> int:
        self._align(4)
        pos = len(self.buf)
        b = s.encode()
        self.buf += struct.pack("<I", len(b)) + b + b"\0"
        return pos

    def tables(self, makers: list) -> int:
        self._align(4)
        pos = len(self.buf)
        self.buf += struct.pack("<I", len(makers)) + bytes(4 * len(makers))
        for j, mk in enumerate(makers):
            self._patch(pos + 4 + 4 * j, mk())
        return pos

    def finish(self, root: int) -> bytes:
        struct.pack_into("<I", self.buf, 0, root)
        return bytes(self.buf)


def _tensor(w: _Writer, name: str, shape, dtype: str, buffer: int, scale, zp):
    quant = None
    if scale is not None:
        quant = ("ref", lambda: w.table([None, None, ("ref", lambda: w.vector("f", [scale])),
                                         ("ref", lambda: w.vector("q", [zp]))]))
    return lambda: w.table([("ref", lambda: w.vector("i", list(shape))), ("B", TENSOR_TYPES.index(dtype)),
                            ("I", buffer), ("ref", lambda: w.string(name)), quant])


def model_bytes(weights: bytes) -> bytes:
    """A TFLite flatbuffer: the contract's tensors 0..3 (input 0, outputs 1..3) and a constant
    int8 tensor 4 holding ``weights`` in buffer 1."""
    w = _Writer()
    tensors = [_tensor(w, n, s, d, 0, sc, zp) for n, s, d, sc, zp in _CONTRACT]
    tensors.append(_tensor(w, "weights", (len(weights),), "int8", 1, None, None))
    subgraph = lambda: w.table([("ref", lambda: w.tables(tensors)), ("ref", lambda: w.vector("i", [0])),  # noqa: E731
                                ("ref", lambda: w.vector("i", [1, 2, 3])), ("ref", lambda: w.tables([])),
                                ("ref", lambda: w.string("main"))])
    buffers = [lambda: w.table([]), lambda: w.table([("ref", lambda: w.bytes_vector(weights))])]
    root = w.table([("I", SCHEMA_VERSION), ("ref", lambda: w.tables([])), ("ref", lambda: w.tables([subgraph])),
                    ("ref", lambda: w.string("cardioradar synthetic model")), ("ref", lambda: w.tables(buffers))])
    return w.finish(root)


def metadata(seed: int) -> dict:
    """A metadata JSON (contract 4) matching `model_bytes`, with the sim board's DSP settings."""
    def t(i):
        name, shape, dtype, scale, zp = _CONTRACT[i]
        return {"index": i, "name": name, "shape": list(shape), "dtype": dtype, "scale": scale, "zero_point": zp}

    inp = t(0)
    inp["layout"] = {"order": "TVC", "window_samples": 512, "n_voxels": 4, "fs_hz": 100.0,
                     "channels": ["phase_dd", "i_dd", "q_dd"], "real_value": "q15 / 2**15 in [-1, 1)"}
    return {"format": "cardioradar-model/1", "source": f"synthetic (seed {seed}): no operators, not runnable",
            "input": inp, "outputs": {"ecg": t(1), "anchors": t(2), "cycle_s": t(3)},
            "heads": ["ecg", "anchors", "cycle_s"], "fs_hz": 100.0, "window_samples": 512, "hop_samples": 256,
            "lead_order": list(LEADS),
            "dsp": {"frame_rate_hz": 100.0, "window_samples": 512, "hop_samples": 256, "n_voxels": 4},
            "training": {"synthetic": True, "seed": seed}, "metrics": {}}


def synthetic_model(path: Path, size_bytes: int, seed: int) -> Path:
    """A stand-in .tflite of about ``size_bytes``: seeded int8 weights ~ N(0, 25) clipped
    (they compress like trained int8 weights, a little), + its metadata JSON."""
    rng = np.random.default_rng(seed)
    n = max(size_bytes - 1024, 16)  # the tables and tensors take about 1 kB
    w = np.clip(np.rint(rng.normal(0, 25, n)), -128, 127).astype(np.int8)
    path = Path(path)
    path.write_bytes(model_bytes(w.tobytes()))
    path.with_suffix(".json").write_text(json.dumps(metadata(seed), indent=1))
    return path
