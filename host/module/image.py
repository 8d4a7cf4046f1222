"""Meta images for the radar module's serial flash: read and check one, or build one.

What is TI's (docs/radar-module.md, "Module flashing"): an xWR68xx meta image starts with the
word 0x5254534D ('MSTR', read little-endian), which UniFlash checks before flashing, and must be
smaller than 1 MiB (UniFlash's MAX_FILE_SIZE); the ROM checks a CRC32 over the whole image
when the file is closed.

What is this project's (a layout of ours, not TI's): after 'MSTR' the tag ``CRDR``, a 32-bit
little-endian metadata length n, n bytes of UTF-8 JSON ``{"firmware", "name", "version"}``,
the payload, and zlib's CRC-32 of everything before it, little-endian, in the last 4 bytes.
Images of this layout are checked in full here (header, metadata, CRC) before a byte is
sent; other 'MSTR' images (TI's own builds) are sent as they are and the ROM's CRC check at
CLOSE is their check (where TI stores that CRC in its images is not public).

This reader is written apart from the simulator's (``hardware_sim.bootloader.board``), so
each checks the other.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardioradar.errors import ConfigError, InputDataError

META_MAGIC = 0x5254534D
PROJECT_TAG = b"CRDR"
MAX_IMAGE_BYTES = 1024 * 1024  # UniFlash: the file must be smaller than this
_MAX_META_BYTES = 4096


@dataclass(frozen=True)
class ModuleImage:
    """An image read from ``path``. ``firmware``/``name``/``version`` are None for images
    not in this project's layout; ``crc32`` is the stored CRC (None likewise)."""

    path: Path
    data: bytes
    firmware: str | None = None
    name: str | None = None
    version: str | None = None
    crc32: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def describe(self) -> str:
        if self.firmware is None:
            return f"{self.path.name} (xWR68xx meta image, {self.size} bytes)"
        return f"{self.path.name} ({self.name} {self.version}, firmware {self.firmware!r}, {self.size} bytes)"


def read_image(path: str | Path) -> ModuleImage:
    """Read and check an image; a bad one raises ``InputDataError`` naming file and field."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputDataError(f"{path}: no such image file") from None
    except OSError as e:
        raise InputDataError(f"{path}: cannot read the image: {e.strerror}") from e
    if not 4 <= len(data) < MAX_IMAGE_BYTES:
        raise InputDataError(f"{path}: size {len(data)} bytes, expected 4 .. {MAX_IMAGE_BYTES - 1} "
                             f"(UniFlash's limit for one meta image)")
    magic = struct.unpack("<I", data[:4])[0]
    if magic != META_MAGIC:
        raise InputDataError(f"{path}: header 0x{magic:08X}, expected 0x{META_MAGIC:08X} ('MSTR'): "
                             f"not an xWR68xx meta image")
    if data[4:8] != PROJECT_TAG:
        return ModuleImage(path, data)
    return _check_project_image(path, data)


def _check_project_image(path: Path, data: bytes) -> ModuleImage:
    if len(data) < 16:
        raise InputDataError(f"{path}: {len(data)} bytes, too short for its header and CRC32: the image is corrupted")
    stored = struct.unpack("<I", data[-4:])[0]
    computed = zlib.crc32(data[:-4])
    if stored != computed:
        raise InputDataError(f"{path}: CRC32 0x{computed:08X} computed over bytes 0..{len(data) - 5}, "
                             f"0x{stored:08X} stored in the last 4 bytes: the image is corrupted")
    n = struct.unpack("<I", data[8:12])[0]
    if not 0 < n <= min(_MAX_META_BYTES, len(data) - 16):
        raise InputDataError(f"{path}: metadata length {n}, expected 1 .. {min(_MAX_META_BYTES, len(data) - 16)}")
    try:
        meta = json.loads(data[12:12 + n].decode("utf-8"))
        fields = tuple(str(meta[k]) for k in ("firmware", "name", "version"))
    except (ValueError, KeyError, TypeError) as e:
        raise InputDataError(f"{path}: metadata: expected a JSON object with firmware, name, version "
                             f"({type(e).__name__}: {e})") from None
    return ModuleImage(path, data, *fields, crc32=stored)


def build_image(out: str | Path, *, firmware: str, name: str, version: str, payload_kib: int = 64,
                seed: int = 0) -> ModuleImage:
    """Write an image in this project's layout for the simulated module. The payload stands
    for the firmware's code: ``payload_kib`` KiB of bytes drawn from ``seed``."""
    for flag, value in (("--firmware", firmware), ("--name", name), ("--version", version)):
        if not value or not value.isprintable():
            raise ConfigError(f"{flag}: expected printable text, got {value!r}")
    meta = json.dumps({"firmware": firmware, "name": name, "version": version}).encode()
    payload = np.random.default_rng(seed).integers(0, 256, payload_kib * 1024, dtype=np.uint8).tobytes()
    body = struct.pack("<I", META_MAGIC) + PROJECT_TAG + struct.pack("<I", len(meta)) + meta + payload
    data = body + struct.pack("<I", zlib.crc32(body))
    if len(data) >= MAX_IMAGE_BYTES:
        raise ConfigError(f"--payload-kib: {payload_kib} makes a {len(data)}-byte image, "
                          f"expected < {MAX_IMAGE_BYTES} (UniFlash's limit)")
    out = Path(out)
    out.write_bytes(data)
    return read_image(out)
