"""Signed firmware bundles: what a board installs into its inactive slot (DESIGN.md contract 6).

    >>> from host.bundle import generate_keys, build_bundle, verify_bundle
    >>> priv, pub = generate_keys("keys/")
    >>> build_bundle("sim", priv, "sim.bundle", model_path="m.tflite", security_counter=1)
    >>> verify_bundle("sim.bundle", [pub], board="sim", installed_counter=0).edge_version

A bundle is a deterministic tar: ``manifest.json`` (versions, board, every file's SHA-256
and size, model hash + metadata, radar .cfg hash, minimum agent version, security
counter, key id), ``manifest.sig`` (ed25519 over the manifest bytes), then the files.
Refusals are ``BundleError`` subclasses (``bundleformat.errors``). Format: docs/updates.md.

Building is host-side (this package); reading, verifying and extracting are the shared leaf
``bundleformat``, which ships inside every bundle (the board agent verifies the next bundle
with it) and is re-exported here.
"""

from bundleformat.errors import (
    AgentTooOld, AlteredFile, BadSignature, BundleError, Downgrade, MissingFile, NotABundle,
    UnknownKey, UnsafeEntry, Unsigned, WrongBoard,
)
from bundleformat.keys import generate_keys, key_id, load_public_key, load_trusted_keys
from bundleformat.manifest import CfgEntry, FileEntry, Manifest, ModelEntry, version_tuple
from bundleformat.verify import check_header, extract_bundle, read_manifest, verify_bundle
from host.bundle.build import build_bundle

__all__ = [
    "AgentTooOld", "AlteredFile", "BadSignature", "BundleError", "CfgEntry", "Downgrade", "FileEntry",
    "Manifest", "MissingFile", "ModelEntry", "NotABundle", "UnknownKey", "UnsafeEntry", "Unsigned",
    "WrongBoard", "build_bundle", "check_header", "extract_bundle", "generate_keys", "key_id", "load_public_key",
    "load_trusted_keys", "read_manifest", "verify_bundle", "version_tuple",
]
