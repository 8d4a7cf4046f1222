"""`cardioradar` command line: a thin dispatcher.

Each part registers its own sub-commands (``<package>.cli.register``) and its
benchmarks (``<package>.cli.register_bench``); every handler parses arguments and
calls one library function. Errors become exit codes here, and only here.

Light install. ``pip install -e .`` (no extras: numpy, scipy, numba, pyserial) runs the
simulator, the link and the DSP commands. Host-only packages (TensorFlow, cryptography,
matplotlib, tqdm, ...) are imported inside the handlers that need them; a command run without
its extra ends with one line naming the missing module and the extra that brings it
(exit code 2), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from cardioradar import __version__
from cardioradar.errors import CardioRadarError, ConfigError

# Parts that contribute sub-commands, in the order of the data path.
PARTS = ("hardware_sim", "edge", "quantize", "host")
# Our own top-level packages: a ModuleNotFoundError naming one of them is a bug or a board
# install without that part, never a missing optional dependency.
_OWN = set(PARTS) | {"cardioradar", "boards"}
# Optional-dependency module -> the pyproject extra that installs it.
_EXTRA_OF = {"ai_edge_litert": "edge", "tflite_runtime": "edge", "hypothesis": "dev", "pytest": "dev",
             "ray": "scale", "pyarrow": "scale"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cardioradar",
        description="Contactless 12-lead ECG from a 60 GHz FMCW radar: simulator, edge runtime, host tools.",
    )
    parser.add_argument("--version", action="version", version=f"cardioradar {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    bench = sub.add_parser("bench", help="benchmarks: real-time factors, speed-ups, peak memory")
    bench_sub = bench.add_subparsers(dest="bench_target", metavar="TARGET", required=True)
    for part in PARTS:
        try:
            mod = importlib.import_module(f"{part}.cli")
        except ModuleNotFoundError as e:
            # A board installed from a bundle has no hardware_sim/host: skip those parts.
            if e.name not in (part, f"{part}.cli"):
                raise
            continue
        if hasattr(mod, "register"):
            mod.register(sub)
        if hasattr(mod, "register_bench"):
            mod.register_bench(bench_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except CardioRadarError as e:  # a value refused by an argument type (cardioradar.cliargs): one line
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        rc = args.func(args)
    except ModuleNotFoundError as e:
        err = missing_extra(e, args)
        if err is None:
            raise
        print(f"error: {err}", file=sys.stderr)
        print(f"hint: {err.hint}", file=sys.stderr)
        return err.exit_code
    except CardioRadarError as e:
        print(f"error: {e}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error of ours; silence the final flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(rc or 0)


def missing_extra(e: ModuleNotFoundError, args: argparse.Namespace | None = None) -> ConfigError | None:
    """The one-line error for a command whose optional dependency is not installed (None
    when ``e`` names one of our own packages: that is a real bug, let it surface)."""
    top = (e.name or "").split(".")[0]
    if not top or top in _OWN:
        return None
    command = " ".join(str(v) for k, v in vars(args or argparse.Namespace()).items()
                       if k == "command" or k.endswith("_command") or k == "bench_target")
    extra = _EXTRA_OF.get(top, "host")
    what = f"`cardioradar {command}`" if command else "this command"
    return ConfigError(f"{what} needs the Python package {top!r}, which this install lacks "
                       f"(the core install runs the simulator, the link and the DSP only)",
                       hint=f'pip install -e ".[{extra}]" (or pip install "cardioradar-edge[{extra}]")')


if __name__ == "__main__":
    sys.exit(main())
