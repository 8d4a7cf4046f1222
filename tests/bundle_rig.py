"""Shared pieces of the bundle tests (a helper module, not a test module)."""

from __future__ import annotations

import tarfile
from pathlib import Path


def flip_in_member(bundle: Path, member: str, at: int, mask: int, out: Path) -> tarfile.TarInfo:
    """A copy of ``bundle`` at ``out`` with byte ``at`` of ``member``'s data XORed with ``mask``
    (manifest and signature untouched) -> the member's entry (``offset_data``, ``size``)."""
    raw = bytearray(bundle.read_bytes())
    with tarfile.open(bundle, "r:") as tar:
        ti = tar.getmember(member)
    raw[ti.offset_data + at] ^= mask
    out.write_bytes(bytes(raw))
    return ti
