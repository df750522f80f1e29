"""Carries out the visit machine's effects against the ports.

``EffectRunner.run(effect)`` blocks (it is called on a worker lane chosen by
:func:`lane_for`) and returns the event to feed back into the machine, or None.
Project errors become ``Failed``/``GatewayDown`` events here; nothing else
escapes, so a worker never dies silently.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from kiosk import visit as v
from kiosk.audit import face_identification_event, face_verification_event, invoice_printed_event
from kiosk.domain import FaceMatch, QueuedSettlement, RefundedPayment, Settlement
from kiosk.errors import (
    BenefitRefused,
    FaceAuthRefused,
    FamilyAuthRefused,
    VoucherPasswordRefused,
    GatewayBusinessError,
    GatewayError,
    GatewayNoAnswer,
    GatewayProtocolError,
    GatewayUnreachable,
    KioskError,
    PrinterError,
    PaymentDeclined,
    PaymentUnknown,
)
from kiosk.errands import ErrandUnavailable, load_errand
from kiosk.face_check import FaceVerifier, NoFaceFound
from kiosk.face_score import OperatingPoint
from kiosk.identity import document_from_card
from kiosk.pre_audit import CONTINUED
from kiosk.payment import NOT_PAID, PAYING, UNKNOWN, PaymentStatus
from kiosk.invoices import InvoiceRefused
from kiosk.registration import SlotRefused
from kiosk.ports import CardReader, DocumentPrinter, HospitalSystem, ReceiptPrinter, Telemetry, VoucherPlatform
from kiosk.receipt import queued_slip, settlement_copy, settlement_receipt
from kiosk.settlement import SettlementService
from kiosk.voucher import VoucherRefused

log = logging.getLogger(__name__)


# Which worker lane owns each effect: one owning thread per device (ARCHITECTURE.md, Threads).
_LANES: dict[type, str] = {
    v.ReadCard: "card",
    v.VerifyFace: "vision",
    v.IdentifyByFace: "vision",
    v.WipeSecrets: "vision",
    v.VisitEnded: "status",
    v.PrintReceipt: "printer",
    v.CheckPrinter: "printer",
    v.PrintCopy: "printer",
    v.PrintInvoice: "printer",
    v.AwaitPayment: "payment",
    v.AwaitInterruptedOutcome: "payment",  # no visit is paying while that screen shows
    v.PayWithCode: "payment",
}


def lane_for(effect: v.Effect) -> str:
    return _LANES.get(type(effect), "gateway")


class EffectRunner:
    def __init__(
        self,
        *,
        card_reader: CardReader,
        settlement: SettlementService,
        face: FaceVerifier,
        his: HospitalSystem,
        printer: ReceiptPrinter,
        institution: str,
        terminal_no: str,
        clock: Callable[[], dt.datetime],
        audit: Callable[[dict[str, Any]], None],
        operating_point: OperatingPoint,
        vouchers: VoucherPlatform,
        payment_wait_s: float = 3.0,
        payment_poll_s: float = 1.0,
        sleep: Callable[[float], None] | None = None,
        monotonic: Callable[[], float] | None = None,
        telemetry: Telemetry | None = None,
        a4_printer: DocumentPrinter | None = None,
        render_pdf: Callable[[bytes], Any] | None = None,
    ) -> None:
        """``a4_printer``: the A4 printer for electronic invoices (None: none here, invoices go to the phone);
        ``render_pdf``: a PDF's first page as an RGB array, for the invoice preview."""
        self._telemetry = telemetry
        self._a4, self._render_pdf = a4_printer, render_pdf
        self._vouchers = vouchers
        self._wait_s, self._poll_s = payment_wait_s, payment_poll_s
        self._sleep, self._monotonic = sleep or time.sleep, monotonic or time.monotonic
        self._card, self._settlement, self._face = card_reader, settlement, face
        self._his, self._printer = his, printer
        self._institution, self._terminal_no = institution, terminal_no
        self._clock = clock
        self._audit, self._point = audit, operating_point

    def run(self, effect: v.Effect) -> v.Event | None:
        vid = effect.visit_id
        try:
            return self._dispatch(effect)
        except GatewayUnreachable as exc:
            log.warning("gateway unreachable during %s: %s", type(effect).__name__, exc)
            if isinstance(effect, v.Prepare):
                return v.GatewayDown(vid)
            return v.Failed(vid, code=exc.code, message="gateway_unreachable")
        except GatewayBusinessError as exc:
            return v.Failed(vid, code=exc.code, message=exc.err_msg or exc.message)
        except BenefitRefused as exc:
            return v.Failed(vid, code=exc.code, message=f"benefit.{exc.reason}", detail=exc.detail)
        except PaymentDeclined as exc:
            if isinstance(effect, v.PayWithCode):
                return v.PaymentCodeRefused(vid, reason=exc.reason)
            log.warning("payment refused during %s: %s", type(effect).__name__, exc)
            return v.Failed(vid, code=exc.code, message="payment_unavailable")
        except PaymentUnknown as exc:
            log.warning("payment outcome unknown during %s: %s", type(effect).__name__, exc)
            if isinstance(effect, v.PayWithCode):  # charged or not: the waiting queries will tell
                return v.PaymentUpdate(vid, status=PaymentStatus(effect.order.order_no, PAYING, detail="unknown"))
            if isinstance(effect, v.AwaitPayment):
                self._sleep(self._poll_s)  # the platform is away: ask again, not at once
                return v.PaymentUpdate(vid, status=PaymentStatus(effect.order.order_no, UNKNOWN), waited=True)
            return v.Failed(vid, code=exc.code, message="payment_unavailable")
        except VoucherRefused as exc:
            if isinstance(effect, v.AuthoriseByFamily):
                return v.FamilyAuthFailed(vid, reason=exc.reason)
            return v.Failed(vid, code=exc.code, message=f"voucher.{exc.reason}")
        except FamilyAuthRefused as exc:
            return v.FamilyAuthFailed(vid, reason=exc.reason)
        except VoucherPasswordRefused as exc:
            return v.PasswordChecked(vid, accepted=False, remaining=exc.remaining, locked=exc.locked)
        except KioskError as exc:
            log.warning("%s failed: %s", type(effect).__name__, exc)
            return v.Failed(vid, code=exc.code, message=exc.message)

    def _dispatch(self, effect: v.Effect) -> v.Event | None:
        vid = effect.visit_id
        match effect:
            case v.ReadCard():
                return v.CardRead(vid, identity=self._card.read_identity())
            case v.ResolveVoucher(token=token):
                document = self._vouchers.resolve(token).document()
                return v.Identified(vid, person=self._settlement.identify(document), document=document)
            case v.Identify(identity=identity):
                document = document_from_card(identity, self._clock().date())
                return v.Identified(vid, person=self._settlement.identify(document), document=document)
            case v.VerifyFace(person=person, attempt=attempt):
                started = self._monotonic()
                match = self._face.verify(person)
                if self._telemetry is not None:
                    self._telemetry.face_checked(match.verdict, match.liveness.split(":")[0],
                                                 self._monotonic() - started)
                self._audit(face_verification_event(person, match, attempt=attempt, point=self._point,
                                                    terminal_no=self._terminal_no, when=self._clock()))
                return v.FaceChecked(vid, match=match)
            case v.ShowErrand(person=person, errand=errand):
                try:
                    view = load_errand(errand, person, self._settlement, self._his, self._clock().date())
                except ErrandUnavailable as exc:
                    log.warning("errand %s unavailable: %s", errand, exc)
                    return v.ErrandFailed(vid, errand=errand, reason=exc.reason)
                return v.ErrandShown(vid, view=view)
            case v.OpenInvoice() | v.PrintInvoice():
                return self._invoice(effect)
            case v.ListDepartments() | v.ListSlots() | v.LockSlot() | v.ConfirmRegistration() | v.ReleaseSlot():
                return self._registration(effect)
            case v.PrintCopy(person=person, record=record):
                return self._print_document(vid, settlement_copy(self._institution, self._terminal_no, person,
                                                                 record, self._clock()))
            case v.IdentifyByFace():
                return self._identify_by_face(effect)
            case v.AuthoriseByFamily(id_no=id_no, member_payload=payload):
                document = self._vouchers.family_auth(id_no, payload).document()
                return v.Identified(vid, person=self._settlement.identify(document), document=document)
            case v.CheckVoucherPassword(ec_token=token, password=password, amount=amount):
                self._vouchers.verify_password(token, password, amount)
                return v.PasswordChecked(vid, accepted=True)
            case v.LoadFees(person=person, ask_chronic=ask_chronic):
                filings = self._chronic_filings(person) if ask_chronic else ()
                if filings:
                    return v.ChronicFilingsFound(vid, filings=filings)
                self._check_benefit(person)
                return v.FeesLoaded(vid, fees=self._his.pending_fees(person))
            case v.Prepare(person=person, document=doc, fees=fees):
                return v.Prepared(vid, pre_settlement=self._settlement.prepare(person, doc, fees))
            case v.Settle(person=person, document=doc, pre_settlement=pre, fees=fees):
                self._settlement.pre_audit_feedback(person, pre, CONTINUED)
                return self._settled_event(vid, self._settlement.settle(vid, person, doc, pre, fees))
            case v.OpenPayment(person=person, document=doc, pre_settlement=pre, fees=fees):
                self._settlement.pre_audit_feedback(person, pre, CONTINUED)
                reference, order = self._settlement.open_payment(vid, person, doc, pre, fees)
                return v.PaymentOpened(vid, reference=reference, order=order)
            case v.AwaitPayment(order=order):
                return v.PaymentUpdate(vid, status=self._await(order), waited=True)
            case v.AwaitInterruptedOutcome():
                return v.InterruptedVisitFound(vid, visit=self._await_outcome())
            case v.PayWithCode(order=order, code=code):
                return v.PaymentUpdate(vid, status=self._settlement.pay_with_code(order, code))
            case v.SettlePaid(reference=reference):
                return self._settled_event(vid, self._settlement.settle_paid(reference))
            case v.AbandonPayment(reference=reference, order=order):
                late = self._settlement.abandon_payment(reference, order)
                if late is not None:
                    log.warning("STAFF: the payment of %s arrived as its order was closed; the outbox settles it",
                                reference)
                    return self._settled_event(vid, late)
                return None
            case v.SettleOffline(person=person, document=doc, fees=fees):
                return v.Queued(vid, queued=self._settlement.settle_offline(vid, person, doc, fees))
            case v.CancelPrepared(person=person, pre_settlement=pre):
                self._settlement.cancel(person, pre)
                return None
            case v.PrintReceipt():
                return self._print(effect)
            case v.CheckPrinter():
                status = self._printer.preflight()
                if self._telemetry is not None:
                    self._telemetry.printer_checked(status.online, status.paper)
                return v.PrinterChecked(vid, ready=status.online and status.paper, detail=status.detail)
            case v.VisitEnded(outcome=outcome, errand=errand):
                self._settlement.visit_closed(vid)
                if self._telemetry is not None:
                    self._telemetry.visit_ended(outcome, errand)
                return None
            case v.WipeSecrets():
                self._face.wipe()
                return None
        raise AssertionError(f"unhandled effect {effect!r}")

    def _identify_by_face(self, effect: v.IdentifyByFace) -> v.Event:
        """Face swipe: a live capture, then the platform (authNo -> check -> ecToken), then 1101. Only a
        crop that passed liveness is sent; it is zeroed once sent, whatever the answer."""
        vid, started = effect.visit_id, self._monotonic()
        try:
            capture = self._face.capture_live()
        except NoFaceFound as exc:
            log.info("face swipe: %s", exc)
            return self._face_swipe_failed(effect, "no_face", None, "not_sent")
        if not capture.match.accepted or capture.crop is None:
            return self._face_swipe_failed(effect, "liveness", capture.match, "not_sent")
        try:
            auth_no = self._vouchers.face_auth(effect.id_no, capture.crop, liveness=capture.match.liveness)
        except FaceAuthRefused as exc:
            match = FaceMatch(score=0.0, verdict="mismatch", accepted=False, liveness=capture.match.liveness)
            return self._face_swipe_failed(effect, exc.reason, match, "refused", exc.retry_after_s, started)
        finally:
            capture.crop.fill(0)  # type: ignore[attr-defined]
        document = self._vouchers.check(auth_no).document()
        match = FaceMatch(score=0.0, verdict="match", accepted=True, liveness=capture.match.liveness)
        self._note_face_swipe(effect, match, "identified", "", started)
        return v.FaceIdentified(vid, person=self._settlement.identify(document), document=document, match=match)

    def _face_swipe_failed(self, effect: v.IdentifyByFace, reason: str, match: FaceMatch | None, verdict: str,
                           retry_after_s: int = 0, started: float | None = None) -> v.Event:
        self._note_face_swipe(effect, match, verdict, reason, started)
        return v.FaceAuthFailed(effect.visit_id, reason=reason, match=match, retry_after_s=retry_after_s)

    def _note_face_swipe(self, effect: v.IdentifyByFace, match: FaceMatch | None, verdict: str, reason: str,
                         started: float | None) -> None:
        liveness = match.liveness if match is not None else "not run: no_face"
        if self._telemetry is not None and started is not None and match is not None:
            self._telemetry.face_checked(match.verdict, liveness.split(":")[0], self._monotonic() - started)
        self._audit(face_identification_event(effect.id_no, verdict=verdict, reason=reason, liveness=liveness,
                                              attempt=effect.attempt, terminal_no=self._terminal_no,
                                              when=self._clock()))

    def _chronic_filings(self, person: Any) -> tuple:
        """5301; with the gateway out of reach the visit goes on as an ordinary one."""
        try:
            return self._settlement.chronic_filings(person)
        except GatewayUnreachable as exc:
            log.warning("chronic-disease filings not queried, gateway unreachable: %s", exc)
            return ()

    def _check_benefit(self, person: Any) -> None:
        """2001 before anything is registered. With the gateway out of reach the visit goes on (its
        settlement is queued and meets the same check when the network is back): refusing every patient
        during an outage would send them all to the counter."""
        try:
            self._settlement.check_benefit(person)
        except GatewayUnreachable as exc:
            log.warning("benefit check skipped, gateway unreachable: %s", exc)

    def _await_outcome(self) -> Any:
        """The interrupted visit as the outbox has it, once no longer being settled or after a short slice
        (so the screen's Done is never kept waiting); None once it was closed."""
        deadline = self._monotonic() + self._wait_s
        while True:
            found = self._settlement.interrupted_visit()
            if found is not None and found.outcome != "settling":
                log.info("the interrupted visit %s (%s) ended: %s", found.visit_id, found.reference, found.outcome)
                return found
            if found is None or self._monotonic() >= deadline:
                return found
            self._sleep(self._poll_s)

    def _await(self, order: Any) -> PaymentStatus:
        """Wait a short slice (so an abandoned visit's wait ends soon): the order is queried at the start,
        when a notification names it, and at the end of the slice; between, only notifications are looked
        at. Returns the first state other than NOTPAY, or NOTPAY at the end of the slice."""
        deadline = self._monotonic() + self._wait_s
        status = self._settlement.query_payment(order)
        while status.state == NOT_PAID and self._monotonic() < deadline:
            self._sleep(self._poll_s)
            if self._settlement.payment_notified(order) or self._monotonic() >= deadline:
                status = self._settlement.query_payment(order)
        return status

    @staticmethod
    def _settled_event(vid: str, outcome: Settlement | QueuedSettlement | RefundedPayment) -> v.Event:
        if isinstance(outcome, Settlement):
            return v.Settled(vid, settlement=outcome)
        if isinstance(outcome, RefundedPayment):
            return v.Refunded(vid, refunded=outcome)
        return v.Queued(vid, queued=outcome)

    def _print(self, effect: v.PrintReceipt) -> v.Event:
        when = self._clock()
        if effect.settlement is not None:
            doc = settlement_receipt(self._institution, self._terminal_no, effect.person, effect.fees,
                                     effect.settlement, when, authorised_by=effect.authorised_by,
                                     registered=effect.registered, invoice=self._invoice_of(effect.settlement.setl_id))
        else:
            assert effect.queued is not None
            doc = queued_slip(self._institution, self._terminal_no, effect.person, effect.fees, effect.queued, when,
                              authorised_by=effect.authorised_by, registered=effect.registered)
        return self._print_document(effect.visit_id, doc)

    def _invoice_of(self, setl_id: str) -> Any:
        """The e-invoice issued for the settlement, for its receipt; best effort: without it the receipt says
        invoices are at the counter."""
        try:
            return self._his.invoice_for_settlement(setl_id)
        except KioskError as exc:
            log.warning("no e-invoice for %s on the receipt: %s", setl_id, exc)
            return None

    def _registration(self, effect: v.Effect) -> v.Event | None:
        """Same-day registration against the hospital system. Failures come back typed: the department list
        as ErrandFailed (said on the menu), the rest as RegistrationFailed (said where the patient is)."""
        vid = effect.visit_id
        try:
            match effect:
                case v.ListDepartments():
                    return v.DepartmentsShown(vid, departments=self._his.departments())
                case v.ListSlots(dept_code=dept_code):
                    return v.SlotsShown(vid, slots=self._his.slots(dept_code))
                case v.LockSlot(person=person, slot=slot):
                    self._check_benefit(person)  # before anything is held or registered, as for fees
                    return v.SlotLocked(vid, lock=self._his.lock_slot(slot, person))
                case v.ConfirmRegistration(lock_id=lock_id, mdtrt_id=mdtrt_id, setl_id=setl_id):
                    return v.RegistrationConfirmed(vid, registered=self._his.confirm_registration(
                        lock_id, mdtrt_id, setl_id))
                case v.ReleaseSlot(lock_id=lock_id):
                    self._his.release_slot(lock_id)
                    return None
        except SlotRefused as exc:
            return v.RegistrationFailed(vid, reason=exc.reason)
        except (GatewayUnreachable, GatewayNoAnswer, GatewayProtocolError) as exc:
            if isinstance(effect, v.ReleaseSlot):  # the lock runs out by itself; staff see it meanwhile
                log.warning("slot lock %s not released now: %s", effect.lock_id, exc)
                return None
            reason = "malformed" if isinstance(exc, GatewayProtocolError) else "unreachable"
            if isinstance(effect, v.ListDepartments):
                return v.ErrandFailed(vid, errand="registration", reason=reason)
            return v.RegistrationFailed(vid, reason=reason)
        raise AssertionError(f"not a registration effect: {effect!r}")

    def _invoice(self, effect: v.OpenInvoice | v.PrintInvoice) -> v.Event:
        """Open (fetch and render) or print an e-invoice. Every failure comes back as InvoiceFailed with its
        reason, so the errand says it and the visit goes on."""
        vid, number = effect.visit_id, effect.invoice_no
        try:
            if isinstance(effect, v.OpenInvoice):
                pdf = self._his.invoice_pdf(number)
                return v.InvoiceOpened(vid, invoice_no=number, pdf=pdf,
                                       preview=self._render_pdf(pdf) if self._render_pdf is not None else None)
            return v.InvoicePrinted(vid, invoice_no=number, job=self._print_invoice(number, effect.pdf))
        except InvoiceRefused as exc:
            return v.InvoiceFailed(vid, reason=exc.reason, detail=exc.message)
        except PrinterError as exc:
            log.warning("invoice %s not printed: %s", number, exc)
            return v.InvoiceFailed(vid, reason="printer_unavailable", detail=exc.message)
        except (GatewayUnreachable, GatewayNoAnswer) as exc:
            return v.InvoiceFailed(vid, reason="unreachable", detail=exc.message)
        except GatewayError as exc:
            return v.InvoiceFailed(vid, reason="malformed", detail=exc.message)

    def _print_invoice(self, number: str, pdf: bytes | None) -> str:
        """Check the printer, claim the invoice's one print, print ``pdf`` (the document opened; fetched when
        none came); the claim is given back when the printing fails after it."""
        if self._a4 is None:
            raise PrinterError("no A4 printer at this kiosk (printer.a4_queue)")
        status = self._a4.preflight()
        if not (status.online and status.paper):
            raise PrinterError(status.detail or "the A4 printer is not ready")
        pdf = pdf or self._his.invoice_pdf(number)
        self._his.claim_invoice_print(number)
        try:
            job = self._a4.print_pdf(pdf, title=f"e-invoice {number}")
        except BaseException:
            try:
                self._his.release_invoice_print(number)
            except KioskError as exc:  # the mark stays: staff see it and can allow a print
                log.error("invoice %s: print failed and the claim could not be released: %s", number, exc)
            raise
        self._audit(invoice_printed_event(number, job=job, terminal_no=self._terminal_no, when=self._clock()))
        return job

    def _print_document(self, vid: str, doc: Any) -> v.Event:
        """Print a laid-out document: where it went, or the printer's error (the visit goes on either way)."""
        try:
            path = self._printer.print_document(doc.lines, doc.qr_payload, name=doc.name)
        except KioskError as exc:
            return v.ReceiptPrinted(vid, error=str(exc))
        return v.ReceiptPrinted(vid, path=path)
