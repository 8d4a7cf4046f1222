"""`bundle build`: collect the runtime, board profile, radar .cfg and model; sign; write a tar.

Archive layout (plain POSIX tar, PAX format, uncompressed so a board can verify it as it
streams in and a flipped byte is reported as that file's hash, not as a codec error):

    manifest.json   canonical JSON (see ``manifest.py``), always the first entry
    manifest.sig    {"algorithm": "ed25519", "key_id": ..., "signature": hex}, second
    <files>         sorted by path: boards/..., bundleformat/..., cardioradar/..., edge/..., fixedpoint/...

The files sit where an installed slot needs them: ``boards/<profile>.toml`` with its
``.cfg`` and model at the profile's own relative paths, so ``load_profile(slot /
manifest.profile)`` works in the slot. Deterministic: fixed mtime (``created``), uid/gid 0,
no user names, mode 0644, sorted names; ed25519 signatures are deterministic too, so the
same inputs and key give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tarfile
from pathlib import Path, PurePosixPath

from boards import BoardProfile, load_profile
from cardioradar import __version__
from cardioradar.errors import ConfigError
from edge.modelfile import check_tensor_table, parse_model
from host.bundle.collect import repo_root, runtime_sources
from bundleformat.keys import key_id, load_signing_key
from bundleformat.manifest import (
    MANIFEST_NAME, SIGNATURE_NAME, CfgEntry, FileEntry, Manifest, ModelEntry, canonical_json,
    is_safe_path, version_tuple,
)

log = logging.getLogger(__name__)

PRODUCT = "cardioradar"
MAX_SECURITY_COUNTER = 2**32 - 1


def source_date_epoch() -> int:
    """``SOURCE_DATE_EPOCH`` (reproducible-builds.org) or 0."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "0")
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"SOURCE_DATE_EPOCH: expected a non-negative integer, got {raw!r}")
    return value


def build_bundle(board: str | Path | BoardProfile, key_path: str | Path, out_path: str | Path, *,
                 model_path: str | Path | None = None, security_counter: int,
                 min_agent_version: str = "0.1.0", source_root: str | Path | None = None) -> Path:
    """Build and sign a bundle for ``board`` (profile name, path or loaded profile).

    ``model_path`` overrides the profile's model (its metadata JSON must sit beside it); it is
    stored at the profile's model path so the installed slot is self-consistent.
    ``source_root``: take the runtime code from this checkout (e.g. a release tag) instead of
    the one this package was imported from.
    """
    profile = board if isinstance(board, BoardProfile) else load_profile(board)
    _check_counter(security_counter)
    try:
        version_tuple(min_agent_version)
    except ValueError as e:
        raise ConfigError(f"min_agent_version: {e}") from e
    key = load_signing_key(key_path)

    contents = _collect(profile, model_path, Path(source_root) if source_root is not None else repo_root())
    entries = tuple(FileEntry(p, hashlib.sha256(b).hexdigest(), len(b)) for p, b in sorted(contents.items()))
    by_path = {e.path: e for e in entries}
    code = [e for e in entries if e.path.endswith(".py")]
    code_hash = hashlib.sha256(canonical_json([[e.path, e.sha256] for e in code])).hexdigest()
    model_rel, cfg_rel, profile_rel, meta_rel = _layout(profile)
    try:
        metadata = json.loads(contents[meta_rel])
        canonical_json(metadata)
    except (UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"model metadata for {model_rel}: not valid JSON: {e}") from e
    if not isinstance(metadata, dict):
        raise ConfigError(f"model metadata for {model_rel}: expected a JSON object, got {type(metadata).__name__}")

    manifest = Manifest(
        product=PRODUCT, version=__version__, edge_version=f"{__version__}+{code_hash[:12]}",
        board=profile.name, files=entries,
        model=ModelEntry(model_rel, by_path[model_rel].sha256, metadata),
        cfg=CfgEntry(cfg_rel, by_path[cfg_rel].sha256),
        min_agent_version=min_agent_version, security_counter=security_counter,
        key_id=key_id(key.public_key()), created=source_date_epoch(), profile=profile_rel,
    )
    manifest_bytes = manifest.to_bytes()
    signature = canonical_json({"algorithm": "ed25519", "key_id": manifest.key_id,
                                "signature": key.sign(manifest_bytes).hex()})
    out = Path(out_path)
    _write_tar_atomically(out, [(MANIFEST_NAME, manifest_bytes), (SIGNATURE_NAME, signature)]
                          + sorted(contents.items()), manifest.created)
    log.info("bundle %s: board %s, %d files, %d bytes of content, counter %d, key %s",
             out, manifest.board, len(entries), manifest.total_size, security_counter, manifest.key_id)
    return out


def _check_counter(counter: int) -> None:
    if not isinstance(counter, int) or isinstance(counter, bool) or not 0 <= counter <= MAX_SECURITY_COUNTER:
        raise ConfigError(f"security_counter: expected an integer 0..{MAX_SECURITY_COUNTER}, got {counter!r}")


def _inside_boards(profile: BoardProfile, key: str, rel: str) -> str:
    """The bundle path of a file the profile names relative to itself."""
    p = PurePosixPath(rel)
    out = f"boards/{p.as_posix()}"
    if p.is_absolute() or ".." in p.parts or not is_safe_path(out):
        raise ConfigError(
            f"{profile.path}: {key}: {rel!r} must be a plain path below the profile's folder "
            "(a bundle keeps the profile's relative layout)")
    return out


def _layout(profile: BoardProfile) -> tuple[str, str, str, str]:
    """Bundle paths: (model, cfg, profile TOML, model metadata JSON)."""
    model_rel = _inside_boards(profile, "model.path", profile.model.path)
    cfg_rel = _inside_boards(profile, "radar.cfg", profile.radar.cfg)
    profile_rel = _inside_boards(profile, "profile file name", profile.path.name)
    meta_rel = PurePosixPath(model_rel).with_suffix(".json").as_posix()
    return model_rel, cfg_rel, profile_rel, meta_rel


def _collect(profile: BoardProfile, model_path: str | Path | None, root: Path) -> dict[str, bytes]:
    """bundle path -> bytes (read once, so what is hashed is what is written)."""
    contents = {rel: (root / rel).read_bytes() for rel in runtime_sources(root)}
    model_rel, cfg_rel, profile_rel, meta_rel = _layout(profile)
    model_src = Path(model_path) if model_path is not None else profile.model_path
    if not model_src.is_file():
        raise ConfigError(
            f"model {model_src}: no such file"
            + (f" (board profile {profile.path.name}, model.path)" if model_path is None else ""),
            hint="pass --model PATH to a .tflite with its metadata .json beside it; the shipped model "
                 "appears in boards/models/ once trained")
    meta_src = model_src.with_suffix(".json")
    if not meta_src.is_file():
        raise ConfigError(f"model metadata {meta_src}: no such file",
                          hint="a .tflite travels with its metadata JSON (same name, .json)")
    model_bytes = model_src.read_bytes()
    try:
        metadata = json.loads(meta_src.read_bytes())
    except (UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"model metadata {meta_src}: not valid JSON: {e}") from e
    # the board's check, before signing: identifier, size, schema, tensor table vs metadata
    check_tensor_table(parse_model(model_bytes, str(model_src)), metadata, str(meta_src))
    for rel, data in ((profile_rel, profile.path.read_bytes()), (cfg_rel, profile.cfg_path.read_bytes()),
                      (model_rel, model_bytes), (meta_rel, meta_src.read_bytes())):
        if rel in contents and contents[rel] != data:
            raise ConfigError(f"bundle path {rel}: two different files would be stored there")
        contents[rel] = data
    return contents


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = size, mtime, 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    return ti


def _write_tar_atomically(out: Path, members: list[tuple[str, bytes]], mtime: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name, data in members:
                    tar.addfile(_tarinfo(name, len(data), mtime), io.BytesIO(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
