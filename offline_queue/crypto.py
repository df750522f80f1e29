"""Encryption at rest of outbox payloads (Fernet: AES-128-CBC + HMAC-SHA256, from cryptography)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from kiosk.errors import QueueError


def load_or_create_key(path: Path) -> bytes:
    """Read the key file, creating it (mode 0600) on first use."""
    if path.exists():
        key = path.read_bytes().strip()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
    try:
        Fernet(key)
    except ValueError:
        raise QueueError(f"outbox key file {path} is corrupt") from None
    return key


class PayloadCipher:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, plain: bytes) -> bytes:
        return self._fernet.encrypt(plain)

    def open(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            raise QueueError("outbox payload cannot be decrypted (wrong key or tampered row)") from None
