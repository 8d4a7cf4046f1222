"""Small helpers the sub-commands share for their arguments: checked numbers, no silent overwrite.

``number`` is an argparse ``type``: a bad value raises `ConfigError` naming the flag, the
expected range and what was given, which ``cardioradar.cli`` prints as one line (exit 2)
instead of argparse's usage block:

    p.add_argument("--seconds", type=number("--seconds", gt=0), default=60.0)
    # cardioradar demo --seconds nan  ->  error: --seconds: expected a finite number > 0, got 'nan'

``refuse_overwrite`` stops a command before it writes over an earlier result. The shared
flags (``add_out``/``out_path``, ``add_json``, ``add_mode``, ``add_renamed``) and the benches'
goals (``Goal``, ``add_check``, ``check_goals``) keep one meaning per flag across commands
(docs/architecture.md, "CLI vocabulary").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

from cardioradar.errors import ConfigError, GoalMissed


def number(flag: str, *, gt: float | None = None, ge: float | None = None, le: float | None = None,
           integer: bool = False, unit: str = "") -> Callable[[str], float | int]:
    """An argparse type: a finite float (or int) within the bounds given (inclusive ``ge``/``le``,
    exclusive ``gt``); NaN and infinities are always refused."""
    parts = [f"> {gt:g}" if gt is not None else None, f">= {ge:g}" if ge is not None else None,
             f"<= {le:g}" if le is not None else None]
    want = f"a finite {'whole number' if integer else 'number'}" + "".join(
        f" {p}" if i == 0 else f" and {p}" for i, p in enumerate(x for x in parts if x)) + (f" {unit}" if unit else "")

    def parse(text: str) -> float | int:
        try:
            x = int(text) if integer else float(text)
        except ValueError:
            raise ConfigError(f"{flag}: expected {want}, got {text!r}") from None
        if not math.isfinite(x) or (gt is not None and not x > gt) or (ge is not None and not x >= ge) \
                or (le is not None and not x <= le):
            raise ConfigError(f"{flag}: expected {want}, got {text!r}")
        return x

    parse.__name__ = "number"  # argparse names the type in its own messages
    return parse


def refuse_overwrite(paths: Iterable[Path], what: str, *, force: bool) -> None:
    """Raise `ConfigError` when any of ``paths`` exists (unless ``force``): ``what`` names the
    output for the message, e.g. ``"--out d1"``."""
    if force:
        return
    there = [Path(p) for p in paths if Path(p).exists()]
    if there:
        names = ", ".join(p.name for p in there[:4]) + (" ..." if len(there) > 4 else "")
        raise ConfigError(f"{what}: already holds {names} from an earlier run; "
                          "choose a new place, or add --force to overwrite")


# --- the shared vocabulary (docs/architecture.md "CLI vocabulary") -----------------------------

OUT_RULE = ("a folder; where the result is one file, a path ending in that file's suffix ({suffix}) "
            "names the file itself")


def add_out(p, *, file: str | None = None, default: str | None = None, required: bool = False,
            what: str = "") -> None:
    """``--out`` with the one rule: a folder; for a single-file result (``file``, e.g.
    ``"report.png"``) a path ending in its suffix names the file itself (`out_path`)."""
    rule = OUT_RULE.format(suffix=Path(file).suffix) if file else "a folder"
    where = f"; default {default}" if default else ""
    p.add_argument("--out", type=Path, default=Path(default) if default and not file else None, required=required,
                   help=f"{rule}{' -- ' + what if what else ''}{where}")


def out_path(out: str | Path, file: str) -> Path:
    """Where a single-file result goes under the ``--out`` rule: ``out`` itself when it ends
    in ``file``'s suffix, else ``out/file``. Refused: an existing file, or a new path that ends
    in another file suffix (``r.png`` for a PDF), which would silently become a folder."""
    out = Path(out)
    suffix = Path(file).suffix
    if out.suffix.lower() == suffix.lower():
        return out
    if out.is_dir():
        return out / file
    if out.exists() or re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]{0,7}", out.suffix):
        raise ConfigError(f"--out {out}: expected a {suffix} file or a folder, got "
                          f"{'an existing file' if out.exists() else repr(out.suffix)}")
    return out / file


def out_folder(out: str | Path) -> Path:
    """A folder result's ``--out``: refused when a file is already there."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: expected a folder, got a file")
    return out


def add_json(p, fields: str = "", *, first: bool = False) -> None:
    """``--json``: one JSON object as the last stdout line (``first``: servers print their
    ports as the first line and keep running)."""
    where = "first stdout line (then it serves)" if first else "last stdout line"
    p.add_argument("--json", action="store_true", help=f"{where}: one JSON object" + (f" {fields}" if fields else ""))


def print_result(args, text: str, obj: dict) -> int:
    """What a command made: the human lines (none when ``text`` is empty, e.g. an empty
    listing), then with --json one JSON object as the last line."""
    if text:
        print(text)
    if getattr(args, "json", False):
        import json

        from cardioradar.jsonvalues import json_clean

        print(json.dumps(json_clean(obj)))
    return 0


def add_mode(p, default: str = "adc") -> None:
    """``--mode adc|fast``: the simulator's front end (ADC-sample level, or fast analytic)."""
    p.add_argument("--mode", choices=("adc", "fast"), default=default,
                   help=f"simulator front end: adc (ADC-sample level) or fast (analytic); default {default}")


# Former spellings: accepted, hidden from --help, with one line on stderr (docs/architecture.md).
def add_renamed(p, old: str, new: str, *, dest: str, value=None, nargs=None, append: bool = False) -> None:
    """Accept ``old`` as a hidden alias of ``new`` (stores into ``dest``; ``value``: a flag
    without argument that stands for ``new value``; ``append``: adds to a repeatable flag)."""
    import argparse
    import sys

    class Renamed(argparse.Action):
        def __call__(self, parser, ns, values, option_string=None):
            now = f"{new} {value}" if value is not None else new
            print(f"warning: {option_string} is deprecated; use {now}", file=sys.stderr)
            got = value if value is not None else values
            if append:
                got = list(getattr(ns, dest, None) or []) + (got if isinstance(got, list) else [got])
            setattr(ns, dest, got)

    p.add_argument(old, action=Renamed, dest=dest, nargs=0 if value is not None else nargs,
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)


# --- benchmark goals and `--check` ------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """One figure a benchmark should reach: ``key`` in its JSON result, ``op`` one of ``OPS``."""

    OPS: ClassVar[tuple[str, ...]] = (">=", "<=")
    key: str
    op: str
    value: float
    unit: str = ""
    source: str = ""  # where the goal is stated (docs page or issue)

    def __post_init__(self) -> None:
        if self.op not in self.OPS:
            raise ConfigError(f"goal {self.key}: op expected one of {self.OPS}, got {self.op!r}")

    def met(self, measured: float | None) -> bool:
        if measured is None or not math.isfinite(measured):
            return False
        return measured >= self.value if self.op == ">=" else measured <= self.value

    def __str__(self) -> str:
        return f"{self.key} {self.op} {self.value:g}{(' ' + self.unit) if self.unit else ''}"


def add_check(p, goals: Iterable[Goal]) -> None:
    """``--check``: exit with `GoalMissed`'s code when a goal is missed; the goals in --help."""
    text = "; ".join(f"{g}" + (f" ({g.source})" if g.source else "") for g in goals)
    text = text.replace("%", "%%")  # argparse %-formats help: a goal in "%" must not break --help
    p.add_argument("--check", action="store_true",
                   help=f"exit {GoalMissed.exit_code} (one stderr line) when a goal is missed; goals: {text}")


def add_bench_result(p, fields: str, goals: Iterable[Goal], func) -> None:
    """A bench's last flags and its handler: ``--json`` (``fields``), ``--check`` (``goals``)."""
    add_json(p, fields)
    add_check(p, goals)
    p.set_defaults(func=func)


def check_goals(figures: dict, goals: Iterable[Goal], *, bench: str) -> None:
    """Raise `GoalMissed` naming every missed goal with what was measured."""
    missed = [f"{g.key} {_fmt(figures.get(g.key))} (goal {g.op} {g.value:g})"
              for g in goals if not g.met(figures.get(g.key))]
    if missed:
        raise GoalMissed(f"bench {bench}: goal missed: " + "; ".join(missed))


def bench_result(args, figures: dict, goals: Iterable[Goal], bench: str, *, json_obj: dict | None = None) -> int:
    """A bench's end: with --json its result (``json_obj``, default ``figures``) as the last stdout
    line, then with --check its goals (`GoalMissed` when one is missed); else exit 0."""
    if getattr(args, "json", False):
        import json

        print(json.dumps(figures if json_obj is None else json_obj, sort_keys=json_obj is not None), flush=True)
    if getattr(args, "check", False):
        check_goals(figures, goals, bench=bench)
    return 0


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:g}" if isinstance(x, (int, float)) else str(x)
