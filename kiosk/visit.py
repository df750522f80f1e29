"""The patient visit as a pure, typed state machine.

``VisitMachine.handle(event)`` moves to the next state and returns the effects
to run. Effects are carried out by :class:`kiosk.visit_effects.EffectRunner` on
worker threads; each result comes back as another event tagged with the
``visit_id`` it was started for, so a late answer from an abandoned visit is
ignored instead of leaking into the next patient's.

    IDLE -> IDENTIFYING -> CONSENT -> FACE_VERIFY [-> CHOOSE_INSURANCE] -> SERVICES [-> CHOOSE_VISIT_TYPE]
         -> FEE_REVIEW
         -> PREPARING -> CONFIRM [-> PAYING] -> SETTLING -> RECEIPT -> IDLE

Face swipe (PROTOCOL.md section 10), for a patient with neither card nor phone:

    IDLE -> CONSENT -> ENTER_ID -> FACE_VERIFY (the platform identifies) [-> FAMILY_ACCOUNT] -> SERVICES ...

The services menu's errands: SERVICES -> ERRAND (an answer; the invoice list) [-> INVOICE] (kiosk/errands.py,
kiosk/visit_invoices.py); registration: SERVICES -> REG_DEPARTMENT -> REG_DOCTOR -> FEE_REVIEW -> ... -> RECEIPT
(kiosk/visit_registration.py).

and a voucher visit above ``password_limit`` asks for the voucher password: CONFIRM -> VOUCHER_PASSWORD.

CHOOSE_INSURANCE: a person with several insurance records (employee and resident, two regions) picks the
one to use; the first is never taken silently. CHOOSE_VISIT_TYPE: a person with a chronic or special
disease on file (5301) says whether this visit is for it (chronic med_type and disease code in every step). The benefit check (2001) runs with the fees' loading and
can end the visit before anything is registered (a paused insurance, a cross-province patient not filed).
PAYING collects the patient's own share (``psn_cash_pay`` > 0) before 2207: the
order is committed with the settlement plan, the patient scans the QR code or
shows a payment code; paid -> SETTLING. Any state but SETTLING can be left by
Cancel, IdleTimeout or CardRemoved: a privacy reset that wipes the visit (and
cancels a registration already made, or closes an open payment order and lets
its plan undo the registration). Once 2207 is under way nothing interrupts it;
its outcome is always shown.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from kiosk.domain import CertType, VisitContext
from kiosk.payment import CLOSED, PAID, PAYING, payment_code_wallet
from kiosk.voucher import VoucherRefused, validate_voucher
from kiosk.visit_messages import (  # noqa: F401 - re-exported: callers use visit.<Event>
    State,
    Event,
    CardInserted,
    CardRemoved,
    VoucherScanned,
    CardRead,
    Identified,
    ConsentGiven,
    ConsentDeclined,
    FaceChecked,
    InsuranceChosen,
    PayFeesChosen,
    FeesLoaded,
    ChronicFilingsFound,
    VisitTypeChosen,
    FeesConfirmed,
    Prepared,
    SettlementConfirmed,
    PaymentOpened,
    PaymentUpdate,
    PaymentCodeRefused,
    PaymentTimeout,
    Refunded,
    Settled,
    Queued,
    GatewayDown,
    Failed,
    ReceiptPrinted,
    PrinterChecked,
    ReprintRequested,
    Cancel,
    IdleTimeout,
    Finish,
    InterruptedVisitFound,
    FaceSwipeChosen,
    IdNumberEntered,
    FaceIdentified,
    FaceAuthFailed,
    FamilyAuthFailed,
    PasswordEntered,
    PasswordChecked,
    ErrandChosen,
    ErrandShown,
    ErrandFailed,
    BackToServices,
    CopyRequested,
    InvoiceChosen,
    InvoiceOpened,
    InvoicePrintRequested,
    InvoiceToPhone,
    InvoicePrinted,
    InvoiceFailed,
    DepartmentsShown,
    DepartmentChosen,
    SlotsShown,
    SlotChosen,
    SlotLocked,
    RegistrationConfirmed,
    RegistrationFailed,
    Effect,
    ReadCard,
    ResolveVoucher,
    Identify,
    VerifyFace,
    LoadFees,
    Prepare,
    Settle,
    OpenPayment,
    AwaitInterruptedOutcome,
    AwaitPayment,
    PayWithCode,
    SettlePaid,
    AbandonPayment,
    SettleOffline,
    CancelPrepared,
    CheckPrinter,
    PrintReceipt,
    VisitEnded,
    WipeSecrets,
    IdentifyByFace,
    AuthoriseByFamily,
    CheckVoucherPassword,
    ShowErrand,
    PrintCopy,
    OpenInvoice,
    PrintInvoice,
    ListDepartments,
    ListSlots,
    LockSlot,
    ReleaseSlot,
    ConfirmRegistration,
)
from kiosk.visit_invoices import InvoiceTransitions
from kiosk.visit_registration import RegistrationTransitions
from kiosk.visit_side import SideTransitions
from kiosk.visit_outcome import visit_errand, visit_outcome


INTERRUPTIBLE = frozenset(State) - {State.IDLE, State.SETTLING}


@dataclass
class VisitMachine(SideTransitions, InvoiceTransitions, RegistrationTransitions):
    """One kiosk's visit flow. Not thread-safe: drive it from one thread (the GUI thread)."""

    max_face_attempts: int = 3
    password_limit: Decimal | None = None  # voucher visits above this total ask for the voucher password
    max_password_tries: int = 3
    state: State = State.IDLE
    ctx: VisitContext = field(default_factory=VisitContext)
    visit_id: str = ""
    history: list[State] = field(default_factory=list)
    id_prefix: str = "v"  # the composition root makes it unique per start: outbox items are grouped by visit id
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    def handle(self, event: Event) -> list[Effect]:
        """Apply one event; returns the effects to run (possibly none)."""
        if event.visit_id and event.visit_id != self.visit_id:
            return []  # a late result from an abandoned visit
        if isinstance(event, (Cancel, IdleTimeout, CardRemoved)):
            return self._interrupt(event)
        handler = _HANDLERS.get((self.state, type(event)))
        if handler is None:
            if isinstance(event, Failed):
                return self._fail(event)
            return []  # not meaningful here (e.g. a double tap): ignored
        return handler(self, event)

    # -- helpers ----------------------------------------------------------------------------------

    def _go(self, state: State) -> None:
        self.state = state
        self.history.append(state)

    def _begin_visit(self) -> None:
        """A new visit id and a clean context, identifying (by card or by voucher)."""
        self.visit_id = f"{self.id_prefix}{next(self._counter)}"
        self.ctx.wipe()
        self.history = [State.IDLE]
        self._go(State.IDENTIFYING)

    def _start(self) -> list[Effect]:
        self._begin_visit()
        return [ReadCard(self.visit_id)]

    def _reset(self) -> list[Effect]:
        effects: list[Effect] = self._release_payment() + self._slot_release()
        pre, person = self.ctx.pre_settlement, self.ctx.person
        unsettled = self.ctx.settlement is None and self.ctx.queued is None
        if pre is not None and person is not None and unsettled and not self.ctx.payment_reference:
            effects.append(CancelPrepared(self.visit_id, person, pre))
        if self.visit_id:
            effects.append(VisitEnded(self.visit_id, visit_outcome(self.ctx), visit_errand(self.ctx)))
        effects.append(WipeSecrets(self.visit_id))
        self.ctx.wipe()
        self.visit_id = ""
        self._go(State.IDLE)
        return effects

    def _release_payment(self) -> list[Effect]:
        """An open payment order is closed once (its plan undoes the registration)."""
        ctx = self.ctx
        if not ctx.payment_reference or ctx.extra.get("payment_released") or ctx.settlement or ctx.queued \
                or ctx.refunded:
            return []
        ctx.extra["payment_released"] = "1"
        return [AbandonPayment(self.visit_id, ctx.payment_reference, ctx.payment_order)]

    def _interrupt(self, event: Event) -> list[Effect]:
        if self.state == State.SETTLING:
            return []  # 2207 is under way: its outcome is still shown and printed, then the visit ends
        if self.state == State.RECEIPT and isinstance(event, CardRemoved):
            return []  # taking the card back is what we ask for on the receipt screen
        if self.state in INTERRUPTIBLE:
            return self._reset()
        return []

    def _fail(self, event: Failed) -> list[Effect]:
        self.ctx.error_code, self.ctx.error_message = event.code, event.message
        self.ctx.extra["error_detail"] = event.detail
        self._go(State.ERROR)
        return []

    # -- transitions -------------------------------------------------------------------------------

    def _on_start(self, _: Event) -> list[Effect]:
        return self._start()

    def _on_voucher(self, e: VoucherScanned) -> list[Effect]:
        try:
            token = validate_voucher(e.payload)
        except VoucherRefused as refused:
            # the wrong code held up at the idle screen (a payment code, a web link): no visit begins, no trip to
            # the counter; the idle screen says what to show instead, until the next visit starts
            self.ctx.extra["idle_hint"] = f"voucher.{refused.reason}"
            return []
        self._begin_visit()
        return [ResolveVoucher(self.visit_id, token)]

    def _on_card_read(self, e: CardRead) -> list[Effect]:
        assert e.identity is not None
        return [Identify(self.visit_id, e.identity)]

    def _on_identified(self, e: Identified) -> list[Effect]:
        self.ctx.person, self.ctx.document = e.person, e.document
        self._go(State.CONSENT)
        return []

    def _on_consent(self, _: ConsentGiven) -> list[Effect]:
        if self.ctx.extra.get("identified_by") == "face":  # face swipe: the ID number next, then the camera
            self._go(State.ENTER_ID)
            return []
        assert self.ctx.person is not None
        self._go(State.FACE_VERIFY)
        self.ctx.face_attempts = 1
        return [VerifyFace(self.visit_id, self.ctx.person, 1)]

    def _on_consent_declined(self, _: ConsentDeclined) -> list[Effect]:
        return self._fail(Failed(code=0, message="consent_declined"))

    def _on_face(self, e: FaceChecked) -> list[Effect]:
        assert e.match is not None and self.ctx.person is not None
        self.ctx.face = e.match
        if e.match.accepted:
            self._go(State.CHOOSE_INSURANCE if self.ctx.person.must_choose else State.SERVICES)
            return []
        if e.match.verdict == "mismatch":  # clearly another face: no retry for an impostor to use
            return self._fail(Failed(code=203, message="face_mismatch"))
        if self.ctx.face_attempts >= self.max_face_attempts:
            return self._fail(Failed(code=203, message="face_attempts_exhausted"))
        self.ctx.face_attempts += 1
        return [VerifyFace(self.visit_id, self.ctx.person, self.ctx.face_attempts)]

    def _on_insurance_chosen(self, e: InsuranceChosen) -> list[Effect]:
        assert self.ctx.person is not None
        if not 0 <= e.index < len(self.ctx.person.records):
            return []
        self.ctx.person = self.ctx.person.choosing(e.index)
        self._go(State.SERVICES)
        return []

    def _on_pay(self, _: PayFeesChosen) -> list[Effect]:
        assert self.ctx.person is not None
        return [LoadFees(self.visit_id, self.ctx.person)]

    def _on_chronic_found(self, e: ChronicFilingsFound) -> list[Effect]:
        self.ctx.chronic = e.filings
        self._go(State.CHOOSE_VISIT_TYPE)
        return []

    def _on_visit_type(self, e: VisitTypeChosen) -> list[Effect]:
        assert self.ctx.person is not None
        if not -1 <= e.index < len(self.ctx.chronic) or self.ctx.extra.get("visit_type_chosen"):
            return []
        self.ctx.extra["visit_type_chosen"] = "1"
        self.ctx.person = self.ctx.person.for_visit(self.ctx.chronic[e.index] if e.index >= 0 else None)
        return [LoadFees(self.visit_id, self.ctx.person, ask_chronic=False)]

    def _on_fees(self, e: FeesLoaded) -> list[Effect]:
        self.ctx.fees = e.fees
        self._go(State.FEE_REVIEW)
        return []

    def _on_fees_confirmed(self, _: FeesConfirmed) -> list[Effect]:
        person, doc = self.ctx.person, self.ctx.document
        assert person is not None and doc is not None
        if not self.ctx.fees:
            return []
        self._go(State.PREPARING)
        return [CheckPrinter(self.visit_id), Prepare(self.visit_id, person, doc, self.ctx.fees)]

    def _on_printer_checked(self, e: PrinterChecked) -> list[Effect]:
        # the patient is told before paying that no paper receipt can be printed (the record is kept)
        self.ctx.extra["printer_warning"] = "" if e.ready else (e.detail or "printer not ready")
        return []

    def _on_reprint(self, _: ReprintRequested) -> list[Effect]:
        if not self.ctx.extra.get("print_error") or self.ctx.person is None:
            return []
        self.ctx.extra["print_error"] = ""
        return [self._receipt()]

    def _on_prepared(self, e: Prepared) -> list[Effect]:
        self.ctx.pre_settlement = e.pre_settlement
        self._go(State.CONFIRM)
        return []

    def _on_gateway_down(self, _: GatewayDown) -> list[Effect]:
        person, doc = self.ctx.person, self.ctx.document
        assert person is not None and doc is not None
        self._go(State.SETTLING)
        return [SettleOffline(self.visit_id, person, doc, self.ctx.fees)]

    def _on_settlement_confirmed(self, _: SettlementConfirmed) -> list[Effect]:
        doc, pre = self.ctx.document, self.ctx.pre_settlement
        assert doc is not None and pre is not None
        limit = self.password_limit
        if doc.cert_type is CertType.VOUCHER and limit is not None and pre.amounts.medfee_sumamt > limit \
                and not self.ctx.extra.get("password_ok"):
            self.ctx.extra["password_hint"] = ""
            self._go(State.VOUCHER_PASSWORD)
            return []
        return self._commit_settlement()

    def _commit_settlement(self) -> list[Effect]:
        person, doc, pre = self.ctx.person, self.ctx.document, self.ctx.pre_settlement
        assert person is not None and doc is not None and pre is not None
        if pre.amounts.psn_cash_pay > 0:  # the own share first: nothing is settled before it is paid
            self._go(State.PAYING)
            self.ctx.extra["payment_hint"] = "opening"
            return [OpenPayment(self.visit_id, person, doc, pre, self.ctx.fees)]
        self._go(State.SETTLING)
        return [Settle(self.visit_id, person, doc, pre, self.ctx.fees)]

    def _on_payment_opened(self, e: PaymentOpened) -> list[Effect]:
        assert e.order is not None
        self.ctx.payment_order, self.ctx.payment_reference = e.order, e.reference
        self.ctx.extra["payment_hint"] = ""
        return [AwaitPayment(self.visit_id, e.order)]

    def _on_payment_scan(self, e: VoucherScanned) -> list[Effect]:
        """On the payment screen a scan is a payment code (WeChat, Alipay, UnionPay) or nothing."""
        order = self.ctx.payment_order
        if order is None or self.ctx.extra.get("payment_hint") in ("charging", "confirm_in_app"):
            return []
        code = e.payload.strip("\r\n\t ")
        if payment_code_wallet(code) is None:
            self.ctx.extra["payment_hint"] = "not_payment_code"
            return []
        self.ctx.extra["payment_hint"] = "charging"
        return [PayWithCode(self.visit_id, order, code)]

    def _on_payment_update(self, e: PaymentUpdate) -> list[Effect]:
        assert e.status is not None and self.ctx.payment_order is not None
        if e.status.state == PAID:
            self._go(State.SETTLING)
            return [SettlePaid(self.visit_id, self.ctx.payment_reference)]
        if e.status.state == CLOSED:  # cancelled in the app, or closed: nothing was taken
            return self._fail_payment("payment_cancelled")
        if e.status.state == PAYING:
            self.ctx.extra["payment_hint"] = "confirm_in_app"
        elif self.ctx.extra.get("payment_hint") == "charging" and not e.waited:
            self.ctx.extra["payment_hint"] = ""
        return [AwaitPayment(self.visit_id, self.ctx.payment_order)] if e.waited else []

    def _on_payment_code_refused(self, e: PaymentCodeRefused) -> list[Effect]:
        self.ctx.extra["payment_hint"] = f"declined.{e.reason}"
        return []

    def _on_payment_timeout(self, _: PaymentTimeout) -> list[Effect]:
        if self.ctx.extra.get("payment_hint") == "confirm_in_app":
            return []  # the patient is confirming in the app: the screen waits for that answer
        return self._fail_payment("payment_timeout")

    def _on_payment_failed(self, e: Failed) -> list[Effect]:
        return self._fail_payment(e.message or "payment_unavailable", code=e.code)

    def _fail_payment(self, message: str, code: int = 0) -> list[Effect]:
        effects = self._release_payment()
        self._fail(Failed(code=code, message=message))
        return effects

    def _on_refunded(self, e: Refunded) -> list[Effect]:
        self.ctx.refunded = e.refunded
        return self._fail(Failed(code=462, message="payment_refunded"))

    def _on_settled(self, e: Settled) -> list[Effect]:
        assert self.ctx.person is not None
        self.ctx.settlement = e.settlement
        self._go(State.RECEIPT)
        return self._confirm_or_print()

    def _on_queued(self, e: Queued) -> list[Effect]:
        assert self.ctx.person is not None
        self.ctx.queued = e.queued
        self._go(State.RECEIPT)
        return self._confirm_or_print()

    def _on_settle_failed(self, e: Failed) -> list[Effect]:
        # a business refusal of 2207: nothing was settled, the registration is undone on reset
        return self._fail(e)

    def _on_printed(self, e: ReceiptPrinted) -> list[Effect]:
        self.ctx.extra["receipt"], self.ctx.extra["print_error"] = e.path, e.error
        return []

    def _on_finish(self, _: Finish) -> list[Effect]:
        return self._reset()

    def _on_interrupted_found(self, e: InterruptedVisitFound) -> list[Effect]:
        """Show the patient how the visit the kiosk stopped in ended; Finish (or the idle countdown) closes it.
        While it is being settled (the outbox resends it after the restart) the screen follows it to its end."""
        if e.visit is None:
            return []
        if self.state is State.INTERRUPTED:  # how it stands now
            if self.ctx.interrupted is None or self.ctx.interrupted.visit_id != e.visit.visit_id:
                return []
            self.ctx.interrupted = e.visit
        else:
            self.visit_id = e.visit.visit_id
            self.ctx.wipe()
            self.ctx.interrupted = e.visit
            self.history = [State.IDLE]
            self._go(State.INTERRUPTED)
        if e.visit.outcome != "settling":
            return []
        return [AwaitInterruptedOutcome(self.visit_id, e.visit.reference)]

    def _authorised_by(self) -> str:
        return self.ctx.document.authorised_by if self.ctx.document is not None else ""


_H = VisitMachine
_HANDLERS = {
    (State.IDLE, CardInserted): _H._on_start,
    (State.IDLE, VoucherScanned): _H._on_voucher,
    (State.IDLE, InterruptedVisitFound): _H._on_interrupted_found,
    (State.IDLE, FaceSwipeChosen): _H._on_face_swipe,
    (State.ENTER_ID, IdNumberEntered): _H._on_id_entered,
    (State.FACE_VERIFY, FaceIdentified): _H._on_face_identified,
    (State.FACE_VERIFY, FaceAuthFailed): _H._on_face_auth_failed,
    (State.FAMILY_ACCOUNT, VoucherScanned): _H._on_family_scan,
    (State.FAMILY_ACCOUNT, Identified): _H._on_family_identified,
    (State.FAMILY_ACCOUNT, FamilyAuthFailed): _H._on_family_failed,
    (State.VOUCHER_PASSWORD, PasswordEntered): _H._on_password,
    (State.VOUCHER_PASSWORD, PasswordChecked): _H._on_password_checked,
    (State.INTERRUPTED, InterruptedVisitFound): _H._on_interrupted_found,
    (State.INTERRUPTED, Finish): _H._on_finish,
    (State.IDENTIFYING, CardRead): _H._on_card_read,
    (State.IDENTIFYING, Identified): _H._on_identified,
    (State.CONSENT, ConsentGiven): _H._on_consent,
    (State.CONSENT, ConsentDeclined): _H._on_consent_declined,
    (State.FACE_VERIFY, FaceChecked): _H._on_face,
    (State.CHOOSE_INSURANCE, InsuranceChosen): _H._on_insurance_chosen,
    (State.SERVICES, PayFeesChosen): _H._on_pay,
    (State.SERVICES, ErrandChosen): _H._on_errand,
    (State.SERVICES, ErrandShown): _H._on_errand_shown,
    (State.SERVICES, ErrandFailed): _H._on_errand_failed,
    (State.ERRAND, BackToServices): _H._on_back,
    (State.ERRAND, CopyRequested): _H._on_copy,
    (State.ERRAND, ReceiptPrinted): _H._on_copy_printed,
    (State.ERRAND, Finish): _H._on_finish,
    (State.ERRAND, InvoiceChosen): _H._on_invoice_chosen,
    (State.ERRAND, InvoiceOpened): _H._on_invoice_opened,
    (State.ERRAND, InvoiceFailed): _H._on_invoice_open_failed,
    (State.INVOICE, InvoicePrintRequested): _H._on_invoice_print,
    (State.INVOICE, InvoicePrinted): _H._on_invoice_printed,
    (State.INVOICE, InvoiceFailed): _H._on_invoice_print_failed,
    (State.INVOICE, InvoiceToPhone): _H._on_invoice_to_phone,
    (State.INVOICE, BackToServices): _H._on_back_to_invoices,
    (State.INVOICE, Finish): _H._on_finish,
    (State.SERVICES, DepartmentsShown): _H._on_departments,
    (State.REG_DEPARTMENT, DepartmentChosen): _H._on_department,
    (State.REG_DEPARTMENT, SlotsShown): _H._on_slots,
    (State.REG_DEPARTMENT, RegistrationFailed): _H._on_registration_failed,
    (State.REG_DEPARTMENT, BackToServices): _H._on_registration_back,
    (State.REG_DOCTOR, SlotChosen): _H._on_slot,
    (State.REG_DOCTOR, SlotLocked): _H._on_slot_locked,
    (State.REG_DOCTOR, RegistrationFailed): _H._on_registration_failed,
    (State.REG_DOCTOR, BackToServices): _H._on_registration_back,
    (State.RECEIPT, RegistrationConfirmed): _H._on_registration_confirmed,
    (State.RECEIPT, RegistrationFailed): _H._on_confirmation_failed,
    (State.SERVICES, FeesLoaded): _H._on_fees,
    (State.SERVICES, ChronicFilingsFound): _H._on_chronic_found,
    (State.CHOOSE_VISIT_TYPE, VisitTypeChosen): _H._on_visit_type,
    (State.CHOOSE_VISIT_TYPE, FeesLoaded): _H._on_fees,
    (State.FEE_REVIEW, FeesConfirmed): _H._on_fees_confirmed,
    (State.PREPARING, Prepared): _H._on_prepared,
    (State.PREPARING, PrinterChecked): _H._on_printer_checked,
    (State.CONFIRM, PrinterChecked): _H._on_printer_checked,
    (State.RECEIPT, ReprintRequested): _H._on_reprint,
    (State.PREPARING, GatewayDown): _H._on_gateway_down,
    (State.CONFIRM, SettlementConfirmed): _H._on_settlement_confirmed,
    (State.PAYING, PaymentOpened): _H._on_payment_opened,
    (State.PAYING, VoucherScanned): _H._on_payment_scan,
    (State.PAYING, PaymentUpdate): _H._on_payment_update,
    (State.PAYING, PaymentCodeRefused): _H._on_payment_code_refused,
    (State.PAYING, PaymentTimeout): _H._on_payment_timeout,
    (State.PAYING, Failed): _H._on_payment_failed,
    (State.SETTLING, Refunded): _H._on_refunded,
    # the order was being closed when the payment arrived: the plan settled (or queued) it after all
    (State.ERROR, Settled): _H._on_settled,
    (State.ERROR, Queued): _H._on_queued,
    (State.SETTLING, Settled): _H._on_settled,
    (State.SETTLING, Queued): _H._on_queued,
    (State.SETTLING, Failed): _H._on_settle_failed,
    (State.RECEIPT, ReceiptPrinted): _H._on_printed,
    (State.RECEIPT, Finish): _H._on_finish,
    (State.ERROR, Finish): _H._on_finish,
}
