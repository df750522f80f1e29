"""The settlement sequence of an outpatient visit over the national interface.

Online: 1101 identifies; 2201 registers, 2204 uploads the fees and 2206 runs the
trial that the patient confirms; 2207 then goes through the outbox (committed,
msgid persisted) and is delivered at once. When the gateway cannot be reached
before anything was registered, the whole remaining sequence (2201, 2204, 2207)
is committed to the outbox as one ordered plan and the patient gets a
"queued, not yet settled" slip. Plans are executed by :func:`run_plan`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from kiosk.config import TerminalConfig
from kiosk.insurance import (
    MED_TYPE_CHRONIC,
    ChronicFiling,
    InsuranceRecord,
    Locality,
    benefit_verdict,
    classify,
    chronic_filings,
    paused_verdict,
)
from kiosk.domain import (
    OTHER_FUNDS,
    FeeItem,
    IdentityDocument,
    InsuredPerson,
    PreSettlement,
    QueuedSettlement,
    RefundedPayment,
    Settlement,
    SettlementAmounts,
)
from kiosk.errors import (
    BenefitRefused,
    GatewayBusinessError,
    GatewayError,
    GatewayNoAnswer,
    GatewayProtocolError,
    PaymentDeclined,
    PaymentUnknown,
    ReversalRefused,
)
from kiosk.interrupted_visit import InterruptedVisit, interrupted_visit
from kiosk.pre_audit import CANCELLED, AuditWarning, request_3101, request_3103, warnings_of
from kiosk.payment import Payment, PaymentOrder, PaymentStatus, order_number
from kiosk.ports import InsuranceGateway, MsgIdSource, Outbox, PaymentGateway

log = logging.getLogger(__name__)

PLAN_KIND = "settlement_plan"


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except Exception:  # noqa: BLE001 - any unparsable value is a protocol error
        raise GatewayProtocolError(f"field {name} is not a number: {value!r}") from None


def _field(mapping: Mapping[str, Any], name: str) -> Any:
    if not isinstance(mapping, Mapping) or name not in mapping or mapping[name] is None:
        raise GatewayProtocolError(f"answer lacks required field {name}")
    return mapping[name]


def _amounts(setlinfo: Mapping[str, Any]) -> SettlementAmounts:
    names = ("medfee_sumamt", "fund_pay_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay", "balc")
    others = tuple((n, _decimal(setlinfo[n], n)) for n in OTHER_FUNDS if setlinfo.get(n) not in (None, ""))
    return SettlementAmounts(**{n: _decimal(_field(setlinfo, n), n) for n in names}, other_funds=others)


def parse_person(output: Mapping[str, Any]) -> InsuredPerson:
    """1101's answer: base info and every insurance record. With one record it is in use; with several
    the first fills the fields until the patient chooses (``InsuredPerson.must_choose``)."""
    base = _field(output, "baseinfo")
    insuinfo = _field(output, "insuinfo")
    if not isinstance(insuinfo, list) or not insuinfo:
        raise GatewayProtocolError("1101 answer holds no insurance record")
    records = tuple(_record(insu) for insu in insuinfo)
    first = records[0]
    return InsuredPerson(
        psn_no=str(_field(base, "psn_no")),
        certno=str(_field(base, "certno")),
        name=str(_field(base, "psn_name")),
        gender=str(base.get("gend", "")),
        birth_date=str(base.get("brdy", "")),
        age=str(base.get("age", "")),
        insutype=first.insutype,
        balance=first.balance,
        insuplc_admdvs=first.insuplc_admdvs,
        emp_name=first.emp_name,
        records=records,
    )


def _record(insu: Any) -> InsuranceRecord:
    if not isinstance(insu, Mapping):
        raise GatewayProtocolError("1101 insuinfo record is not an object")
    admdvs = str(_field(insu, "insuplc_admdvs"))
    if len(admdvs) != 6 or not admdvs.isdigit():
        raise GatewayProtocolError(f"1101 insuplc_admdvs is not a division code: {admdvs!r}")
    return InsuranceRecord(insutype=str(_field(insu, "insutype")), balance=_decimal(_field(insu, "balc"), "balc"),
                           insuplc_admdvs=admdvs, psn_type=str(insu.get("psn_type") or ""),
                           emp_name=str(insu.get("emp_name") or ""),
                           paused_since=str(insu.get("paus_insu_date") or ""))


def parse_settlement(output: Mapping[str, Any], msgid: str) -> Settlement:
    setlinfo = _field(output, "setlinfo")
    paid = output.get("payment")
    return Settlement(
        setl_id=str(_field(setlinfo, "setl_id")),
        mdtrt_id=str(_field(setlinfo, "mdtrt_id")),
        msgid=msgid,
        setl_time=str(setlinfo.get("setl_time", "")),
        amounts=_amounts(setlinfo),
        payment=Payment.from_public(paid) if isinstance(paid, dict) else None,
    )


PAYMENT_GRACE_S = 30.0  # after the payment screen's time is up, before the outbox closes the order itself


def fees_total(fees: tuple[FeeItem, ...]) -> Decimal:
    return sum((f.amount for f in fees), Decimal("0.00"))


class SettlementService:
    """Runs on the gateway worker thread. Raises GatewayError subclasses."""

    def __init__(
        self,
        gateway: InsuranceGateway,
        outbox: Outbox,
        msgids: MsgIdSource,
        terminal: TerminalConfig,
        clock: Callable[[], dt.datetime],
        payments: PaymentGateway | None = None,
        payment_timeout_s: float = 120.0,
        payment_grace_s: float = PAYMENT_GRACE_S,
    ) -> None:
        self._payments, self._payment_timeout_s, self._grace_s = payments, payment_timeout_s, payment_grace_s
        self._gateway = gateway
        self._outbox = outbox
        self._msgids = msgids
        self._terminal = terminal
        self._clock = clock

    # -- steps -------------------------------------------------------------------------------------

    def identify(self, doc: IdentityDocument) -> InsuredPerson:
        data = {
            "mdtrt_cert_type": doc.cert_type.value,
            "mdtrt_cert_no": doc.cert_no,
            "card_sn": doc.card_sn,
            "begntime": self._now(),
            "psn_cert_type": "01" if doc.citizen_id else "",
            "certno": doc.citizen_id,
            "psn_name": doc.name,
        }
        output = self._gateway.call("1101", {"data": data}, msgid=self._msgids.next_msgid())
        return parse_person(output)

    def chronic_filings(self, person: InsuredPerson) -> tuple[ChronicFiling, ...]:
        """5301: the chronic and special diseases on file for the person, valid today."""
        output = self._gateway.call("5301", {"data": {"psn_no": person.psn_no}}, msgid=self._msgids.next_msgid(),
                                    insuplc_admdvs=person.insuplc_admdvs)
        return chronic_filings(output, self._clock().date())

    def cumulative(self, person: InsuredPerson, year: int) -> Mapping[str, Any]:
        """5206: the person's cumulative amounts this year (the insured region answers)."""
        return self._gateway.call("5206", {"data": {"psn_no": person.psn_no, "year": str(year)}},
                                  msgid=self._msgids.next_msgid(), insuplc_admdvs=person.insuplc_admdvs)

    def settlement_info(self, person: InsuredPerson, setl_id: str, mdtrt_id: str) -> Mapping[str, Any]:
        """5203: one settlement as the gateway's books hold it."""
        return self._gateway.call("5203", {"data": {"psn_no": person.psn_no, "setl_id": setl_id,
                                                    "mdtrt_id": mdtrt_id}},
                                  msgid=self._msgids.next_msgid(), insuplc_admdvs=person.insuplc_admdvs)

    def check_benefit(self, person: InsuredPerson) -> None:
        """2001 with the chosen record, before anything is registered: raises BenefitRefused when the
        record cannot be used for this visit. A pause that 1101 already shows refuses without asking.
        Unreachable gateway: GatewayUnreachable (the caller decides; nothing was registered)."""
        today = self._clock().date()
        verdict = paused_verdict(person.record, today)
        if verdict is None:
            data = {"psn_no": person.psn_no, "insutype": person.insutype, "med_type": person.med_type,
                    "begntime": self._now(), "fixmedins_code": self._terminal.fixmedins_code,
                    "dise_codg": person.dise_codg}
            output = self._gateway.call("2001", {"data": data}, msgid=self._msgids.next_msgid(),
                                        insuplc_admdvs=person.insuplc_admdvs)
            verdict = benefit_verdict(output, person.record, today)
        if not verdict.allowed:
            assert verdict.reason is not None
            raise BenefitRefused(verdict.reason.value, verdict.detail)

    def prepare(self, person: InsuredPerson, doc: IdentityDocument, fees: tuple[FeeItem, ...]) -> PreSettlement:
        """2201, 2204, 2206. A failure after 2201 cancels the registration (2202) before raising."""
        reg_msgid = self._msgids.next_msgid()
        reg = self._gateway.call("2201", self._registration(person, doc, reg_msgid), msgid=reg_msgid,
                                 insuplc_admdvs=person.insuplc_admdvs)
        mdtrt_id = str(_field(_field(reg, "data"), "mdtrt_id"))
        chrg_bchno = f"B{reg_msgid[-16:]}"
        try:
            if person.med_type == MED_TYPE_CHRONIC:
                self._gateway.call("2203", self._visit_info(person, mdtrt_id), msgid=self._msgids.next_msgid(),
                                   insuplc_admdvs=person.insuplc_admdvs)
            self._gateway.call("2204", self._fee_upload(person, fees, mdtrt_id, chrg_bchno),
                               msgid=self._msgids.next_msgid(), insuplc_admdvs=person.insuplc_admdvs)
            trial = self._gateway.call("2206", {"data": self._settle_data(person, doc, fees, mdtrt_id, chrg_bchno)},
                                       msgid=self._msgids.next_msgid(), insuplc_admdvs=person.insuplc_admdvs)
            amounts = _amounts(_field(trial, "setlinfo"))
            if not amounts.adds_up():  # the patient would confirm a split that is not the bill
                log.critical("STAFF: 2206 for %s returned funds %s that do not add up to medfee_sumamt %s; the "
                             "visit stops before settling", mdtrt_id, amounts.funds(), amounts.medfee_sumamt)
                raise GatewayProtocolError(f"2206 funds do not add up to medfee_sumamt {amounts.medfee_sumamt}")
            warnings = self._pre_audit(person, mdtrt_id, fees, chrg_bchno)
        except GatewayError:
            self._undo_registration(person, mdtrt_id, reg_msgid)
            raise
        return PreSettlement(mdtrt_id=mdtrt_id, chrg_bchno=chrg_bchno, amounts=amounts, warnings=warnings)

    def _pre_audit(self, person: InsuredPerson, mdtrt_id: str, fees: tuple[FeeItem, ...],
                   chrg_bchno: str) -> tuple[AuditWarning, ...]:
        """3101 before the patient confirms. Advisory: a refusal or a garbled answer is logged, not shown."""
        lines = self._fee_upload(person, fees, mdtrt_id, chrg_bchno)["feedetail"]
        locality = person.record.locality(self._terminal.mdtrtarea_admvs)
        try:
            output = self._gateway.call("3101", request_3101(person.psn_no, mdtrt_id, person.med_type, lines, locality),
                                        msgid=self._msgids.next_msgid(), insuplc_admdvs=person.insuplc_admdvs)
        except (GatewayBusinessError, GatewayProtocolError) as exc:
            log.warning("pre-audit (3101) not available for %s: %s", mdtrt_id, exc)
            return ()
        return warnings_of(output)

    def pre_audit_feedback(self, person: InsuredPerson, pre: PreSettlement, disposition: str) -> None:
        """3103: how the warnings were handled (the patient went on, or stopped). Best effort: logged."""
        if not pre.warnings:
            return
        try:
            self._gateway.call("3103", request_3103(pre.warnings, disposition), msgid=self._msgids.next_msgid(),
                               insuplc_admdvs=person.insuplc_admdvs)
        except GatewayError as exc:
            log.warning("pre-audit feedback (3103) for %s not sent: %s", pre.mdtrt_id, exc)

    def queue_settlement(self, visit_id: str, person: InsuredPerson, doc: IdentityDocument, pre: PreSettlement,
                         fees: tuple[FeeItem, ...]) -> tuple[str, str]:
        """Commit the 2207 of a confirmed trial to the outbox (msgid fixed now); returns (reference, msgid)."""
        data = self._settle_data(person, doc, fees, pre.mdtrt_id, pre.chrg_bchno)
        msgid = self._msgids.next_msgid()
        plan = self._plan(visit_id, person, fees, [("2207", msgid, {"data": data})])
        return self._outbox.enqueue(visit_id=visit_id, kind=PLAN_KIND, payload=plan, holds_visit=True), msgid

    def settle(self, visit_id: str, person: InsuredPerson, doc: IdentityDocument, pre: PreSettlement,
               fees: tuple[FeeItem, ...]) -> Settlement | QueuedSettlement:
        """2207 through the outbox: committed first, then delivered now."""
        reference, msgid = self.queue_settlement(visit_id, person, doc, pre, fees)
        delivery = self._outbox.deliver(reference)
        if delivery.state == "done" and delivery.result is not None:
            return parse_settlement(delivery.result, msgid)
        if delivery.state == "failed":
            raise GatewayBusinessError(delivery.error, infno="2207")
        log.warning("settlement %s not confirmed (%s): queued", reference, delivery.state)
        return QueuedSettlement(reference=reference, medfee_sumamt=fees_total(fees))

    # -- the own share -------------------------------------------------------------------------------

    def open_payment(self, visit_id: str, person: InsuredPerson, doc: IdentityDocument, pre: PreSettlement,
                     fees: tuple[FeeItem, ...]) -> tuple[str, PaymentOrder]:
        """Commit the settlement plan with its payment order (held until the payment's deadline), then
        create the order; returns (outbox reference, order with its QR code). Raises PaymentUnknown or
        PaymentDeclined when the order cannot be created (the outbox closes it after the deadline)."""
        if self._payments is None:
            raise PaymentDeclined("no_provider", "no payment provider is configured (payment.provider = none)")
        data = self._settle_data(person, doc, fees, pre.mdtrt_id, pre.chrg_bchno)
        msgid = self._msgids.next_msgid()
        plan = self._plan(visit_id, person, fees, [("2207", msgid, {"data": data})])
        deadline = self._clock().timestamp() + self._payment_timeout_s + self._grace_s
        amount = pre.amounts.psn_cash_pay
        plan["payment"] = {"order_no": order_number(msgid), "amount": str(amount), "state": "open",
                           "deadline": deadline}
        plan["undo"] = {"psn_no": person.psn_no, "mdtrt_id": pre.mdtrt_id, "chrg_bchno": pre.chrg_bchno}
        reference = self._outbox.enqueue(visit_id=visit_id, kind=PLAN_KIND, payload=plan, not_before=deadline,
                                         holds_visit=True)
        order = self._payments.create(plan["payment"]["order_no"], amount, self._terminal.fixmedins_name)
        return reference, order

    def pay_with_code(self, order: PaymentOrder, code: str) -> PaymentStatus:
        assert self._payments is not None
        return self._payments.pay_with_code(order.order_no, order.amount, code)

    def query_payment(self, order: PaymentOrder) -> PaymentStatus:
        """The order's state, as the provider says it now (PaymentUnknown propagates)."""
        assert self._payments is not None
        return self._payments.query(order.order_no)

    def payment_notified(self, order: PaymentOrder) -> bool:
        """Whether a notification about the order came since the last look: a hint to query, never the
        fact (a lost or late notification only delays the next query)."""
        assert self._payments is not None
        try:
            return any(note.order_no == order.order_no for note in self._payments.notifications())
        except PaymentUnknown:
            return False

    def settle_paid(self, reference: str) -> Settlement | QueuedSettlement | RefundedPayment:
        """Deliver the paid plan now: settled, still queued (the outbox completes it), or refunded."""
        delivery = self._outbox.deliver(reference)
        plan = self._outbox.payload(reference)
        pay = plan.get("payment", {})
        paid = Payment.from_plan(pay)
        if delivery.state == "done" and delivery.result is not None:
            return parse_settlement(delivery.result, _settlement_msgid(plan))
        if pay.get("state") == "refunded" and paid is not None:
            return RefundedPayment(paid.amount, pay.get("refund_reason", ""))
        if delivery.state in ("failed", "cancelled") and paid is None:
            raise GatewayBusinessError(delivery.error or "the payment was not completed", infno="2207")
        log.warning("paid settlement %s not confirmed (%s): queued", reference, delivery.state)
        return QueuedSettlement(reference=reference, medfee_sumamt=Decimal(plan["medfee_sumamt"]), paid=paid)

    def abandon_payment(self, reference: str, order: PaymentOrder | None) -> Settlement | QueuedSettlement | None:
        """The patient left the payment screen: close the order, then let the plan end (cancelled, nothing
        taken, registration undone). Returns the settlement when the payment had arrived after all."""
        if order is not None and self._payments is not None:
            try:
                self._payments.close(order.order_no)
            except (PaymentUnknown, PaymentDeclined) as exc:
                log.warning("order %s not closed now (%s): the outbox closes it after its deadline", order.order_no, exc)
        try:
            outcome = self.settle_paid(reference)
        except GatewayBusinessError:
            return None  # closed and undone: nothing taken, nothing settled
        return outcome if isinstance(outcome, Settlement) or (
            isinstance(outcome, QueuedSettlement) and outcome.paid is not None) else None

    def settle_offline(self, visit_id: str, person: InsuredPerson, doc: IdentityDocument,
                       fees: tuple[FeeItem, ...]) -> QueuedSettlement:
        """Commit the whole sequence for later delivery; msgids are fixed now, before any send."""
        reg_msgid = self._msgids.next_msgid()
        chrg_bchno = f"B{reg_msgid[-16:]}"
        steps = [
            ("2201", reg_msgid, self._registration(person, doc, reg_msgid)),
            *([("2203", self._msgids.next_msgid(), self._visit_info(person, "{mdtrt_id}"))]
              if person.med_type == MED_TYPE_CHRONIC else []),
            ("2204", self._msgids.next_msgid(), self._fee_upload(person, fees, "{mdtrt_id}", chrg_bchno)),
            ("2207", self._msgids.next_msgid(),
             {"data": self._settle_data(person, doc, fees, "{mdtrt_id}", chrg_bchno)}),
        ]
        reference = self._outbox.enqueue(visit_id=visit_id, kind=PLAN_KIND,
                                         payload=self._plan(visit_id, person, fees, steps), holds_visit=True)
        return QueuedSettlement(reference=reference, medfee_sumamt=fees_total(fees))

    def refund(self, reference_visit: str, psn_no: str, insuplc_admdvs: str, setl_id: str,
               mdtrt_id: str) -> str:
        """Staff refund (2208) through the outbox, with the same lost-answer handling as 2207.

        Returns the outbox reference; the delivery is attempted at once. Raises GatewayBusinessError
        when the gateway refuses the refund."""
        plan = {"visit_id": reference_visit, "insuplc_admdvs": insuplc_admdvs, "medfee_sumamt": "0",
                "steps": [{"infno": "2208", "msgid": self._msgids.next_msgid(), "output": None,
                           "input": {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}}}]}
        reference = self._outbox.enqueue(visit_id=reference_visit, kind=PLAN_KIND, payload=plan)
        delivery = self._outbox.deliver(reference)
        if delivery.state == "failed":
            raise GatewayBusinessError(delivery.error, infno="2208")
        return reference

    def visit_closed(self, visit_id: str) -> None:
        """The patient has seen how the visit ended: a restart no longer shows it."""
        self._outbox.visit_closed(visit_id)

    def interrupted_visit(self) -> InterruptedVisit | None:
        """The visit the kiosk stopped in the middle of, with how its settlement ended (from the outbox)."""
        found = self._outbox.interrupted_visit()
        if found is None:
            return None
        visit_id, reference = found
        state, result = self._outbox.item_state(reference)
        return interrupted_visit(visit_id, reference, state, result)

    def cancel(self, person: InsuredPerson, pre: PreSettlement) -> None:
        """The patient backed out after the trial: delete the fees (2205) and the registration (2202)."""
        self.pre_audit_feedback(person, pre, CANCELLED)
        self._gateway.call("2205", {"data": {"chrg_bchno": "0000", "mdtrt_id": pre.mdtrt_id, "psn_no": person.psn_no}},
                           msgid=self._msgids.next_msgid(), insuplc_admdvs=person.insuplc_admdvs)
        self._gateway.call("2202", {"data": {"psn_no": person.psn_no, "mdtrt_id": pre.mdtrt_id}},
                           msgid=self._msgids.next_msgid(), insuplc_admdvs=person.insuplc_admdvs)

    # -- message bodies ----------------------------------------------------------------------------

    def _now(self) -> str:
        return self._clock().strftime("%Y-%m-%d %H:%M:%S")

    def _registration(self, person: InsuredPerson, doc: IdentityDocument, msgid: str) -> dict[str, Any]:
        """2201. A registration with a doctor (the services menu's registration errand) names the department,
        its specialty code (caty), the doctor's national code and name."""
        visit = {"ipt_otp_no": f"MZ{msgid[-18:]}", "atddr_no": "", "dr_name": "", "dept_code": "", "dept_name": "",
                 "caty": ""}
        if person.doctor is not None:
            visit.update(person.doctor.visit_fields(visit["ipt_otp_no"]))
        return {"data": {
            "psn_no": person.psn_no, "insutype": person.insutype, "begntime": self._now(),
            "mdtrt_cert_type": doc.cert_type.value, "mdtrt_cert_no": doc.cert_no, **visit,
            "med_type": person.med_type, "dise_codg": person.dise_codg,
        }}

    def _visit_info(self, person: InsuredPerson, mdtrt_id: str) -> dict[str, Any]:
        """2203 for a chronic-disease visit: the medical type and the disease on file as the diagnosis."""
        return {"mdtrtinfo": {"mdtrt_id": mdtrt_id, "psn_no": person.psn_no, "med_type": person.med_type,
                              "begntime": self._now(), "dise_codg": person.dise_codg, "dise_name": person.dise_name},
                "diseinfo": [{"psn_no": person.psn_no, "diag_type": "1", "diag_srt_no": "1",
                              "diag_code": person.dise_codg, "diag_name": person.dise_name, "maindiag_flag": "1"}]}

    def _fee_upload(self, person: InsuredPerson, fees: tuple[FeeItem, ...], mdtrt_id: str,
                    chrg_bchno: str) -> dict[str, Any]:
        return {"feedetail": [{
            "feedetl_sn": f.feedetl_sn, "mdtrt_id": mdtrt_id, "psn_no": person.psn_no, "chrg_bchno": chrg_bchno,
            "med_type": person.med_type, "fee_ocur_time": self._now(), "med_list_codg": f.med_list_codg,
            "medins_list_codg": f.medins_list_codg, "det_item_fee_sumamt": f.amount, "cnt": f.quantity,
            "pric": f.price,
        } for f in fees]}

    def _settle_data(self, person: InsuredPerson, doc: IdentityDocument, fees: tuple[FeeItem, ...],
                     mdtrt_id: str, chrg_bchno: str) -> dict[str, Any]:
        return {
            "psn_no": person.psn_no, "mdtrt_cert_type": doc.cert_type.value, "mdtrt_cert_no": doc.cert_no,
            "med_type": person.med_type, "medfee_sumamt": fees_total(fees), "psn_setlway": "01",
            "mdtrt_id": mdtrt_id, "chrg_bchno": chrg_bchno, "acct_used_flag": "1", "insutype": person.insutype,
            "dise_codg": person.dise_codg,
        }

    def _plan(self, visit_id: str, person: InsuredPerson, fees: tuple[FeeItem, ...],
              steps: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
        return {
            "visit_id": visit_id,
            "insuplc_admdvs": person.insuplc_admdvs,
            "locality": classify(person.insuplc_admdvs, self._terminal.mdtrtarea_admvs).value,
            "medfee_sumamt": str(fees_total(fees)),
            "steps": [{"infno": i, "msgid": m, "input": body, "output": None} for i, m, body in steps],
        }

    def _undo_registration(self, person: InsuredPerson, mdtrt_id: str, reg_msgid: str) -> None:
        try:
            self._gateway.call("2202", {"data": {"psn_no": person.psn_no, "mdtrt_id": mdtrt_id}},
                               msgid=self._msgids.next_msgid(), insuplc_admdvs=person.insuplc_admdvs)
        except GatewayError as exc:  # left for daily reconciliation; the original error is what matters
            log.warning("could not cancel registration of %s: %s", reg_msgid, exc)


def _settlement_msgid(plan: Mapping[str, Any]) -> str:
    return next((str(step["msgid"]) for step in plan.get("steps", []) if step.get("infno") == "2207"), "")


def _substitute(value: Any, context: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in context:
        return context[value[1:-1]]
    if isinstance(value, dict):
        return {k: _substitute(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, context) for v in value]
    return value


REVERSIBLE = frozenset({"2207", "2208"})


def run_plan(plan: dict[str, Any], gateway: InsuranceGateway, save_progress: Callable[[dict[str, Any]], None],
             *, msgids: MsgIdSource, idempotent_replay: bool = False) -> Mapping[str, Any]:
    """Execute the plan's steps in order, skipping those already answered.

    Before a step is sent it is marked ``unanswered`` and saved; its answer is saved before the next step.
    A step found still ``unanswered`` (its answer was lost, or the kiosk died mid-send) is resolved first:
    a 2207/2208 is reversed with 2601 and then sent again under a new msgid, or, when 2601 finds nothing
    to reverse, sent again under its own msgid; when 2601 is refused for a cross-province plan (their
    reversals are limited in time, so the refusal is final) it raises ReversalRefused: staff look the
    settlement up and record it (kiosk.staff_resolution); with ``idempotent_replay`` (the gateway profile says a
    resend with the same msgid returns the original answer) it is simply resent. Other steps are resent
    with their own msgid. A msgid is never changed without a confirmed reversal. Raises GatewayError; a
    2601 without an answer leaves the step unresolved, to be tried again (and reconciled by staff).
    """
    context: dict[str, str] = {}
    output: Mapping[str, Any] = {}
    for step in plan["steps"]:
        if step["output"] is None:
            if step.get("unanswered") and step["infno"] in REVERSIBLE and not idempotent_replay:
                _reverse_unanswered(plan, step, gateway, save_progress, msgids)
            step["unanswered"] = True
            save_progress(plan)
            step["output"] = dict(gateway.call(step["infno"], _substitute(step["input"], context),
                                               msgid=step["msgid"], insuplc_admdvs=plan["insuplc_admdvs"]))
            step.pop("unanswered", None)
            save_progress(plan)
        output = step["output"]
        data = output.get("data") if isinstance(output, Mapping) else None
        if step["infno"] == "2201" and isinstance(data, Mapping) and "mdtrt_id" in data:
            context["mdtrt_id"] = str(data["mdtrt_id"])
    return output


def _reverse_unanswered(plan: dict[str, Any], step: dict[str, Any], gateway: InsuranceGateway,
                        save_progress: Callable[[dict[str, Any]], None], msgids: MsgIdSource) -> None:
    psn_no = _substitute(step["input"], {}).get("data", {}).get("psn_no", "")
    if not step.get("reversal_msgid"):
        step["reversal_msgid"] = msgids.next_msgid()  # persisted before the 2601 is sent
        save_progress(plan)
    try:
        gateway.call("2601", {"data": {"psn_no": psn_no, "omsgid": step["msgid"], "oinfno": step["infno"]}},
                     msgid=step["reversal_msgid"], insuplc_admdvs=plan["insuplc_admdvs"])
    except GatewayBusinessError as exc:
        if "not found" not in exc.err_msg:
            # the reversal was refused: whether the original went through is still unknown
            if plan.get("locality") == Locality.CROSS_PROVINCE.value:
                step["reversal_refused"] = exc.err_msg
                step.pop("reversal_msgid", None)
                save_progress(plan)
                raise ReversalRefused(f"2601 for cross-province {step['infno']} {step['msgid']} refused "
                                      f"({exc.err_msg}): handed to staff to look up with the insured region") from None
            raise GatewayNoAnswer(f"2601 for {step['msgid']} refused ({exc.err_msg}): outcome unknown, "
                                  "kept for another try or reconciliation") from None
        log.info("2601: %s %s never reached the gateway: resending it as it was", step["infno"], step["msgid"])
    else:
        log.warning("2601: reversed %s %s; settling again under a new msgid", step["infno"], step["msgid"])
        step.setdefault("reversed_msgids", []).append(step["msgid"])
        step["msgid"] = msgids.next_msgid()
    step.pop("reversal_msgid", None)
    step.pop("unanswered", None)
    save_progress(plan)
