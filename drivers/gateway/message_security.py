"""Gateway profile ``sm``: the envelope's ``input`` encrypted with SM4, the request signed with SM2 over
SM3, the answer's ``output`` encrypted and the answer signed by the gateway (PROTOCOL.md section 9).

On the wire (both directions, the rest of the envelope as section 1 has it):

* ``input`` (request) / ``output`` (answer): base64 of SM4-ECB(PKCS#7) of the node's compact JSON;
* ``enctype`` ``"SM4"``, ``signtype`` ``"SM2"``;
* ``cainfo``: hex r || s of the SM2 signature (identity ``1234567812345678``) over the canonical text
  of the whole message without ``cainfo`` (JSON, keys sorted, no spaces, UTF-8), so the ciphertext and
  every envelope field (msgid, infno, inf_time, ...) are covered.

The institution holds one SM4 key (shared with the gateway) and its SM2 private key (the gateway has
the public half); it verifies answers with the gateway's public key. A request that does not verify or
decrypt is refused by the gateway before the interface sees it (:class:`SmGatewaySide`, used by the
sandbox); an answer that does not verify is not believed (:class:`SmProfile.open_answer` raises), and
after a settlement request that is an ambiguous outcome, never a success.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drivers.gateway.national_crypto import NationalCryptoError, Sm2Key, sm4_decrypt, sm4_encrypt

# the gateway's refusals of a request under this profile (HTTP 401, {"code", "message"}), and what the
# kiosk calls each (kiosk/errors.GatewayAccessRefused.reason)
REFUSALS = {"SM-411": "message_signature", "SM-412": "message_key"}


class MessageSecurityError(ValueError):
    """A message that is not signed, does not verify, or does not decrypt."""


class SignatureError(MessageSecurityError):
    """Not signed, or signed by another key."""


def canonical(message: Mapping[str, Any]) -> bytes:
    """The signed text: the message without ``cainfo``, JSON with sorted keys and no spaces."""
    return json.dumps({k: v for k, v in message.items() if k != "cainfo"}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _seal(message: Mapping[str, Any], node: str, key: bytes, signer: Sm2Key) -> dict[str, Any]:
    """The message with ``node`` encrypted (when it has one) and the whole signed."""
    sealed = dict(message)
    if node in message:
        plain = json.dumps(message[node], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        sealed[node] = base64.b64encode(sm4_encrypt(key, plain)).decode("ascii")
        sealed["enctype"] = "SM4"
    sealed["signtype"] = "SM2"
    sealed["cainfo"] = signer.sign(canonical(sealed))
    return sealed


def _open(message: Mapping[str, Any], node: str, key: bytes, peer: Sm2Key, who: str, *,
          required: bool) -> dict[str, Any]:
    """The message verified against ``peer`` (named ``who`` in the errors) and with ``node`` decrypted. A
    message without ``node`` passes when it is not ``required`` (a refusal outside the envelope), but only
    signed: an unsigned "failure" could be forged as easily as a success. Raises SignatureError, or
    MessageSecurityError."""
    signature = message.get("cainfo")
    if message.get("signtype") != "SM2" or not isinstance(signature, str) or not signature:
        raise SignatureError(f"not signed by the {who} (signtype SM2 and cainfo expected)")
    if not peer.verify(canonical(message), signature):
        raise SignatureError(f"the {who}'s SM2 signature does not verify")
    opened = {k: v for k, v in message.items() if k not in ("cainfo", "enctype", "signtype")}
    if node not in message and not required:
        return opened
    sealed = message.get(node)
    if message.get("enctype") != "SM4" or not isinstance(sealed, str):
        raise MessageSecurityError(f"{node} is not SM4-encrypted")
    try:
        plain = sm4_decrypt(key, base64.b64decode(sealed, validate=True))
        opened[node] = json.loads(plain.decode("utf-8"))
    except (binascii.Error, NationalCryptoError, UnicodeDecodeError, ValueError) as exc:
        raise MessageSecurityError(f"{node} does not decrypt ({exc})") from None
    return opened


@dataclass(frozen=True)
class SmProfile:
    """The institution's side: seals requests, opens answers."""

    sm4_key: bytes
    own: Sm2Key  # the institution's key pair (private half signs)
    gateway: Sm2Key  # the gateway's public key (verifies answers)

    def seal_request(self, envelope: Mapping[str, Any]) -> dict[str, Any]:
        return _seal(envelope, "input", self.sm4_key, self.own)

    def open_answer(self, answer: Mapping[str, Any]) -> dict[str, Any]:
        """The answer with ``output`` in clear; raises MessageSecurityError when it is not the gateway's
        (a plain refusal without ``output`` has to carry the gateway's signature too)."""
        return _open(answer, "output", self.sm4_key, self.gateway, "gateway", required=False)


@dataclass(frozen=True)
class SmGatewaySide:
    """The gateway's side (the sandbox, tests): opens requests, seals answers."""

    sm4_key: bytes
    own: Sm2Key  # the gateway's key pair
    institution: Sm2Key  # the institution's registered public key

    def open_request(self, envelope: Mapping[str, Any]) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
        """(the request in clear, None) or (None, (code, message)) as the gateway refuses it."""
        try:
            return _open(envelope, "input", self.sm4_key, self.institution, "institution", required=True), None
        except SignatureError:
            return None, ("SM-411", "request signature does not verify")
        except MessageSecurityError as exc:
            return None, ("SM-412", str(exc))

    def seal_answer(self, answer: Mapping[str, Any]) -> dict[str, Any]:
        return _seal(answer, "output", self.sm4_key, self.own)
