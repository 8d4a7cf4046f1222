"""Which machine code runs the fixed-point kernels: numba's JIT, or the same Python source
compiled ahead of time (AOT) into an extension module that loads without numba.

Why: importing numba (it brings llvmlite and scipy) and loading its cached kernels costs
~117 MB of RSS before any data, and a Raspberry Pi Zero 2 W has 512 MB for everything.
``python -m edge.dsp.aot`` compiles every kernel once per install, on the machine that runs
it, with ``numba.pycc`` from this very source (same compiler, same integer code), so the
bytes out do not depend on the backend (``tests/test_dsp_backends.py``).

``CARDIORADAR_DSP_BACKEND``: ``auto`` (default) -- the AOT module when it is built and its
source stamp matches the kernels' source files, else JIT (a stale module is ignored with a
warning); ``aot`` -- the AOT module or a ``ConfigError``; ``jit`` -- numba always.
``CARDIORADAR_DSP_AOT_DIR``: where the module is built and looked for (default: beside this
file; set it where the install is read-only).

A call whose arguments have the dtypes and ranks of the kernel's signature (what the
pipeline passes) runs the AOT code (non-contiguous arrays are copied first); any other call
(a host tool, a test with int64 input) runs the JIT version, which imports numba then.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import logging
import os
import re
import types
from pathlib import Path

import numpy as np

from cardioradar.errors import ConfigError
from fixedpoint import formats

log = logging.getLogger(__name__)

ENV = "CARDIORADAR_DSP_BACKEND"
DIR_ENV = "CARDIORADAR_DSP_AOT_DIR"
MODES = ("auto", "aot", "jit")
AOT_NAME = "_aot_kernels"
AOT_DIR = Path(__file__).resolve().parent
# Every module whose functions are compiled into the AOT module: a change in any of them makes
# a built module stale. tests/test_dsp_backends.py checks that every kernel's module is here.
SOURCE_MODULES = ("fixedpoint.formats", "edge.dsp.calibrate", "edge.dsp.beamform", "edge.dsp.cordic",
                  "edge.dsp.unwrap", "edge.dsp.biquad", "edge.dsp.differentiator", "edge.dsp.normalize",
                  "edge.dsp.tensor")

_HELPERS: set = {formats.bit_length, formats.round_shift, formats.saturate, formats.sat16, formats.sat32,
                 formats.wrap32}
KERNELS: dict[str, "Kernel"] = {}
_DTYPES = {"i1": np.int8, "i2": np.int16, "i4": np.int32, "i8": np.int64, "f8": np.float64}
_ARG = re.compile(r"(i1|i2|i4|i8|f8)(\[([^\]]*)\])?")


def helper(fn):
    """Marks a function the kernels call (compiled with them, plain Python otherwise)."""
    _HELPERS.add(fn)
    return fn


def kernel(signature: str):
    """Marks a kernel: ``signature`` is its numba type signature for the AOT build, e.g.
    ``"i4[:,::1](i4[:,::1])"`` (C-contiguous arrays; scalars ``i8``)."""
    def wrap(fn) -> Kernel:
        k = Kernel(fn, signature)
        KERNELS[fn.__name__] = k
        return k
    return wrap


_jitted: dict = {}


def jit_function(fn):
    """``fn`` as a numba dispatcher, the helpers it calls replaced by theirs (recursively)."""
    if fn in _jitted:
        return _jitted[fn]
    from numba import njit  # only here: the board's AOT path never imports numba

    glb = dict(fn.__globals__)
    for name in fn.__code__.co_names:
        v = glb.get(name)
        if isinstance(v, types.FunctionType) and v in _HELPERS:
            glb[name] = jit_function(v)
    copy = types.FunctionType(fn.__code__, glb, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__qualname__, copy.__module__, copy.__doc__ = fn.__qualname__, fn.__module__, fn.__doc__
    _jitted[fn] = njit(cache=True)(copy)
    return _jitted[fn]


def _arg_specs(signature: str) -> list[tuple[np.dtype, int]]:
    """(dtype, ndim) of each argument of a numba signature string (ndim 0: a scalar)."""
    depth, start = 0, None
    for i in range(len(signature) - 1, -1, -1):  # the argument list: the last top-level (...)
        depth += {")": 1, "(": -1}.get(signature[i], 0)
        if depth == 0:
            start = i
            break
    return [(np.dtype(_DTYPES[m.group(1)]), m.group(3).count(",") + 1 if m.group(2) else 0)
            for m in _ARG.finditer(signature[start:])]


class Kernel:
    """A fixed-point kernel: the AOT-compiled function for signature-conforming calls when
    the AOT backend is on, else (and for any other call) the numba JIT of ``py_func``."""

    def __init__(self, fn, signature: str):
        self.py_func = fn
        self.signature = signature
        self.specs = _arg_specs(signature)
        self.__name__, self.__doc__, self.__wrapped__ = fn.__name__, fn.__doc__, fn

    def __reduce__(self):  # pickled by name (worker processes import their own)
        return _kernel_named, (self.py_func.__module__, self.__name__)

    def __repr__(self) -> str:
        return f"<kernel {self.py_func.__module__}.{self.__name__} {self.signature}>"

    def _aot_args(self, args) -> list | None:
        if len(args) != len(self.specs):
            return None
        out = []
        for a, (dt, nd) in zip(args, self.specs):
            if nd == 0:
                if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
                    return None
                out.append(int(a))
            elif isinstance(a, np.ndarray) and a.dtype == dt and a.ndim == nd:
                out.append(np.ascontiguousarray(a))
            else:
                return None
        return out

    def __call__(self, *args):
        mod = _aot_module()
        if mod is not None:
            conv = self._aot_args(args)
            if conv is not None:
                return getattr(mod, self.__name__)(*conv)
        return jit_function(self.py_func)(*args)


def _kernel_named(module: str, name: str) -> Kernel:
    return getattr(importlib.import_module(module), name)


def source_stamp() -> int:
    """63-bit digest of the source files of ``SOURCE_MODULES`` (what the AOT module was built from)."""
    h = hashlib.sha256()
    for name in SOURCE_MODULES:
        spec = importlib.util.find_spec(name)
        src = Path(spec.origin).read_bytes() if spec is not None and spec.origin else b"(missing)"
        h.update(name.encode() + b"\0" + src + b"\0")
    return int(h.hexdigest()[:15], 16)


def aot_path(aot_dir: Path | None = None) -> Path:
    """Where the AOT module of this interpreter lives (its platform tag in the name)."""
    folder = aot_dir or os.environ.get(DIR_ENV) or AOT_DIR
    return Path(folder) / (AOT_NAME + importlib.machinery.EXTENSION_SUFFIXES[0])


_state: dict = {"mode": None, "dir": None, "loaded": False, "module": None}


def select(mode: str | None = None, aot_dir: Path | None = None) -> None:
    """Use ``mode`` (None: ``$CARDIORADAR_DSP_BACKEND``, else auto) and the AOT module in
    ``aot_dir`` (None: beside this file) from the next kernel call on."""
    _state.update(mode=mode, dir=aot_dir, loaded=False, module=None)


def _mode() -> str:
    mode = _state["mode"] or os.environ.get(ENV, "") or "auto"
    if mode not in MODES:
        raise ConfigError(f"{ENV}: expected one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(AOT_NAME, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_aot(aot_dir: Path | None = None):
    """(the AOT module, "") when it is built and current, else (None, why not)."""
    path = aot_path(aot_dir)
    if not path.is_file():
        return None, f"{path} is not built"
    try:
        mod = _load(path)
    except ImportError as e:
        return None, f"{path} does not load ({e})"
    if mod.source_stamp() != source_stamp():
        return None, f"{path} is stale (built from other kernel sources)"
    return mod, ""


def _aot_module():
    if _state["loaded"]:
        return _state["module"]
    mode, mod = _mode(), None
    if mode != "jit":
        mod, why = load_aot(_state["dir"])
        if mod is None and mode == "aot":
            raise ConfigError(f"{ENV}=aot: {why}", hint="build the kernels: python -m edge.dsp.aot")
        if mod is None and aot_path(_state["dir"]).is_file():  # built but unusable: say so once
            log.warning("DSP kernels: %s; using numba JIT (rebuild: python -m edge.dsp.aot)", why)
    _state.update(loaded=True, module=mod)
    return mod


def name() -> str:
    """The backend the pipeline's kernel calls run on now: ``aot`` or ``jit``."""
    return "aot" if _aot_module() is not None else "jit"
