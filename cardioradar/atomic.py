"""Atomic state changes on the board's filesystem: temporary file, fsync, rename, fsync dir.

A power cut at any instant leaves either the old or the new file, never a mix: rename is
atomic on POSIX filesystems, and the directory fsync makes the rename itself durable.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically and durably."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_json(path: Path, obj: object) -> None:
    write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (before renaming it into place)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def remove_tree(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
