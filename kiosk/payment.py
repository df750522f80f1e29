"""The patient's own share (``psn_cash_pay``): payment orders, their states, payment codes.

The kiosk talks to the hospital's aggregated payment platform (聚合支付, what Chinese hospital kiosks
integrate) through the :class:`kiosk.ports.PaymentGateway` port: one order per visit, paid either by a
dynamic QR code the patient scans with WeChat or Alipay ("主扫") or by the patient's own payment code
shown to the kiosk's scanner ("被扫"), or at the bank-card terminal. Order and refund numbers are ours,
derived from the settlement's msgid (unique nationally) and written to the outbox before the provider
hears of them, so a restarted kiosk always knows what to ask about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kiosk.masking import mask_id

# Order states as every provider names them (WeChat Pay's trade_state; Alipay maps onto them)
NOT_PAID = "NOTPAY"
PAYING = "USERPAYING"  # the patient is confirming in the app (password, fingerprint)
PAID = "SUCCESS"
CLOSED = "CLOSED"  # closed by us, or cancelled by the patient in the app: nothing taken
REFUNDED = "REFUND"
STATES = frozenset({NOT_PAID, PAYING, PAID, CLOSED, REFUNDED})
UNKNOWN = "UNKNOWN"  # ours, not a provider's: the platform could not be asked (a wait goes on)

# Refund states: done, or PROCESSING (asked again with the same refund number)
REFUND_DONE = "SUCCESS"

# Payment codes (付款码): all digits; the first two tell the wallet (published by each provider)
_CODE_FORMATS = (
    ("wechat", re.compile(r"1[0-5]\d{16}")),  # WeChat Pay: 18 digits, 10-15
    ("alipay", re.compile(r"(2[5-9]|30)\d{14,22}")),  # Alipay: 16-24 digits, 25-30
    ("unionpay", re.compile(r"62\d{17}")),  # UnionPay QR: 19 digits, 62
)


def payment_code_wallet(text: str) -> str | None:
    """``wechat``, ``alipay`` or ``unionpay`` for a payment code, else None (scanner whitespace ignored)."""
    code = text.strip("\r\n\t ")
    for wallet, pattern in _CODE_FORMATS:
        if pattern.fullmatch(code):
            return wallet
    return None


def mask_code(code: str) -> str:
    """A payment code or a provider's transaction number for logs and slips: ``1387********4321``."""
    return mask_id(code, head=4, tail=4)


def order_number(settlement_msgid: str) -> str:
    """Our order number for the visit: ``P`` + the 2207 msgid (30 chars, unique nationally) = 31 chars,
    inside every provider's 32-character limit."""
    if not re.fullmatch(r"[A-Za-z0-9]{20,31}", settlement_msgid):
        raise ValueError("a settlement msgid has 20-31 letters or digits")
    return "P" + settlement_msgid


def refund_number(order_no: str) -> str:
    """One refund per order: ``R`` + the order number without its ``P``; resending it is idempotent."""
    return "R" + order_no[1:]


@dataclass(frozen=True)
class PaymentOrder:
    """An order the provider holds: our number, the amount, and the QR code the patient may scan."""

    order_no: str
    amount: Decimal
    qr_url: str = ""

    def __repr__(self) -> str:
        return f"PaymentOrder({self.order_no}, {self.amount})"


@dataclass(frozen=True)
class PaymentStatus:
    """What the provider says about an order."""

    order_no: str
    state: str
    amount: Decimal = Decimal("0.00")
    trade_no: str = ""  # the provider's transaction number (set once paid)
    method: str = ""  # wechat, alipay, unionpay, card
    detail: str = ""  # the provider's words, for staff

    def __repr__(self) -> str:
        return f"PaymentStatus({self.order_no}, {self.state}, {self.amount}, {mask_code(self.trade_no)})"


@dataclass(frozen=True)
class RefundStatus:
    refund_no: str
    state: str  # SUCCESS or PROCESSING
    amount: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class Payment:
    """Proof of the patient's payment, as printed on the receipt."""

    method: str
    amount: Decimal
    trade_no: str
    order_no: str = ""

    def __repr__(self) -> str:
        return f"Payment({self.method}, {self.amount}, {mask_code(self.trade_no)})"

    @property
    def masked_trade_no(self) -> str:
        return mask_code(self.trade_no)

    def public(self) -> dict[str, str]:
        """For the outbox result and the demo's JSON: no payment code, the trade number whole (staff)."""
        return {"method": self.method, "amount": f"{self.amount:.2f}", "trade_no": self.trade_no,
                "order_no": self.order_no}

    @classmethod
    def from_plan(cls, pay: Mapping[str, Any]) -> Payment | None:
        """The proof from a settlement plan's payment record (None until the order is known paid)."""
        if not pay.get("paid_amount"):
            return None
        return cls(method=str(pay.get("method", "")), amount=Decimal(str(pay["paid_amount"])),
                   trade_no=str(pay.get("trade_no", "")), order_no=str(pay.get("order_no", "")))

    @classmethod
    def from_public(cls, data: dict[str, str]) -> Payment:
        return cls(method=str(data["method"]), amount=Decimal(str(data["amount"])),
                   trade_no=str(data["trade_no"]), order_no=str(data.get("order_no", "")))


def amounts_agree(paid: Decimal, due: Decimal) -> bool:
    """To the cent: the paid amount and the settlement's ``psn_cash_pay``."""
    return paid.quantize(Decimal("0.01")) == due.quantize(Decimal("0.01"))
