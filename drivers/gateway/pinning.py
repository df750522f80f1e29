"""Public-key pinning for the gateway's TLS (``gateway.pin_sha256``): besides the CA check, the server's
key must be one of the pinned keys. A pin is the base64 SHA-256 of the certificate's SubjectPublicKeyInfo
(as HPKP and curl's ``--pinnedpubkey sha256//`` define it), so a renewed certificate with the same key
keeps working; list the next key too before a key change.

The check runs in the connection's ``connect``, right after the handshake and before the request is
written: a mismatching server never receives a byte of the message.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool


def spki_pin(der_certificate: bytes) -> str:
    key = x509.load_der_x509_certificate(der_certificate).public_key()
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def parse_pins(text: str) -> frozenset[str]:
    """``sha256//AAA=,BBB=`` or ``AAA= BBB=`` -> the base64 pins; ValueError for anything else."""
    pins = set()
    for part in text.replace(",", " ").split():
        pin = part.removeprefix("sha256//")
        try:
            if len(base64.b64decode(pin, validate=True)) != 32:
                raise ValueError
        except ValueError:
            raise ValueError(f"{part!r} is not a base64 SHA-256 pin") from None
        pins.add(pin)
    return frozenset(pins)


class PinnedAdapter(HTTPAdapter):
    def __init__(self, pins: Iterable[str], **kwargs: object) -> None:
        self._pins = frozenset(pins)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        pins = self._pins

        class PinnedConnection(HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                der = self.sock.getpeercert(binary_form=True) if self.sock is not None else None
                got = spki_pin(der) if der else "none"
                if got not in pins:
                    self.close()
                    raise ssl.SSLError(f"public key pin mismatch: the server's key is sha256//{got}, not one of "
                                       f"gateway.pin_sha256")

        class PinnedPool(HTTPSConnectionPool):
            ConnectionCls = PinnedConnection

        self.poolmanager.pool_classes_by_scheme = {**self.poolmanager.pool_classes_by_scheme, "https": PinnedPool}
