"""Ed25519 signing keys: generate, load, identify.

Private key: PEM PKCS#8, unencrypted, mode 0600 (keep it off the board and out of git).
Public key: PEM SubjectPublicKeyInfo; a trusted key may also be given as its 32 raw bytes
(what a board can hold as a built-in key). A key's id is the first 16 hex digits of the
SHA-256 of its 32 raw bytes (MCUboot's "key hash" idea): it picks the key, the signature
still decides.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cardioradar.errors import ConfigError
from cardioradar.inputs import read_config_input

log = logging.getLogger(__name__)

PRIVATE_NAME = "bundle-signing.key"
PUBLIC_NAME = "bundle-signing.pub"


def raw_public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_bytes(key)).hexdigest()[:16]


def generate_keys(out_dir: str | Path) -> tuple[Path, Path]:
    """Write a new ed25519 key pair into ``out_dir``; refuses to overwrite an existing key."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = out / PRIVATE_NAME, out / PUBLIC_NAME
    for p in (priv_path, pub_path):
        if p.exists():
            raise ConfigError(f"{p}: already exists; refusing to overwrite a signing key",
                              hint="choose another --out folder (a lost key cannot sign updates boards trust)")
    key = Ed25519PrivateKey.generate()
    priv_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    # O_EXCL: never clobber a key that appeared meanwhile; 0600 before any byte is written.
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(priv_pem)
    pub_path.write_bytes(pub_pem)
    log.info("key %s written: %s, %s", key_id(key.public_key()), priv_path, pub_path)
    return priv_path, pub_path


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    p = Path(path)
    data = read_config_input(p, "signing key", binary=True)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise ConfigError(f"signing key {p}: not an unencrypted PEM private key: {e}",
                          hint="make one with `cardioradar keys generate --out DIR`") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {p}: expected an ed25519 key, got {type(key).__name__}")
    return key


def load_public_key(source: str | Path | bytes) -> Ed25519PublicKey:
    """A trusted key from a PEM file path, PEM bytes or 32 raw bytes."""
    where = f"public key {source}" if not isinstance(source, bytes) else "public key (bytes)"
    data = source if isinstance(source, bytes) else read_config_input(source, "public key", binary=True)
    if len(data) == 32 and not data.startswith(b"-----"):
        return Ed25519PublicKey.from_public_bytes(data)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise ConfigError(f"{where}: not a PEM public key or 32 raw ed25519 bytes: {e}") from e
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{where}: expected an ed25519 key, got {type(key).__name__}")
    return key


def load_trusted_keys(sources: list[Path] | list[bytes] | list[str]) -> dict[str, Ed25519PublicKey]:
    """key id -> key for every trusted key; at least one is required."""
    if isinstance(sources, (bytes, str, Path)):
        raise ConfigError(f"trusted keys: expected a list of keys, got one {type(sources).__name__}")
    keys = {}
    for s in sources:
        k = load_public_key(s)
        keys[key_id(k)] = k
    if not keys:
        raise ConfigError("trusted keys: none given; a bundle cannot be verified without one",
                          hint="pass --pubkey PATH")
    return keys
