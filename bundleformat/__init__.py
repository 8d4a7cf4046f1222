"""The bundle format, a shared leaf: manifest, signature keys, verification and extraction
(docs/updates.md). The board agent verifies the next bundle with it (it ships in every
bundle); ``host.bundle`` builds bundles with it. Needs the standard library and
``cryptography`` only; imports nothing of this project but ``cardioradar``.

Refusals are ``BundleError`` subclasses (``bundleformat.errors``), each with its wire ``code``.
"""

from bundleformat.errors import (
    AgentTooOld, AlteredFile, BadSignature, BundleError, Downgrade, MissingFile, NotABundle,
    UnknownKey, UnsafeEntry, Unsigned, WrongBoard,
)
from bundleformat.keys import generate_keys, key_id, load_public_key, load_trusted_keys
from bundleformat.manifest import CfgEntry, FileEntry, Manifest, ModelEntry, version_tuple
from bundleformat.verify import check_header, extract_bundle, read_manifest, verify_bundle

__all__ = [
    "AgentTooOld", "AlteredFile", "BadSignature", "BundleError", "CfgEntry", "Downgrade", "FileEntry",
    "Manifest", "MissingFile", "ModelEntry", "NotABundle", "UnknownKey", "UnsafeEntry", "Unsigned",
    "WrongBoard", "check_header", "extract_bundle", "generate_keys", "key_id", "load_public_key",
    "load_trusted_keys", "read_manifest", "verify_bundle", "version_tuple",
]
