"""The signed manifest: what a bundle holds, as typed values and as canonical JSON bytes.

The signature covers exactly the bytes of ``manifest.json`` in the archive, which are
``canonical_json(manifest.to_json())``: keys sorted, no whitespace, ASCII only, no NaN.
Every file's SHA-256 and size is in it, so one signature covers every byte of the bundle.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from bundleformat.errors import NotABundle

FORMAT = "cardioradar-bundle/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
RESERVED_NAMES = (MANIFEST_NAME, SIGNATURE_NAME)

# One path component: starts with a letter, digit or underscore (so never "." / ".." / hidden),
# then letters, digits, "._-". Whole paths are "/"-joined components: relative, no backslash.
_COMPONENT = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
SAFE_PATH_RE = re.compile(rf"^{_COMPONENT}(/{_COMPONENT})*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:\+[0-9A-Za-z.-]+)?$")


def is_safe_path(path: str) -> bool:
    return len(path) <= 240 and SAFE_PATH_RE.match(path) is not None


def version_tuple(version: str) -> tuple[int, int, int]:
    """``"1.2.3"`` (optionally ``+build``) -> ``(1, 2, 3)``; ``ValueError`` otherwise."""
    m = _VERSION_RE.match(version)
    if m is None:
        raise ValueError(f"expected a version MAJOR.MINOR.PATCH[+BUILD], got {version!r}")
    return int(m[1]), int(m[2]), int(m[3])


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


@dataclass(frozen=True)
class FileEntry:
    """One file of the bundle: path relative to the slot root, SHA-256 (hex), size in bytes."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelEntry:
    """The model ``.tflite`` (its path and hash) and its metadata JSON, parsed."""

    path: str
    sha256: str
    metadata: dict


@dataclass(frozen=True)
class CfgEntry:
    """The radar ``.cfg`` the board sends to its module."""

    path: str
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What a bundle holds; ``files`` is sorted by path and lists every file but the manifest
    and its signature. ``created`` is seconds since the epoch (``SOURCE_DATE_EPOCH`` or 0)."""

    product: str
    version: str  # product version (cardioradar.__version__)
    edge_version: str  # product version + "+" + hash of the runtime code files
    board: str  # board name from the profile's [board] section
    files: tuple[FileEntry, ...]
    model: ModelEntry
    cfg: CfgEntry
    min_agent_version: str
    security_counter: int
    key_id: str
    created: int
    profile: str = field(kw_only=True)  # path of the board profile TOML in the bundle
    format: str = field(default=FORMAT, kw_only=True)

    def file(self, path: str) -> FileEntry:
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict:
        return {
            "format": self.format,
            "product": self.product,
            "version": self.version,
            "edge_version": self.edge_version,
            "board": self.board,
            "profile": self.profile,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
            "model": {"path": self.model.path, "sha256": self.model.sha256, "metadata": self.model.metadata},
            "cfg": {"path": self.cfg.path, "sha256": self.cfg.sha256},
            "min_agent_version": self.min_agent_version,
            "security_counter": self.security_counter,
            "key_id": self.key_id,
            "created": self.created,
        }

    def to_bytes(self) -> bytes:
        """The canonical bytes the signature covers."""
        return canonical_json(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> "Manifest":
        try:
            d = json.loads(data.decode("ascii"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise NotABundle(f"{where}: {MANIFEST_NAME} is not ASCII JSON: {e}") from e
        return cls.from_json(d, where)

    @classmethod
    def from_json(cls, d: Any, where: str) -> "Manifest":
        r = _Reader(d, f"{where}: {MANIFEST_NAME}")
        fmt = r.get("format", str)
        if fmt != FORMAT:
            raise NotABundle(f"{r.where}: format: expected {FORMAT!r}, got {fmt!r}",
                             hint="this bundle was made by another, newer or older, bundle tool")
        files = tuple(_file_entry(_Reader(f, f"{r.where}: files[{i}]"))
                      for i, f in enumerate(r.get("files", list)))
        paths = [f.path for f in files]
        if paths != sorted(set(paths)):
            raise NotABundle(f"{r.where}: files: expected unique paths in sorted order")
        m = _Reader(r.get("model", dict), f"{r.where}: model")
        c = _Reader(r.get("cfg", dict), f"{r.where}: cfg")
        man = cls(
            product=r.get("product", str), version=r.get("version", str),
            edge_version=r.get("edge_version", str), board=r.get("board", str), files=files,
            model=ModelEntry(m.path("path"), m.sha256("sha256"), m.get("metadata", dict)),
            cfg=CfgEntry(c.path("path"), c.sha256("sha256")),
            min_agent_version=r.get("min_agent_version", str),
            security_counter=r.count("security_counter"), key_id=r.get("key_id", str),
            created=r.count("created"), profile=r.path("profile"), format=fmt,
        )
        try:
            version_tuple(man.min_agent_version)
        except ValueError as e:
            raise NotABundle(f"{r.where}: min_agent_version: {e}") from e
        for what, entry in (("model", man.model), ("cfg", man.cfg)):
            listed = next((f for f in files if f.path == entry.path), None)
            if listed is None or listed.sha256 != entry.sha256:
                raise NotABundle(f"{r.where}: {what}.path {entry.path}: not listed in files with the same sha256")
        if man.profile not in paths:
            raise NotABundle(f"{r.where}: profile {man.profile}: not listed in files")
        return man


def _file_entry(r: "_Reader") -> FileEntry:
    return FileEntry(r.path("path"), r.sha256("sha256"), r.count("size"))


class _Reader:
    """Typed field access on a JSON object; errors name the field."""

    def __init__(self, d: Any, where: str):
        if not isinstance(d, dict):
            raise NotABundle(f"{where}: expected a JSON object, got {type(d).__name__}")
        self.d, self.where = d, where

    def get(self, key: str, typ: type):
        if key not in self.d:
            raise NotABundle(f"{self.where}: missing field {key}")
        v = self.d[key]
        if not isinstance(v, typ) or isinstance(v, bool):
            raise NotABundle(f"{self.where}: {key}: expected {typ.__name__}, got {type(v).__name__} {v!r:.60}")
        return v

    def count(self, key: str) -> int:
        v = self.get(key, int)
        if v < 0:
            raise NotABundle(f"{self.where}: {key}: expected >= 0, got {v}")
        return v

    def path(self, key: str) -> str:
        v = self.get(key, str)
        if not is_safe_path(v) or v in RESERVED_NAMES:
            raise NotABundle(f"{self.where}: {key}: unsafe or reserved path {v!r}")
        return v

    def sha256(self, key: str) -> str:
        v = self.get(key, str)
        if not _SHA256_RE.match(v):
            raise NotABundle(f"{self.where}: {key}: expected 64 lowercase hex digits, got {v!r:.80}")
        return v
