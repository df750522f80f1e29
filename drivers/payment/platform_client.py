"""The hospital's payment platform over HTTPS: every request signed with the merchant key, every answer
and notification checked against it (``signing.py``). Implements :class:`kiosk.ports.PaymentGateway`.

Error mapping: no connection, a timeout, an HTTP error, garbage or a wrong signature all mean the outcome
is unknown (PaymentUnknown: the caller queries again; an unsigned "paid" is never believed); a signed
business refusal is PaymentDeclined with the platform's code. Payment codes are never logged whole.
Threads: called on the payment and gateway worker lanes; requests' Session is shared behind a lock.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from decimal import Decimal
from typing import Any

import requests

from drivers.gateway.client import build_session
from drivers.payment.signing import signed, verify
from drivers.secret_file import read_secret
from kiosk.config import GatewayConfig, PaymentConfig
from kiosk.errors import PaymentDeclined, PaymentUnknown
from kiosk.payment import CLOSED, STATES, PaymentOrder, PaymentStatus, RefundStatus, mask_code

log = logging.getLogger(__name__)

# the platform's refusal codes, as short keys the payment screen translates
REASONS = {"NOTENOUGH": "balance", "AUTH_CODE_EXPIRE": "code_expired", "AUTH_CODE_INVALID": "code_invalid",
           "ORDERCLOSED": "order_closed", "ORDERPAID": "order_paid", "ORDERNOTEXIST": "no_order"}


def load_key(path: str) -> bytes:
    return read_secret(path, "payment.key_file", encoding="ascii", min_length=16).encode("ascii")


class PlatformPaymentGateway:
    def __init__(self, cfg: PaymentConfig, tls: GatewayConfig, key: bytes, base_url: str) -> None:
        self.description = f"payment platform {base_url}"
        self._cfg, self._key, self._base = cfg, key, base_url.rstrip("/")
        self._session = build_session(tls)
        self._timeout = (tls.connect_timeout_s, tls.read_timeout_s)
        self._lock = threading.Lock()
        self._seen_seq = 0

    def create(self, order_no: str, amount: Any, subject: str) -> PaymentOrder:
        answer = self._call("create", {"out_trade_no": order_no, "total_fee": f"{Decimal(amount):.2f}", "body": subject})
        return PaymentOrder(order_no, Decimal(amount), qr_url=answer.get("code_url", ""))

    def pay_with_code(self, order_no: str, amount: Any, auth_code: str) -> PaymentStatus:
        log.info("payment %s: charging payment code %s", order_no, mask_code(auth_code))
        return self._status(self._call("micropay", {"out_trade_no": order_no, "total_fee": f"{Decimal(amount):.2f}",
                                                    "auth_code": auth_code}))

    def query(self, order_no: str) -> PaymentStatus:
        try:
            return self._status(self._call("query", {"out_trade_no": order_no}))
        except PaymentDeclined as exc:
            if exc.reason == "no_order":  # never created: nothing can have been paid on it
                return PaymentStatus(order_no, CLOSED, detail="the platform holds no such order")
            raise

    def close(self, order_no: str) -> PaymentStatus:
        return self._status(self._call("close", {"out_trade_no": order_no}))

    def refund(self, order_no: str, refund_no: str, amount: Any) -> RefundStatus:
        answer = self._call("refund", {"out_trade_no": order_no, "out_refund_no": refund_no,
                                       "refund_fee": f"{Decimal(amount):.2f}"})
        return RefundStatus(refund_no, str(answer.get("refund_status", "")), Decimal(answer.get("refund_fee", "0")))

    def notifications(self) -> list[PaymentStatus]:
        answer = self._call("notifications", {"after": str(self._seen_seq)})
        out = []
        for item in _items(answer):
            self._seen_seq = max(self._seen_seq, int(item.pop("seq", 0)))
            if not verify(item, self._key):
                log.warning("payment notification with a wrong signature ignored (order %s)", item.get("out_trade_no"))
                continue
            out.append(self._status(item))
        return out

    def day_bill(self, day: str) -> list[PaymentStatus]:
        return [self._status(item) for item in _items(self._call("bill", {"bill_date": day}))]

    def close_session(self) -> None:
        self._session.close()

    # -- internals -------------------------------------------------------------------------------------

    def _call(self, op: str, fields: dict[str, str]) -> dict[str, Any]:
        body = signed({"mch_id": self._cfg.merchant_id, "nonce_str": secrets.token_hex(8), **fields}, self._key)
        try:
            with self._lock:
                response = self._session.post(f"{self._base}/pay/{op}", data=json.dumps(body).encode("utf-8"),
                                              timeout=self._timeout)
        except requests.RequestException as exc:
            raise PaymentUnknown(f"payment platform {op}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise PaymentUnknown(f"payment platform {op}: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise PaymentUnknown(f"payment platform {op}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise PaymentUnknown(f"payment platform {op}: the answer is not an object")
        if answer.get("return_code") != "SUCCESS":
            # refused at the door (our signature, our merchant number): a configuration matter for staff
            raise PaymentDeclined("platform", f"payment platform {op}: {answer.get('return_msg', 'refused')}")
        if not verify(answer, self._key):
            raise PaymentUnknown(f"payment platform {op}: the answer's signature is wrong: not believed")
        if answer.get("result_code") != "SUCCESS":
            code = str(answer.get("err_code", ""))
            raise PaymentDeclined(REASONS.get(code, "declined"), f"{code}: {answer.get('err_code_des', '')}")
        return answer

    @staticmethod
    def _status(answer: dict[str, Any]) -> PaymentStatus:
        state = str(answer.get("trade_state", ""))
        if state not in STATES:
            raise PaymentUnknown(f"payment platform: unknown order state {state!r}")
        try:
            amount = Decimal(str(answer.get("total_fee", "0")))
        except ArithmeticError:
            raise PaymentUnknown("payment platform: the amount is not a number") from None
        return PaymentStatus(str(answer.get("out_trade_no", "")), state, amount,
                             trade_no=str(answer.get("transaction_id", "")), method=str(answer.get("trade_type", "")))


def _items(answer: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        items = json.loads(answer.get("items", "[]"))
    except ValueError:
        raise PaymentUnknown("payment platform: the list is not JSON") from None
    return [dict(i) for i in items if isinstance(i, dict)]
