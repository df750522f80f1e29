"""The electronic-voucher platform over HTTP(S) (PROTOCOL.md sections 3 and 10).

- ``resolve``: a scanned voucher code -> holder and ecToken (``gateway.voucher_url``).
- Face swipe: ``cn.nhsa.ec.auth`` (a live face crop and the ID number typed -> authNo), then
  ``cn.nhsa.auth.check`` (authNo -> ecToken, idNo, insuOrg).
- ``cn.nhsa.ec.password``: the voucher password for a payment above the limit.
- ``cn.nhsa.ec.family``: a family member's voucher code authorises for a person with no usable photo.

The methods live under ``voucher.platform_url`` (default: the gateway's origin + /voucher). The face crop is
JPEG-encoded in memory and sent; the crop, the JPEG and our copy of the request are zeroed after sending (the
immutable copy the HTTP library sends from is released, not zeroable in Python). Neither the face, the
password, the voucher code nor the whole ID number is ever logged.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import cv2
import numpy as np

from kiosk.config import GatewayConfig, TerminalConfig
from kiosk.domain import ResolvedVoucher
from kiosk.errors import FaceAuthRefused, FamilyAuthRefused, GatewayProtocolError, VoucherPasswordRefused
from kiosk.masking import mask_id, mask_name, mask_token
from kiosk.ports import Frame
from kiosk.voucher import VoucherRefused

from drivers.gateway.client import access_headers, build_session, gateway_origin, post
from drivers.gateway.envelope import dumps, loads

log = logging.getLogger(__name__)

FACE_REASONS = frozenset({"mismatch", "locked", "no_photo", "rate_limited", "unknown_person", "liveness_required"})
FAMILY_REASONS = frozenset({"not_bound", "unknown_person", "expired", "unknown"})


class HttpVoucherPlatform:
    def __init__(self, cfg: GatewayConfig, terminal: TerminalConfig, platform_url: str = "") -> None:
        self._url = cfg.voucher_url or f"{gateway_origin(cfg)}/voucher/resolve"
        self._base = (platform_url or f"{gateway_origin(cfg)}/voucher").rstrip("/")
        self._terminal = terminal
        self._session = build_session(cfg)
        self._access = access_headers(cfg)
        self._timeout = (cfg.connect_timeout_s, cfg.read_timeout_s)

    def _device(self) -> dict[str, str]:
        return {"deviceType": "self_service", "deviceNo": self._terminal.terminal_no,
                "orgCode": self._terminal.fixmedins_code}

    def _answer(self, raw: bytes, what: str) -> dict[str, Any]:
        try:
            answer = loads(raw)
        except ValueError:
            raise GatewayProtocolError(f"{what}: answer is not JSON") from None
        if not isinstance(answer, dict):
            raise GatewayProtocolError(f"{what}: answer is not an object")
        return answer

    def _call(self, method: str, body: bytes) -> dict[str, Any]:
        return self._answer(post(self._session, f"{self._base}/{method}", body, self._timeout, method,
                                 self._access()), method)

    def resolve(self, payload: str) -> ResolvedVoucher:
        body = dumps({"qrCode": payload, **self._device()})
        answer = self._answer(post(self._session, self._url, body, self._timeout, "voucher", self._access()),
                              "voucher platform")
        code = str(answer.get("code", ""))
        if code in ("expired", "unknown"):
            log.info("voucher %s: %s", mask_token(payload), code)
            raise VoucherRefused(code, f"the voucher code is {code}: refresh it in the app and show it again")
        return self._holder(answer, "voucher platform")

    def face_auth(self, id_no: str, face: Frame, *, liveness: str) -> str:
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(np.asarray(face), cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise GatewayProtocolError("cn.nhsa.ec.auth: the face could not be encoded")
        head = dumps({"idNo": id_no, "idType": "01", "liveness": liveness, **self._device()})
        body = bytearray(head[:-1] + b',"faceImage":"')
        body += base64.b64encode(jpeg.tobytes())
        body += b'"}'
        jpeg.fill(0)
        try:
            answer = self._call("cn.nhsa.ec.auth", bytes(body))
        finally:
            body[:] = bytes(len(body))
        code = str(answer.get("code", ""))
        if code in FACE_REASONS:
            log.info("face swipe for %s refused by the platform: %s", mask_id(id_no), code)
            retry = answer.get("retryAfter", 0)
            raise FaceAuthRefused(code, f"the voucher platform refused the face: {code}",
                                  retry_after_s=int(retry) if isinstance(retry, (int, float)) else 0)
        data = answer.get("data")
        auth_no = data.get("authNo") if code == "0" and isinstance(data, dict) else None
        if not isinstance(auth_no, str) or not 1 <= len(auth_no) <= 64 or not auth_no.isprintable():
            raise GatewayProtocolError(f"cn.nhsa.ec.auth: unexpected answer (code {code[:20]!r})")
        return auth_no

    def check(self, auth_no: str) -> ResolvedVoucher:
        answer = self._call("cn.nhsa.auth.check", dumps({"authNo": auth_no, **self._device()}))
        return self._holder(answer, "cn.nhsa.auth.check")

    def verify_password(self, ec_token: str, password: str, amount: str) -> None:
        body = bytearray(dumps({"ecToken": ec_token, "password": password, "amount": amount, **self._device()}))
        try:
            answer = self._call("cn.nhsa.ec.password", bytes(body))
        finally:
            body[:] = bytes(len(body))
        code = str(answer.get("code", ""))
        if code == "0":
            return
        if code in ("wrong_password", "password_locked"):
            remaining = answer.get("remaining", 0)
            raise VoucherPasswordRefused(f"voucher password refused: {code}",
                                         remaining=int(remaining) if isinstance(remaining, int) else 0,
                                         locked=code == "password_locked")
        raise GatewayProtocolError(f"cn.nhsa.ec.password: unexpected answer (code {code[:20]!r})")

    def family_auth(self, id_no: str, member_payload: str) -> ResolvedVoucher:
        answer = self._call("cn.nhsa.ec.family", dumps({"idNo": id_no, "qrCode": member_payload, **self._device()}))
        code = str(answer.get("code", ""))
        if code in FAMILY_REASONS:
            log.info("family authorisation for %s refused: %s", mask_id(id_no), code)
            raise FamilyAuthRefused(code, f"the voucher platform refused the family authorisation: {code}")
        holder = self._holder(answer, "cn.nhsa.ec.family")
        data = answer["data"]
        member = data.get("authorisedBy") if isinstance(data, dict) else None
        if not isinstance(member, str) or not 1 <= len(member) <= 32:
            raise GatewayProtocolError("cn.nhsa.ec.family: the answer does not name the authorising member")
        return ResolvedVoucher(holder.id_no, holder.id_type, holder.name, holder.ec_token, holder.insu_org,
                               authorised_by=mask_name(member))

    @staticmethod
    def _holder(answer: dict[str, Any], what: str) -> ResolvedVoucher:
        code = str(answer.get("code", ""))
        data = answer.get("data")
        if code != "0" or not isinstance(data, dict):
            raise GatewayProtocolError(f"{what} refused: code {code[:20]!r}")
        try:
            fields = {k: str(data[k]) for k in ("idNo", "idType", "userName", "ecToken", "insuOrg")}
        except KeyError as exc:
            raise GatewayProtocolError(f"{what}: answer lacks {exc}") from None
        if not (1 <= len(fields["ecToken"]) <= 64 and fields["ecToken"].isprintable() and len(fields["idNo"]) <= 32):
            raise GatewayProtocolError(f"{what}: answer malformed")
        return ResolvedVoucher(fields["idNo"], fields["idType"], fields["userName"], fields["ecToken"],
                               fields["insuOrg"])

    def probe(self) -> str:
        """The platform's answer code to an authNo that cannot exist (selftest: reached, and answering in its
        format). Raises a GatewayError when it cannot be reached or does not answer a JSON object."""
        return str(self._call("cn.nhsa.auth.check", dumps({"authNo": "AUTH-SELFTEST", **self._device()}))
                   .get("code", ""))

    def close(self) -> None:
        self._session.close()
