"""Read, verify and extract bundles in one streaming pass (the board agent's side).

Order of checks, so nothing unauthenticated is trusted and nothing is written outside
the destination: (1) ``manifest.json`` must be the first entry and ``manifest.sig`` the
second (else ``NotABundle`` / ``Unsigned``); (2) the signature's key must be trusted
(``UnknownKey``) and must verify over the manifest bytes (``BadSignature``); (3) the
now-authentic manifest must name this board (``WrongBoard``), an agent at least as new as
``min_agent_version`` (``AgentTooOld``) and a security counter not below the installed one
(``Downgrade``); (4) every further entry must be a plain file under a safe relative path
(``UnsafeEntry``), listed once in the manifest with the same size and SHA-256
(``AlteredFile``); (5) every listed file must have been seen (``MissingFile``).
Only the manifest and signature (both size-capped) are read before the signature check.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from cryptography.exceptions import InvalidSignature

from cardioradar.errors import ConfigError
from cardioradar.atomic import fsync_dir
from bundleformat.errors import (
    AgentTooOld, AlteredFile, BadSignature, Downgrade, MissingFile, NotABundle, Unsigned,
    UnknownKey, UnsafeEntry, WrongBoard,
)
from bundleformat.keys import load_trusted_keys
from bundleformat.manifest import MANIFEST_NAME, SIGNATURE_NAME, Manifest, is_safe_path, version_tuple

log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 4 << 20
MAX_SIGNATURE_BYTES = 4096
_CHUNK = 1 << 16
_TAR_ERRORS = (tarfile.TarError, EOFError, ValueError, UnicodeError, OverflowError)


def read_manifest(bundle_path: str | Path) -> Manifest:
    """The manifest as the bundle states it, NOT verified: for display only."""
    where = str(bundle_path)
    with _open(bundle_path) as f:
        entries = _entries(f, where)
        return Manifest.from_bytes(_read_header_member(entries, where, MANIFEST_NAME, MAX_MANIFEST_BYTES), where)


def verify_bundle(bundle_path: str | Path, trusted_pubkeys: list[Path] | list[bytes], *,
                  board: str | None = None, installed_counter: int | None = None,
                  agent_version: str | None = None) -> Manifest:
    """The verified manifest, or a ``BundleError`` subclass saying why the bundle is refused."""
    return _process(bundle_path, trusted_pubkeys, None, board, installed_counter, agent_version)


def extract_bundle(bundle_path: str | Path, dest_dir: str | Path, trusted_pubkeys: list[Path] | list[bytes],
                   *, board: str | None = None, installed_counter: int | None = None,
                   agent_version: str | None = None) -> Manifest:
    """Verify while extracting into ``dest_dir`` (absent or empty); all or nothing.

    Files land in a hidden sibling folder first and are fsynced; only a fully verified
    bundle is renamed to ``dest_dir`` (with its ``manifest.json`` and ``manifest.sig``).
    On any refusal the partial folder is removed and ``dest_dir`` is left as it was.
    """
    dest = Path(dest_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ConfigError(f"extract destination {dest}: exists and is not an empty folder",
                          hint="clear the inactive slot before installing into it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in dest.parent.glob(f".{dest.name}.partial-*"):  # left by a power cut mid-extract
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        manifest = _process(bundle_path, trusted_pubkeys, tmp, board, installed_counter, agent_version)
        _fsync_tree(tmp)
        if dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("bundle %s extracted to %s: %d files", bundle_path, dest, len(manifest.files))
    return manifest


def check_header(head: bytes, trusted_pubkeys: list[Path] | list[bytes], *, total_size: int,
                 board: str | None = None, installed_counter: int | None = None,
                 agent_version: str | None = None, where: str = "bundle") -> Manifest | None:
    """Refuse early: the checks that need only the first two entries (signature, key, board,
    agent version, security counter), on the first ``len(head)`` bytes of a bundle of
    ``total_size`` bytes that is still arriving. None while the two entries are not complete;
    the verified manifest once they are; a ``BundleError`` as `verify_bundle` would raise it.
    The files' hashes are checked later, by `verify_bundle` on the whole upload."""
    complete = len(head) >= total_size
    try:
        entries = _entries(io.BytesIO(head), where)
        manifest_bytes = _read_header_member(entries, where, MANIFEST_NAME, MAX_MANIFEST_BYTES)
        sig_bytes = _read_header_member(entries, where, SIGNATURE_NAME, MAX_SIGNATURE_BYTES)
    except (Unsigned, NotABundle):
        if complete or len(head) > MAX_MANIFEST_BYTES + MAX_SIGNATURE_BYTES + 8 * 512:
            raise
        return None  # cut inside the first two entries: wait for more bytes
    manifest = _authenticate(manifest_bytes, sig_bytes, load_trusted_keys(trusted_pubkeys), where)
    _check_target(manifest, where, board, installed_counter, agent_version)
    return manifest


# ----------------------------------------------------------------------------- the single pass
def _process(bundle_path, trusted_pubkeys, dest: Path | None, board, installed_counter, agent_version) -> Manifest:
    where = str(bundle_path)
    trusted = load_trusted_keys(trusted_pubkeys)
    with _open(bundle_path) as f:
        entries = _entries(f, where)
        manifest_bytes = _read_header_member(entries, where, MANIFEST_NAME, MAX_MANIFEST_BYTES)
        sig_bytes = _read_header_member(entries, where, SIGNATURE_NAME, MAX_SIGNATURE_BYTES)
        manifest = _authenticate(manifest_bytes, sig_bytes, trusted, where)
        _check_target(manifest, where, board, installed_counter, agent_version)
        _check_files(entries, manifest, where, dest, f)
    if dest is not None:
        for name, data in ((MANIFEST_NAME, manifest_bytes), (SIGNATURE_NAME, sig_bytes)):
            with _create(dest / name) as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
    log.info("bundle %s verified: board %s, edge %s, counter %d, key %s", where, manifest.board,
             manifest.edge_version, manifest.security_counter, manifest.key_id)
    return manifest


def _open(bundle_path: str | Path) -> BinaryIO:
    try:
        return open(bundle_path, "rb")
    except FileNotFoundError as e:
        raise NotABundle(f"{bundle_path}: no such file") from e
    except IsADirectoryError as e:
        raise NotABundle(f"{bundle_path}: is a folder, expected a bundle file") from e


def _entries(f: BinaryIO, where: str) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """(tar, entry) pairs in archive order; tar damage becomes ``NotABundle``."""
    try:
        tar = tarfile.open(fileobj=f, mode="r|")  # "r|": stream, uncompressed only
    except _TAR_ERRORS as e:
        raise NotABundle(f"{where}: not a tar archive ({e})") from e
    while True:
        try:
            ti = tar.next()
        except _TAR_ERRORS as e:
            raise NotABundle(f"{where}: damaged or truncated archive after offset {tar.offset}: {e}") from e
        if ti is None:
            return
        yield tar, ti


def _read_member(tar: tarfile.TarFile, ti: tarfile.TarInfo, where: str, out: BinaryIO | None = None):
    """(sha256 hex, size) of the entry's data, copied to ``out`` if given."""
    h, n = hashlib.sha256(), 0
    try:
        src = tar.extractfile(ti)
        while chunk := src.read(_CHUNK):
            h.update(chunk)
            n += len(chunk)
            if out is not None:
                out.write(chunk)
    except _TAR_ERRORS as e:
        raise NotABundle(f"{where}: truncated or damaged inside {ti.name!r}: {e}") from e
    return h.hexdigest(), n


def _read_header_member(entries, where: str, name: str, max_bytes: int) -> bytes:
    item = next(entries, None)
    if item is None:
        if name == SIGNATURE_NAME:
            raise Unsigned(f"{where}: unsigned: no {SIGNATURE_NAME} after {MANIFEST_NAME}")
        raise NotABundle(f"{where}: empty archive, expected {MANIFEST_NAME} first")
    tar, ti = item
    if ti.name != name:
        if name == SIGNATURE_NAME:
            raise Unsigned(f"{where}: unsigned: entry 2 is {ti.name!r}, expected {SIGNATURE_NAME}")
        raise NotABundle(f"{where}: entry 1 is {ti.name!r}, expected {MANIFEST_NAME}",
                         hint="make bundles with `cardioradar bundle build`")
    if ti.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or ti.size > max_bytes:
        raise NotABundle(f"{where}: {name}: expected a plain file of at most {max_bytes} bytes, "
                         f"got type {ti.type!r}, {ti.size} bytes")
    src = tar.extractfile(ti)
    try:
        data = src.read()
    except _TAR_ERRORS as e:
        raise NotABundle(f"{where}: truncated inside {name}: {e}") from e
    if len(data) != ti.size:
        raise NotABundle(f"{where}: truncated inside {name}: {len(data)} of {ti.size} bytes")
    return data


def _authenticate(manifest_bytes: bytes, sig_bytes: bytes, trusted: dict, where: str) -> Manifest:
    try:
        sig = json.loads(sig_bytes.decode("ascii"))
        algorithm, kid, signature = sig["algorithm"], sig["key_id"], bytes.fromhex(sig["signature"])
        if not isinstance(kid, str):
            raise TypeError("key_id is not a string")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise BadSignature(f"{where}: {SIGNATURE_NAME} is malformed: {e!r}") from e
    if algorithm != "ed25519":
        raise BadSignature(f"{where}: {SIGNATURE_NAME}: algorithm expected 'ed25519', got {algorithm!r}")
    key = trusted.get(kid)
    if key is None:
        raise UnknownKey(where, kid, sorted(trusted))
    try:
        key.verify(signature, manifest_bytes)
    except InvalidSignature as e:
        raise BadSignature(
            f"{where}: bad signature: {MANIFEST_NAME} does not verify with key {kid} "
            "(edited after signing, or signed by another key under this key id)") from e
    manifest = Manifest.from_bytes(manifest_bytes, where)
    if manifest.key_id != kid:
        raise BadSignature(f"{where}: manifest names key {manifest.key_id}, signature file names {kid}")
    return manifest


def _check_target(m: Manifest, where: str, board, installed_counter, agent_version) -> None:
    if board is not None and m.board != board:
        raise WrongBoard(where, board, m.board)
    if agent_version is not None:
        try:
            mine = version_tuple(agent_version)
        except ValueError as e:
            raise ConfigError(f"agent_version: {e}") from e
        if mine < version_tuple(m.min_agent_version):  # validated when the manifest was parsed
            raise AgentTooOld(where, agent_version, m.min_agent_version)
    if installed_counter is not None and m.security_counter < installed_counter:
        raise Downgrade(where, installed_counter, m.security_counter)


def _check_files(entries, m: Manifest, where: str, dest: Path | None, f: BinaryIO) -> None:
    expected = {f.path: f for f in m.files}
    seen: set[str] = set()
    for tar, ti in entries:
        name = ti.name
        if not is_safe_path(name) or name in (MANIFEST_NAME, SIGNATURE_NAME):
            raise UnsafeEntry(where, name, "not a plain relative path (absolute, '..', hidden or reserved)")
        if ti.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            kind = {tarfile.SYMTYPE: f"symlink to {ti.linkname!r}", tarfile.LNKTYPE: f"hard link to {ti.linkname!r}",
                    tarfile.DIRTYPE: "folder"}.get(ti.type, f"special file (type {ti.type!r})")
            raise UnsafeEntry(where, name, f"a {kind}; bundles hold plain files only")
        if name in seen:
            raise NotABundle(f"{where}: entry {name!r} appears twice")
        seen.add(name)
        entry = expected.get(name)
        write = dest is not None and entry is not None and ti.size == entry.size
        out = _create(dest / name) if write else None
        try:
            got_sha, got_size = _read_member(tar, ti, where, out)
        finally:
            if out is not None:
                out.flush()
                os.fsync(out.fileno())
                out.close()
        if entry is None:
            raise AlteredFile(where, name, None, got_sha)
        if got_sha != entry.sha256 or got_size != entry.size:
            raise AlteredFile(where, name, entry.sha256, got_sha,
                              detail="" if got_size == entry.size else f"size expected {entry.size}, got {got_size}")
    missing = sorted(set(expected) - seen)
    if missing:
        # tarfile ends the archive quietly at a damaged header: say whether bytes were left unread.
        try:
            size, read = os.fstat(f.fileno()).st_size, f.tell()
        except OSError:  # a pipe: no size, no position
            size = read = 0
        why = (f"the archive is unreadable after about byte {read} of {size} (damaged entry header)"
               if read < size else f"the archive ends at byte {size} (truncated transfer?)" if size else "")
        raise MissingFile(where, missing, detail=why)


def _create(path: Path) -> BinaryIO:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "xb")  # "x": never follow or replace what is there
    except OSError as e:
        raise NotABundle(f"cannot create {path.name} in the staging folder: {e}") from e


def _fsync_tree(root: Path) -> None:
    """Files were fsynced as written; the folders' entries need it too for a power cut."""
    for d, _, _ in os.walk(root):
        fsync_dir(Path(d))
