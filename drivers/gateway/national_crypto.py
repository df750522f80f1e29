"""The national algorithms the provinces' gateways ask for (PROTOCOL.md section 9): SM3, SM4, SM2.

* SM3 (hash, GB/T 32905) and SM4 (block cipher, GB/T 32907) from the ``cryptography`` package (OpenSSL's
  implementations, the same package that already encrypts the outbox).
* SM2 signatures (GB/T 32918.2) from ``gmssl`` (pure Python, on PyPI): ``cryptography`` has no SM2 in its
  Python API. gmssl's signing core takes the curve as a table, so the standard's own worked example
  (its test curve, key, random k and signature) is checked in the tests; the digest ``e = SM3(Z || M)``,
  with ``Z`` from the signer's identity (default ``1234567812345678``, what the provinces' SDKs use), is
  computed here.

Keys are hex strings as the provinces issue them: a private key of 64 hex digits, a public key of 128
(x || y; a leading ``04`` is accepted).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DEFAULT_ID = b"1234567812345678"
# the recommended curve sm2p256v1 (GB/T 32918.5)
CURVE = {
    "n": "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123",
    "p": "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF",
    "g": "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
         "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
    "a": "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    "b": "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
}


class NationalCryptoError(ValueError):
    """A key of the wrong form, or a ciphertext that does not decrypt."""


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def sm4_key(text: str) -> bytes:
    """An SM4 key from its 32 hex digits."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise NationalCryptoError("an SM4 key is 32 hex digits") from None
    if len(key) != 16:
        raise NationalCryptoError(f"an SM4 key is 32 hex digits, not {len(text.strip())}")
    return key


def sm4_encrypt(key: bytes, plaintext: bytes) -> bytes:
    """SM4-ECB with PKCS#7 padding, as the provinces' front ends use it (the SM2 signature over the
    ciphertext is what guards it against tampering)."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305 (the provinces' mode)
    return encryptor.update(padded) + encryptor.finalize()


def sm4_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    if not ciphertext or len(ciphertext) % 16:
        raise NationalCryptoError("SM4 ciphertext is not a whole number of blocks")
    decryptor = Cipher(algorithms.SM4(key), modes.ECB()).decryptor()  # noqa: S305
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise NationalCryptoError("SM4 ciphertext does not decrypt with this key") from None


@dataclass(frozen=True)
class Sm2Key:
    """An SM2 key pair (``private`` empty: a public key only, for verifying)."""

    public: str
    private: str = ""
    curve: tuple[tuple[str, str], ...] = tuple(CURVE.items())

    @classmethod
    def generate(cls) -> Sm2Key:
        return cls.from_private(f"{secrets.randbelow(int(CURVE['n'], 16) - 2) + 1:064X}")

    @classmethod
    def from_private(cls, text: str, curve: dict[str, str] | None = None) -> Sm2Key:
        table = dict(curve or CURVE)
        hexdigits = text.strip()
        if len(hexdigits) != 64 or not _is_hex(hexdigits) or not 0 < int(hexdigits, 16) < int(table["n"], 16):
            raise NationalCryptoError("an SM2 private key is 64 hex digits below the curve's order")
        public = _signer(hexdigits, "", table)._kg(int(hexdigits, 16), table["g"]).upper()
        return cls(public=public, private=hexdigits.upper(), curve=tuple(table.items()))

    @classmethod
    def from_public(cls, text: str) -> Sm2Key:
        hexdigits = text.strip()
        if len(hexdigits) == 130 and hexdigits[:2] == "04":
            hexdigits = hexdigits[2:]
        if len(hexdigits) != 128 or not _is_hex(hexdigits):
            raise NationalCryptoError("an SM2 public key is 128 hex digits (x || y), optionally after 04")
        return cls(public=hexdigits.upper())

    def digest(self, message: bytes, user_id: bytes = DEFAULT_ID) -> bytes:
        """e = SM3(Z || M), Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)."""
        table = dict(self.curve)
        z = sm3(len(user_id * 8).to_bytes(2, "big") + user_id
                + bytes.fromhex(table["a"] + table["b"] + table["g"] + self.public))
        return sm3(z + message)

    def sign(self, message: bytes, user_id: bytes = DEFAULT_ID, *, k: str | None = None) -> str:
        """Hex r || s (128 digits). ``k``: the per-signature random (tests only: the standard's example)."""
        if not self.private:
            raise NationalCryptoError("signing needs the private key")
        table = dict(self.curve)
        nonce = k or f"{secrets.randbelow(int(table['n'], 16) - 2) + 1:064X}"
        return str(_signer(self.private, self.public, table).sign(self.digest(message, user_id), nonce)).upper()

    def verify(self, message: bytes, signature: str, user_id: bytes = DEFAULT_ID) -> bool:
        text = signature.strip()
        if len(text) != 128 or not _is_hex(text):
            return False
        return bool(_signer("", self.public, dict(self.curve)).verify(text.lower(), self.digest(message, user_id)))


def _signer(private: str, public: str, table: dict[str, str]):  # type: ignore[no-untyped-def]
    from gmssl import sm2

    signer = sm2.CryptSM2(private_key=private.lower(), public_key="", ecc_table=
                          {k: v.lower() if k == "g" else v for k, v in table.items()})
    # set after construction: gmssl 3.2's constructor drops a leading "04" with str.lstrip("04"), which
    # also eats any '0' and '4' digits x begins with (one key in eight would never verify)
    signer.public_key = public.lower()
    return signer


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)
