"""The ``cable://`` URL: the wrapped port and the line's parameters, checked one by one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qsl

from cardioradar.errors import ConfigError

SCHEME = "cable"
FORM = "cable://PORT[?baud=N&drop_per_kb=X&corrupt_per_kb=X&seed=N]"


@dataclass(frozen=True)
class CableParams:
    port: str  # a device path or another pyserial URL (socket://, loop://, ...)
    baud: int | None = None  # line rate in bit/s; None: the port's baudrate; 0: no pacing
    drop_per_kb: float = 0.0  # expected bytes dropped per 1000 carried, each direction
    corrupt_per_kb: float = 0.0  # expected bytes with one bit flipped per 1000 carried
    seed: int = 0


def _count(name: str, text: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{name}: expected {what}, got {text!r}")
    return int(text)


def _per_kb(name: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not 0.0 <= v <= 1000.0:  # NaN fails too
        raise ValueError(f"{name}: expected a number of bytes per 1000 in 0..1000, got {text!r}")
    return v


_PARSERS = {
    "baud": lambda t: _count("baud", t, "an integer >= 0 (bit/s; 0 = no pacing)"),
    "drop_per_kb": lambda t: _per_kb("drop_per_kb", t),
    "corrupt_per_kb": lambda t: _per_kb("corrupt_per_kb", t),
    "seed": lambda t: _count("seed", t, "an integer >= 0"),
}


def parse_url(url: str) -> CableParams:
    """``url`` as `CableParams`; a `ConfigError` naming the parameter, what it takes and what it got."""
    scheme, sep, rest = str(url).partition("://")
    if scheme.lower() != SCHEME or not sep:
        raise ConfigError(f"{url}: expected {FORM}, got scheme {scheme!r}")
    port, _, query = rest.partition("?")
    if not port:
        raise ConfigError(f"{url}: expected a port after cable:// ({FORM}), got none")
    values: dict = {}
    for name, text in parse_qsl(query, keep_blank_values=True):
        if name not in _PARSERS:
            raise ConfigError(f"{url}: parameter {name!r}: expected one of {', '.join(_PARSERS)}, got {name!r}")
        if name in values:
            raise ConfigError(f"{url}: parameter {name}: expected once, got it twice")
        try:
            values[name] = _PARSERS[name](text)
        except ValueError as e:
            raise ConfigError(f"{url}: parameter {e}") from None
    return CableParams(port, **values)


def cable_url(port: str, **params) -> str:
    """``port`` behind a cable with ``params`` (`CableParams` fields; ``None`` ones left out)."""
    query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
    url = f"{SCHEME}://{port}" + (f"?{query}" if query else "")
    parse_url(url)  # the checks of open(), now
    return url
