"""Small helpers the sub-commands share for their arguments: checked numbers, no silent overwrite.

``number`` is an argparse ``type``: a bad value raises `ConfigError` naming the flag, the
expected range and what was given, which ``cardioradar.cli`` prints as one line (exit 2)
instead of argparse's usage block:

    p.add_argument("--seconds", type=number("--seconds", gt=0), default=60.0)
    # cardioradar demo --seconds nan  ->  error: --seconds: expected a finite number > 0, got 'nan'

``refuse_overwrite`` stops a command before it writes over an earlier result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

from cardioradar.errors import ConfigError


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
