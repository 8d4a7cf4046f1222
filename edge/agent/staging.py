"""Resumable upload staging: ``root/upload/bundle.part`` + ``upload.json`` (size, sha256, offset).

The offset is persisted after each chunk is fsync'ed, so a resume survives an agent
restart or a power cut (mcumgr keeps it in RAM; we do not). Bytes past the persisted
offset (a chunk written but not recorded) are cut off on the next begin.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cardioradar import atomic
from edge.agent.errors import Refused

log = logging.getLogger(__name__)

MAX_BUNDLE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    size: int
    sha256: str
    offset: int


class Staging:
    def __init__(self, root: Path):
        self.dir = Path(root) / "upload"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.part = self.dir / "bundle.part"
        self.meta = self.dir / "upload.json"

    def current(self) -> Upload | None:
        try:
            d = json.loads(self.meta.read_text())
            return Upload(int(d["size"]), str(d["sha256"]), int(d["offset"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("%s unreadable (%s): starting the upload over", self.meta, e)
            return None

    def begin(self, size: int, sha256: str) -> Upload:
        if not 0 < size <= MAX_BUNDLE_BYTES:
            raise Refused("too_large", f"bundle size expected 1..{MAX_BUNDLE_BYTES} bytes, got {size}")
        if len(sha256) != 64:
            raise Refused("bad_request", f"sha256 expected 64 hex digits, got {sha256!r}")
        up = self.current()
        if up is not None and (up.size, up.sha256) == (size, sha256) and self.part.exists():
            with open(self.part, "r+b") as f:  # drop a chunk written but never recorded
                f.truncate(up.offset)
            log.info("upload %s resumes at %d/%d", sha256[:12], up.offset, size)
            return up
        self.discard()
        with open(self.part, "wb") as f:
            os.fsync(f.fileno())
        up = Upload(size, sha256, 0)
        self._save(up)
        return up

    def write(self, offset: int, data: bytes) -> Upload:
        up = self.current()
        if up is None:
            raise Refused("no_upload", "no upload in progress (begin first)")
        if offset != up.offset:
            raise Refused("offset", f"data at offset {offset}, expected {up.offset}")
        if offset + len(data) > up.size:
            raise Refused("too_large", f"data runs past the declared size {up.size}")
        with open(self.part, "r+b") as f:
            f.seek(offset)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        up = Upload(up.size, up.sha256, offset + len(data))
        self._save(up)
        log.debug("upload %s: wrote %d bytes at %d", up.sha256[:12], len(data), offset)
        return up

    def check_complete(self) -> Upload:
        up = self.current()
        if up is None:
            raise Refused("no_upload", "no upload in progress")
        if up.offset != up.size:
            raise Refused("incomplete", f"upload incomplete: {up.offset}/{up.size} bytes")
        h = hashlib.sha256()
        with open(self.part, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != up.sha256:
            self.discard()
            raise Refused("sha256_mismatch", f"received bundle sha256 {h.hexdigest()}, declared {up.sha256}")
        return up

    def discard(self) -> None:
        for p in (self.meta, self.part):
            p.unlink(missing_ok=True)
        atomic.fsync_dir(self.dir)

    def _save(self, up: Upload) -> None:
        atomic.write_json(self.meta, {"size": up.size, "sha256": up.sha256, "offset": up.offset})
