"""Where the kiosk's secrets live, and the device key that signs on its behalf.

Secrets (the outbox key, the roster key, the device key) are kept in their own folder, apart from the
data folder whose files they protect (``key_dir``; by default a folder beside the data folder). A key
file found in the data folder by an older build is moved over on first use, so nothing queued is lost.

The device key is Ed25519 (private key PEM, mode 0600): it signs the audit chain's events, so whoever
holds the database but not the key cannot rewrite an event and produce a chain that verifies; its
public half is what ``kiosk-provision register`` sends to the insurance office.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiosk.errors import ConfigError

log = logging.getLogger(__name__)


def key_path(key_dir: Path, data_dir: Path, name: str) -> Path:
    """``key_dir/name`` (folder made 0700), moving a key an older build left in the data folder."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target, old = key_dir / name, data_dir / name
    if not target.exists() and old.exists() and old.resolve() != target.resolve():
        os.replace(old, target)  # same file system in the usual layout; a rename keeps mode 0600
        log.warning("moved %s out of the data folder to %s", old, target)
    return target


class DeviceKey:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def load_or_create(cls, path: Path) -> DeviceKey:
        if path.exists():
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except ValueError:
                key = None
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError(f"{path} is not a readable device key: restore it from backup or delete it "
                                  "and register again (the office must approve the new key)")
            return cls(key)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        return cls(key)

    def public_b64(self) -> str:
        raw = self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self._key.sign(data)).decode("ascii")


def signature_checker(public_b64: str) -> Callable[[bytes, str], bool]:
    """For whoever verifies (the hospital, the technician): the registered public key checks signatures."""
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))

    def check(data: bytes, signature: str) -> bool:
        try:
            public.verify(base64.b64decode(signature), data)
        except (InvalidSignature, ValueError):
            return False
        return True

    return check
