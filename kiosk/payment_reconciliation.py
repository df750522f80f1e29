"""The day's payments against the day's settlements: what the payment platform's bill says was paid,
refunded or closed, against what the kiosk's outbox says was settled, refunded or cancelled.

Every payment without its settlement and every settlement without its payment is a finding for staff,
with both references (our order number, the outbox reference, the settlement id). Pure: the caller
reads the outbox and downloads the bill.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kiosk.payment import PAID, REFUNDED, PaymentStatus, amounts_agree

OPEN_ITEM_STATES = frozenset({"pending", "in_flight", "ambiguous", "needs_staff"})


@dataclass(frozen=True)
class KioskPayment:
    """One settlement plan with a payment, as the outbox holds it."""

    order_no: str
    reference: str
    item_state: str  # the outbox item's state
    payment_state: str  # open, paid, closed, refunded (the plan's record)
    amount: Decimal
    setl_id: str = ""  # set when the settlement is done

    @classmethod
    def from_item(cls, reference: str, state: str, plan: Mapping[str, Any], result: Mapping[str, Any] | None
                  ) -> KioskPayment | None:
        pay = plan.get("payment")
        if not isinstance(pay, Mapping):
            return None
        setlinfo = result.get("setlinfo") if isinstance(result, Mapping) else None
        return cls(order_no=str(pay["order_no"]), reference=reference, item_state=state,
                   payment_state=str(pay.get("state", "")), amount=Decimal(str(pay.get("paid_amount") or pay["amount"])),
                   setl_id=str(setlinfo.get("setl_id", "")) if isinstance(setlinfo, Mapping) else "")


@dataclass(frozen=True)
class Finding:
    kind: str  # paid_not_settled, settled_not_paid, amount_differs, unknown_order, settlement_pending
    order_no: str
    reference: str = ""
    setl_id: str = ""
    platform_state: str = ""
    detail: str = ""
    alert: bool = True  # False: still being resolved by the outbox, nothing for staff yet

    def line(self) -> str:
        refs = "  ".join(f"{k} {v}" for k, v in (("order", self.order_no), ("outbox", self.reference),
                                                   ("settlement", self.setl_id), ("platform", self.platform_state)) if v)
        return f"{'ALERT' if self.alert else 'open '} {self.kind:<18} {refs}  {self.detail}".rstrip()


def reconcile_payments(ours: Iterable[KioskPayment], bill: Iterable[PaymentStatus]) -> list[Finding]:
    kiosk = {p.order_no: p for p in ours}
    findings: list[Finding] = []
    seen: set[str] = set()
    for order in bill:
        seen.add(order.order_no)
        mine = kiosk.get(order.order_no)
        if order.state == PAID:
            findings += _paid(order, mine)
        elif mine is not None and mine.item_state == "done":
            what = "refunded" if order.state == REFUNDED else f"not paid ({order.state})"
            findings.append(Finding("settled_not_paid", order.order_no, mine.reference, mine.setl_id, order.state,
                                    f"settled, but the payment is {what}"))
    for mine in kiosk.values():
        if mine.order_no not in seen and mine.item_state == "done":
            findings.append(Finding("settled_not_paid", mine.order_no, mine.reference, mine.setl_id, "",
                                    "settled, but the platform's bill has no such order"))
    return findings


def _paid(order: PaymentStatus, mine: KioskPayment | None) -> list[Finding]:
    if mine is None:
        return [Finding("unknown_order", order.order_no, platform_state=order.state,
                        detail=f"paid {order.amount} for an order this kiosk never committed")]
    if mine.item_state == "done":
        if not amounts_agree(order.amount, mine.amount):
            return [Finding("amount_differs", order.order_no, mine.reference, mine.setl_id, order.state,
                            f"paid {order.amount}, settled against {mine.amount}")]
        return []
    if mine.item_state in OPEN_ITEM_STATES:
        return [Finding("settlement_pending", order.order_no, mine.reference, platform_state=order.state,
                        detail="paid; the outbox is still settling or refunding it", alert=False)]
    return [Finding("paid_not_settled", order.order_no, mine.reference, platform_state=order.state,
                    detail=f"paid {order.amount}, the visit ended {mine.item_state} and the money was not returned")]
