"""Reading a configuration input (a radar .cfg, a key) with the product's one-line error."""

from __future__ import annotations

import codecs
from pathlib import Path

from cardioradar.errors import ConfigError


def read_config_input(path: str | Path, what: str, *, binary: bool = False) -> str | bytes:
    """The text (or bytes) of ``path``; `ConfigError` "WHAT PATH: cannot read: REASON" when the
    file cannot be read (missing, a folder, no permission).

    Text is UTF-8 (ASCII is a subset), whatever the machine's locale; a UTF-8 byte-order mark
    (Windows editors write one) is not part of the text. Other encodings (UTF-16 from "Unicode"
    in Notepad, Latin-1 bytes) are refused with the offset of the first bad byte.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{what} {path}: cannot read: {e.strerror}") from e
    if binary:
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        raise ConfigError(
            f"{what} {path}: byte 0x{data[e.start]:02x} at offset {e.start} is not UTF-8 text"
            f"{' (the file is saved as UTF-16)' if utf16 else ''}, expected ASCII or UTF-8: save it as such"
        ) from e
