"""Build the ahead-of-time compiled DSP kernels (``edge.dsp.backend``): one install step.

    python -m edge.dsp.aot             # prints {"module": ..., "kernels": N, "built": true, ...}
    python -m edge.dsp.aot --if-stale  # the same, only when missing or built from other sources

``numba.pycc`` compiles every kernel from its Python source with its declared signature
(and the helpers it calls) into one extension module for this machine's CPU and Python,
stamped with the digest of the source files. Run it where the runtime runs (on the board,
after installing or updating CardioRadar); it needs numba and a C compiler there once,
the runtime then loads the module without numba. ~1 min on 2 x86 cores.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from cardioradar.errors import ConfigError
from edge.dsp import backend


def _stamp_function(stamp: int):
    ns: dict = {}
    exec(f"def source_stamp():\n    return {stamp}\n", ns)  # a literal: pycc cannot export a closure
    return ns["source_stamp"]


def build(aot_dir: Path | None = None) -> Path:
    """Compile the kernels into ``backend.aot_path(aot_dir)`` (written under a temporary
    name, then moved into place, so a running process never loads half a file)."""
    try:
        with warnings.catch_warnings():  # "pending deprecation" since numba 0.57; still shipped in the pinned 0.68.1
            warnings.simplefilter("ignore")
            from numba.pycc import CC
    except ImportError as e:
        raise ConfigError(f"building the AOT kernels needs numba.pycc: {e}") from e
    for name in backend.SOURCE_MODULES:
        importlib.import_module(name)
    target = backend.aot_path(aot_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".aot-build-") as tmp:
        cc = CC(backend.AOT_NAME)
        cc.output_dir = tmp
        cc.output_file = target.name
        cc.target_cpu = "host"  # built where it runs: use its CPU's instructions, as the JIT does
        cc.verbose = False
        for k in backend.KERNELS.values():
            cc.export(k.__name__, k.signature)(backend.jit_function(k.py_func).py_func)
        cc.export("source_stamp", "i8()")(_stamp_function(backend.source_stamp()))
        try:
            cc.compile()
        except Exception as e:  # a missing C compiler, a signature numba rejects
            raise ConfigError(f"building the AOT kernels failed: {type(e).__name__}: {e}",
                              hint="it needs a C compiler (Debian: apt install gcc python3-dev)") from e
        os.replace(Path(tmp) / target.name, target)
    return target


def main(argv: list[str] | None = None) -> int:
    """``[--if-stale]``: with it, build only when the module is missing, does not load, or was
    built from other kernel sources (what the service runs before each start, so an update of
    the software never leaves the board on the JIT's memory footprint)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--if-stale"]):
        print(f"usage: python -m edge.dsp.aot [--if-stale]; got {argv}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    if argv:
        _, why = backend.load_aot()
        if not why:
            print(json.dumps({"module": str(backend.aot_path()), "kernels": len(backend.KERNELS),
                              "built": False, "reason": "current"}))
            return 0
    else:
        why = "asked"
    try:
        path = build()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return ConfigError.exit_code
    except OSError as e:  # the module's folder cannot be made or written (a read-only install)
        print(f"error: building the AOT kernels into {backend.aot_path().parent}: {e.strerror or e}; "
              f"set {backend.DIR_ENV} to a writable folder", file=sys.stderr)
        return ConfigError.exit_code
    print(json.dumps({"module": str(path), "kernels": len(backend.KERNELS), "built": True, "reason": why,
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
