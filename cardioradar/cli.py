"""`cardioradar` command line: a thin dispatcher.

Each part registers its own sub-commands (``<package>.cli.register``) and its
benchmarks (``<package>.cli.register_bench``); every handler parses arguments and
calls one library function. Errors become exit codes here, and only here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from cardioradar import __version__
from cardioradar.errors import CardioRadarError

# Parts that contribute sub-commands, in the order of the data path.
PARTS = ("hardware_sim", "edge", "quantize", "host")


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
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        rc = args.func(args)
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


if __name__ == "__main__":
    sys.exit(main())
