"""Sessions on the board for pulling: list them, snapshot one consistently, read pieces.

A session still being written is a SQLite database in WAL mode; copying its bytes could
catch a half-applied checkpoint. The online backup API gives a consistent snapshot of
what was committed; it goes to ``root/pull/NAME.snap`` (temp file, fsync, rename) with its
size and SHA-256, and is kept so an interrupted pull resumes on the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cardioradar import atomic
from edge.agent.errors import Refused

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.db$")


@dataclass(frozen=True)
class Snapshot:
    name: str
    size: int
    sha256: str
    path: Path


class SessionShelf:
    def __init__(self, root: Path):
        self.dir = Path(root) / "sessions"
        self.pull_dir = Path(root) / "pull"
        for d in (self.dir, self.pull_dir):
            d.mkdir(parents=True, exist_ok=True)

    def list(self) -> list[dict]:
        out = []
        for p in sorted(self.dir.glob("*.db")):
            wal = p.with_name(p.name + "-wal")
            out.append({"name": p.name, "size_bytes": p.stat().st_size + (wal.stat().st_size if wal.exists() else 0),
                        "live": wal.exists()})
        return out

    def _source(self, name: str) -> Path:
        if not _NAME.match(name or ""):
            raise Refused("bad_name", f"session name {name!r}: expected NAME.db")
        p = self.dir / name
        if not p.is_file():
            raise Refused("no_session", f"no session {name!r} on the board")
        return p

    def snapshot(self, name: str, reuse_sha256: str | None = None) -> Snapshot:
        """A consistent copy of session ``name``; the kept one if its sha256 is ``reuse_sha256``."""
        src = self._source(name)
        snap, meta = self.pull_dir / f"{name}.snap", self.pull_dir / f"{name}.json"
        if reuse_sha256 and snap.exists() and meta.exists():
            d = json.loads(meta.read_text())
            if d["sha256"] == reuse_sha256:
                return Snapshot(name, int(d["size"]), d["sha256"], snap)
        tmp = self.pull_dir / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            s = sqlite3.connect(src.resolve().as_uri() + "?mode=ro", uri=True)
            d = sqlite3.connect(tmp)
            try:
                s.backup(d)
                d.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal needed
            finally:
                d.close()
                s.close()
        except sqlite3.Error as e:
            raise Refused("snapshot_failed", f"session {name}: snapshot failed: {e}") from e
        data = tmp.read_bytes()
        meta.unlink(missing_ok=True)  # never a kept sha256 beside other bytes
        atomic.write_bytes(snap, data)
        tmp.unlink(missing_ok=True)
        out = Snapshot(name, len(data), hashlib.sha256(data).hexdigest(), snap)
        atomic.write_json(meta, {"size": out.size, "sha256": out.sha256})
        log.info("session %s: snapshot %d bytes sha256 %s", name, out.size, out.sha256[:12])
        return out

    def read(self, name: str, sha256: str, offset: int, length: int) -> bytes:
        snap = self.snapshot(name, reuse_sha256=sha256)
        if snap.sha256 != sha256:
            raise Refused("snapshot_gone", f"session {name}: snapshot {sha256[:12]} is gone")
        with open(snap.path, "rb") as f:
            f.seek(offset)
            return f.read(length)
