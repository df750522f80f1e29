"""An outbox plan whose settlement (2207) waits on the patient's own share.

The plan is committed to the outbox before the payment order is created, with the order number, the
amount, a deadline and what to undo; each change of the payment's state is saved before the next step.
Delivering the plan (after a restart too) resolves, in this order:

- payment unknown: query the provider until it says; unpaid after the deadline: close the order, undo
  the registration (2205, 2202) and end ``cancelled`` (nothing taken, nothing settled);
- paid and not settled: settle (the paid order is the proof), resolving an unanswered 2207 first as
  :func:`kiosk.settlement.run_plan` does; a refund never happens while a settlement may exist;
- settlement refused for good, or settled for another own share than was paid (the 2207 split differs
  from the trial's): the settlement is undone (2208) where it exists, the payment refunded once (our
  refund number), and the item ends ``failed`` with the reason and the refund recorded.

Raises PaymentPending (try again later), PlanCancelled, or the GatewayError of the settlement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from kiosk.errors import GatewayBusinessError, GatewayError, PaymentDeclined, PaymentPending, PaymentUnknown, PlanCancelled
from kiosk.payment import CLOSED, NOT_PAID, PAID, PAYING, REFUND_DONE, REFUNDED, Payment, amounts_agree, refund_number
from kiosk.ports import InsuranceGateway, MsgIdSource, PaymentGateway
from kiosk.settlement import run_plan

log = logging.getLogger(__name__)

SaveProgress = Callable[[dict[str, Any]], None]


def run_paid_plan(plan: dict[str, Any], gateway: InsuranceGateway, payments: PaymentGateway, save: SaveProgress, *,
                  msgids: MsgIdSource, now: Callable[[], float], idempotent_replay: bool = False) -> Mapping[str, Any]:
    pay = plan.get("payment")
    if pay is None:
        return run_plan(plan, gateway, save, msgids=msgids, idempotent_replay=idempotent_replay)
    if pay["state"] == "open":
        _learn_payment(plan, payments, save, gateway, msgids, now)
    if pay["state"] == "closed":  # closed unpaid before a restart: finish the undoing, settle nothing
        _undo_registration(plan, gateway, msgids)
        raise PlanCancelled(f"payment {pay['order_no']} not completed: order closed, nothing taken")
    if pay["state"] == "refunded":
        raise GatewayBusinessError(pay.get("refund_reason", "refunded"), infno="2207")
    if pay.get("refund_reason"):
        return _undo_and_refund(plan, gateway, payments, save, msgids, idempotent_replay)
    try:
        output = run_plan(plan, gateway, save, msgids=msgids, idempotent_replay=idempotent_replay)
    except GatewayBusinessError as exc:  # refused for good: no settlement exists for this visit
        pay["refund_reason"] = f"settlement refused: {exc.err_msg}"
        save(plan)
        return _undo_and_refund(plan, gateway, payments, save, msgids, idempotent_replay)
    due = _cash_due(output)
    if due is None or not amounts_agree(Decimal(pay["paid_amount"]), due):
        pay["refund_reason"] = (f"the settlement's own share ({due}) differs from the amount paid "
                                f"({pay['paid_amount']}): settlement undone")
        _add_undo_step(plan, output, msgids)
        save(plan)
        return _undo_and_refund(plan, gateway, payments, save, msgids, idempotent_replay)
    proof = Payment.from_plan(pay)
    assert proof is not None  # the plan reached the settlement only once the order was known paid
    return {**output, "payment": proof.public()}


def _cash_due(output: Mapping[str, Any]) -> Decimal | None:
    setlinfo = output.get("setlinfo") if isinstance(output, Mapping) else None
    try:
        return Decimal(str(setlinfo["psn_cash_pay"]))  # type: ignore[index]
    except Exception:  # noqa: BLE001 - no readable amount is a disagreement, handled as one
        return None


def _learn_payment(plan: dict[str, Any], payments: PaymentGateway, save: SaveProgress, gateway: InsuranceGateway,
                   msgids: MsgIdSource, now: Callable[[], float]) -> None:
    pay = plan["payment"]
    order_no = pay["order_no"]
    try:
        status = payments.query(order_no)
        if status.state in (NOT_PAID, PAYING):
            if now() < float(pay["deadline"]):
                raise PaymentPending(f"order {order_no}: {status.state}, the patient may still pay")
            status = payments.close(order_no)  # past the deadline: nothing more can be paid on it
    except PaymentUnknown as exc:
        raise PaymentPending(f"order {order_no}: state unknown ({exc}); asking again later") from None
    if status.state == PAID:
        pay.update(state="paid", paid_amount=str(status.amount), trade_no=status.trade_no, method=status.method)
        save(plan)
        return
    if status.state == REFUNDED:  # refunded by staff at the provider: nothing may be settled against it
        pay.update(state="refunded", refund_reason=pay.get("refund_reason") or "refunded at the provider")
        save(plan)
        raise GatewayBusinessError(pay["refund_reason"], infno="2207")
    if status.state != CLOSED:
        raise PaymentPending(f"order {order_no}: still {status.state} after closing; asking again later")
    pay["state"] = "closed"
    save(plan)
    _undo_registration(plan, gateway, msgids)
    raise PlanCancelled(f"payment {order_no} not completed: order closed, nothing taken, registration undone")


def _add_undo_step(plan: dict[str, Any], output: Mapping[str, Any], msgids: MsgIdSource) -> None:
    setlinfo = output.get("setlinfo") or {}
    undo = plan.get("undo", {})
    plan["steps"].append({"infno": "2208", "msgid": msgids.next_msgid(), "output": None, "input": {"data": {
        "setl_id": str(setlinfo.get("setl_id", "")), "mdtrt_id": str(setlinfo.get("mdtrt_id", undo.get("mdtrt_id", ""))),
        "psn_no": undo.get("psn_no", "")}}})


def _undo_and_refund(plan: dict[str, Any], gateway: InsuranceGateway, payments: PaymentGateway, save: SaveProgress,
                     msgids: MsgIdSource, idempotent_replay: bool) -> Mapping[str, Any]:
    """Finish a 2208 that undoes a settlement (if the plan holds one), then refund; ends ``failed``."""
    pay = plan["payment"]
    if plan["steps"][-1]["infno"] == "2208" and plan["steps"][-1]["output"] is None:
        run_plan(plan, gateway, save, msgids=msgids, idempotent_replay=idempotent_replay)
    refund_no = pay.get("refund_no")
    if not refund_no:
        pay["refund_no"] = refund_no = refund_number(pay["order_no"])
        save(plan)  # the refund number is on disk before the provider hears of it
    try:
        result = payments.refund(pay["order_no"], refund_no, Decimal(pay["paid_amount"]))
    except PaymentUnknown as exc:
        raise PaymentPending(f"refund {refund_no}: outcome unknown ({exc}); asking again later") from None
    except PaymentDeclined as exc:
        raise PaymentPending(f"refund {refund_no} refused ({exc.message}); trying again later") from None
    if result.state != REFUND_DONE:
        raise PaymentPending(f"refund {refund_no}: {result.state}")
    pay["state"] = "refunded"
    save(plan)
    log.warning("payment %s refunded (%s): %s", pay["order_no"], pay["paid_amount"], pay["refund_reason"])
    _undo_registration(plan, gateway, msgids)
    raise GatewayBusinessError(pay["refund_reason"], infno="2207")


def _undo_registration(plan: Mapping[str, Any], gateway: InsuranceGateway, msgids: MsgIdSource) -> None:
    """2205 and 2202 for a visit that will not be settled; best effort (daily reconciliation finds the rest)."""
    undo = plan.get("undo")
    if not undo:
        return
    for infno, data in (("2205", {"chrg_bchno": undo.get("chrg_bchno", ""), "mdtrt_id": undo["mdtrt_id"],
                                  "psn_no": undo["psn_no"]}),
                        ("2202", {"psn_no": undo["psn_no"], "mdtrt_id": undo["mdtrt_id"]})):
        try:
            gateway.call(infno, {"data": data}, msgid=msgids.next_msgid(), insuplc_admdvs=plan["insuplc_admdvs"])
        except GatewayError as exc:
            log.warning("could not undo registration %s (%s): %s", undo["mdtrt_id"], infno, exc)
