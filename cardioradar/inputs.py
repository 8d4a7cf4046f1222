"""Reading a configuration input (a radar .cfg, a key) with the product's one-line error."""

from __future__ import annotations

from pathlib import Path

from cardioradar.errors import ConfigError


def read_config_input(path: str | Path, what: str, *, binary: bool = False) -> str | bytes:
    """The text (or bytes) of ``path``; `ConfigError` "WHAT PATH: cannot read: REASON" when the
    file cannot be read (missing, a folder, no permission)."""
    try:
        return Path(path).read_bytes() if binary else Path(path).read_text()
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot read: {e.strerror}") from e
