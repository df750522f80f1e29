"""What the visit machine (``kiosk/visit.py``) reads and asks for: its states, the events that come in
(from the patient, the devices and the workers) and the effects it asks the workers to carry out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from kiosk.domain import (
    CardIdentity,
    FaceMatch,
    FeeItem,
    IdentityDocument,
    InsuredPerson,
    PreSettlement,
    QueuedSettlement,
    RefundedPayment,
    Settlement,
)
from kiosk.errands import ErrandView
from kiosk.insurance import ChronicFiling
from kiosk.interrupted_visit import InterruptedVisit
from kiosk.masking import mask_id, mask_token
from kiosk.payment import PaymentOrder, PaymentStatus
from kiosk.registration import Department, DoctorSlot, Registered, SlotLock


class State(str, Enum):
    IDLE = "idle"
    INVOICE = "invoice"  # one electronic invoice: preview, print on A4, take to the phone
    REG_DEPARTMENT = "reg_department"  # same-day registration: which department
    REG_DOCTOR = "reg_doctor"  # which doctor (the slot is locked when chosen)
    IDENTIFYING = "identifying"
    CONSENT = "consent"
    FACE_VERIFY = "face_verify"
    CHOOSE_INSURANCE = "choose_insurance"
    SERVICES = "services"
    CHOOSE_VISIT_TYPE = "choose_visit_type"
    FEE_REVIEW = "fee_review"
    PREPARING = "preparing"
    CONFIRM = "confirm"
    PAYING = "paying"
    SETTLING = "settling"
    RECEIPT = "receipt"
    ERROR = "error"
    INTERRUPTED = "interrupted"  # after a restart: how the visit the kiosk stopped in ended
    ENTER_ID = "enter_id"  # face swipe: the patient types their ID number on the keypad
    FAMILY_ACCOUNT = "family_account"  # face swipe found no photo: a family member's voucher authorises
    VOUCHER_PASSWORD = "voucher_password"  # an amount above the limit: the voucher password on the PIN pad
    ERRAND = "errand"  # an information errand's answer (records, balance, filings); back to the menu


# ---- events: input from the patient, the devices and the workers ----------------------------


@dataclass(frozen=True)
class Event:
    visit_id: str = ""  # results of effects carry the visit they were started for


@dataclass(frozen=True)
class CardInserted(Event): ...


@dataclass(frozen=True)
class CardRemoved(Event): ...


@dataclass(frozen=True)
class VoucherScanned(Event):
    payload: str = ""


@dataclass(frozen=True)
class CardRead(Event):
    identity: CardIdentity | None = None


@dataclass(frozen=True)
class Identified(Event):
    person: InsuredPerson | None = None
    document: IdentityDocument | None = None


@dataclass(frozen=True)
class ConsentGiven(Event): ...


@dataclass(frozen=True)
class ConsentDeclined(Event): ...


@dataclass(frozen=True)
class FaceChecked(Event):
    match: FaceMatch | None = None


@dataclass(frozen=True)
class InsuranceChosen(Event):
    index: int = 0  # which of the person's insurance records (InsuredPerson.records)


@dataclass(frozen=True)
class PayFeesChosen(Event): ...


@dataclass(frozen=True)
class FeesLoaded(Event):
    fees: tuple[FeeItem, ...] = ()


@dataclass(frozen=True)
class ChronicFilingsFound(Event):
    """The person has chronic or special diseases on file (5301): the visit may be for one of them."""

    filings: tuple[ChronicFiling, ...] = ()


@dataclass(frozen=True)
class VisitTypeChosen(Event):
    index: int = -1  # which of the filings the visit is for; -1: an ordinary outpatient visit


@dataclass(frozen=True)
class FeesConfirmed(Event): ...


@dataclass(frozen=True)
class Prepared(Event):
    pre_settlement: PreSettlement | None = None


@dataclass(frozen=True)
class SettlementConfirmed(Event): ...


@dataclass(frozen=True)
class PaymentOpened(Event):
    reference: str = ""
    order: PaymentOrder | None = None


@dataclass(frozen=True)
class PaymentUpdate(Event):
    """The order's state from a wait (``waited``) or from charging a payment code."""

    status: PaymentStatus | None = None
    waited: bool = False


@dataclass(frozen=True)
class PaymentCodeRefused(Event):
    reason: str = ""  # a short key the payment screen translates


@dataclass(frozen=True)
class PaymentTimeout(Event):
    """The payment screen's time ran out."""


@dataclass(frozen=True)
class Refunded(Event):
    refunded: RefundedPayment | None = None


@dataclass(frozen=True)
class Settled(Event):
    settlement: Settlement | None = None


@dataclass(frozen=True)
class Queued(Event):
    queued: QueuedSettlement | None = None


@dataclass(frozen=True)
class GatewayDown(Event):
    """The gateway could not be reached before anything was committed on its side."""


@dataclass(frozen=True)
class Failed(Event):
    """A step failed with a project error: code and a patient-facing message."""

    code: int = 0
    message: str = ""
    detail: str = ""  # the other side's own words where they help the patient (a region's benefit check)


@dataclass(frozen=True)
class ReceiptPrinted(Event):
    path: str = ""
    error: str = ""


@dataclass(frozen=True)
class PrinterChecked(Event):
    ready: bool = True
    detail: str = ""


@dataclass(frozen=True)
class ReprintRequested(Event):
    """The patient asks for the receipt again (after a print failure), from the visit record."""


@dataclass(frozen=True)
class Cancel(Event): ...


@dataclass(frozen=True)
class IdleTimeout(Event): ...


@dataclass(frozen=True)
class InterruptedVisitFound(Event):
    """At start: the outbox holds a visit whose settlement was committed and never shown ended (again, with
    the visit's id, while that screen shows: how it stands now)."""

    visit: InterruptedVisit | None = None


@dataclass(frozen=True)
class Finish(Event):
    """The patient is done with the receipt or the error screen."""


@dataclass(frozen=True)
class ErrandChosen(Event):
    errand: str = ""  # kiosk.errands.INFO_ERRANDS


@dataclass(frozen=True)
class ErrandShown(Event):
    view: ErrandView | None = None


@dataclass(frozen=True)
class ErrandFailed(Event):
    errand: str = ""
    reason: str = ""  # unreachable, refused, malformed


@dataclass(frozen=True)
class CopyRequested(Event):
    """On "my settlements": print the receipt of row ``index`` again, marked as a copy."""

    index: int = 0


@dataclass(frozen=True)
class BackToServices(Event):
    """From an errand's answer back to the menu of errands (from an invoice: back to the invoice list)."""


@dataclass(frozen=True)
class DepartmentsShown(Event):
    departments: tuple[Department, ...] = ()


@dataclass(frozen=True)
class DepartmentChosen(Event):
    index: int = 0


@dataclass(frozen=True)
class SlotsShown(Event):
    slots: tuple[DoctorSlot, ...] = ()


@dataclass(frozen=True)
class SlotChosen(Event):
    index: int = 0


@dataclass(frozen=True)
class SlotLocked(Event):
    lock: SlotLock | None = None


@dataclass(frozen=True)
class RegistrationConfirmed(Event):
    registered: Registered | None = None


@dataclass(frozen=True)
class RegistrationFailed(Event):
    """``reason``: full, expired, unknown_slot, unreachable, malformed."""

    reason: str = ""


@dataclass(frozen=True)
class InvoiceChosen(Event):
    """On the invoice list: row ``index`` touched."""

    index: int = 0


@dataclass(frozen=True)
class InvoiceOpened(Event):
    invoice_no: str = ""
    preview: Any = None  # the first page rendered (RGB array), for the screen only
    pdf: bytes | None = None  # the document as fetched: printed from it, not fetched again


@dataclass(frozen=True)
class InvoicePrintRequested(Event):
    pass


@dataclass(frozen=True)
class InvoiceToPhone(Event):
    """Show the invoice's QR code: the patient takes it to the phone."""


@dataclass(frozen=True)
class InvoicePrinted(Event):
    invoice_no: str = ""
    job: str = ""  # the print system's job id


@dataclass(frozen=True)
class InvoiceFailed(Event):
    """``reason``: printer_unavailable, already_printed, voided, unknown_invoice, unreachable, malformed."""

    reason: str = ""
    detail: str = ""


@dataclass(frozen=True)
class FaceSwipeChosen(Event):
    """On the idle screen: "swipe face", with neither card nor phone (PROTOCOL.md section 10)."""


@dataclass(frozen=True)
class IdNumberEntered(Event):
    id_no: str = ""

    def __repr__(self) -> str:
        return f"IdNumberEntered({mask_id(self.id_no)})"


@dataclass(frozen=True)
class FaceIdentified(Event):
    """The voucher platform identified the person by face; 1101 answered."""

    person: InsuredPerson | None = None
    document: IdentityDocument | None = None
    match: FaceMatch | None = None


@dataclass(frozen=True)
class FaceAuthFailed(Event):
    """Face swipe did not identify: ``reason`` liveness, no_face (nothing was sent) or the platform's
    mismatch, locked, no_photo, rate_limited, unknown_person, liveness_required."""

    reason: str = ""
    match: FaceMatch | None = None
    retry_after_s: int = 0


@dataclass(frozen=True)
class FamilyAuthFailed(Event):
    reason: str = ""  # not_bound, unknown_person, expired, unknown, or a voucher refusal's reason


@dataclass(frozen=True)
class PasswordEntered(Event):
    password: str = ""  # never in repr, logs or storage

    def __repr__(self) -> str:
        return "PasswordEntered(******)"


@dataclass(frozen=True)
class PasswordChecked(Event):
    accepted: bool = False
    remaining: int = 0
    locked: bool = False


# ---- effects: work the machine asks for --------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    visit_id: str


@dataclass(frozen=True)
class ReadCard(Effect): ...


@dataclass(frozen=True)
class ResolveVoucher(Effect):
    token: str  # the validated scan (never logged whole)

    def __repr__(self) -> str:
        return f"ResolveVoucher({self.visit_id})"


@dataclass(frozen=True)
class Identify(Effect):
    identity: CardIdentity


@dataclass(frozen=True)
class VerifyFace(Effect):
    person: InsuredPerson
    attempt: int


@dataclass(frozen=True)
class LoadFees(Effect):
    person: InsuredPerson
    ask_chronic: bool = True  # look for chronic-disease filings first (not once the patient chose)


@dataclass(frozen=True)
class Prepare(Effect):
    person: InsuredPerson
    document: IdentityDocument
    fees: tuple[FeeItem, ...]


@dataclass(frozen=True)
class Settle(Effect):
    person: InsuredPerson
    document: IdentityDocument
    pre_settlement: PreSettlement
    fees: tuple[FeeItem, ...]


@dataclass(frozen=True)
class OpenPayment(Effect):
    person: InsuredPerson
    document: IdentityDocument
    pre_settlement: PreSettlement
    fees: tuple[FeeItem, ...]


@dataclass(frozen=True)
class AwaitPayment(Effect):
    """Wait a short while for the order to change (notifications, queries)."""

    order: PaymentOrder


@dataclass(frozen=True)
class PayWithCode(Effect):
    order: PaymentOrder
    code: str  # the patient's payment code (never logged whole)

    def __repr__(self) -> str:
        return f"PayWithCode({self.visit_id}, {self.order.order_no}, {mask_token(self.code)})"


@dataclass(frozen=True)
class SettlePaid(Effect):
    reference: str


@dataclass(frozen=True)
class AbandonPayment(Effect):
    """Close the order; the plan then undoes the registration (or settles, if the money came after all)."""

    reference: str
    order: PaymentOrder | None


@dataclass(frozen=True)
class SettleOffline(Effect):
    person: InsuredPerson
    document: IdentityDocument
    fees: tuple[FeeItem, ...]


@dataclass(frozen=True)
class CancelPrepared(Effect):
    person: InsuredPerson
    pre_settlement: PreSettlement


@dataclass(frozen=True)
class CheckPrinter(Effect):
    """Preflight before a paid step: online, paper."""


@dataclass(frozen=True)
class PrintReceipt(Effect):
    person: InsuredPerson
    fees: tuple[FeeItem, ...]
    settlement: Settlement | None = None
    queued: QueuedSettlement | None = None
    authorised_by: str = ""  # a family account: who authorised the payment (masked name)
    registered: Registered | None = None  # a registration with a doctor: the queue number and where to wait


@dataclass(frozen=True)
class AwaitInterruptedOutcome(Effect):
    reference: str  # the outbox item of the visit shown "being settled" after a restart: wait a slice for its end


@dataclass(frozen=True)
class VisitEnded(Effect):
    """The visit is over: how it ended, for the metrics (kiosk/visit_outcome.py)."""

    outcome: str
    errand: str


@dataclass(frozen=True)
class ShowErrand(Effect):
    person: InsuredPerson
    errand: str


@dataclass(frozen=True)
class ListDepartments(Effect):
    pass


@dataclass(frozen=True)
class ListSlots(Effect):
    dept_code: str


@dataclass(frozen=True)
class LockSlot(Effect):
    person: InsuredPerson
    slot: DoctorSlot


@dataclass(frozen=True)
class ReleaseSlot(Effect):
    lock_id: str


@dataclass(frozen=True)
class ConfirmRegistration(Effect):
    lock_id: str
    mdtrt_id: str
    setl_id: str


@dataclass(frozen=True)
class OpenInvoice(Effect):
    invoice_no: str


@dataclass(frozen=True)
class PrintInvoice(Effect):
    invoice_no: str
    pdf: bytes | None = None  # the document the patient saw (None: fetched here)


@dataclass(frozen=True)
class PrintCopy(Effect):
    person: InsuredPerson
    record: tuple[str, ...]  # a row of kiosk.errands.records_view


@dataclass(frozen=True)
class IdentifyByFace(Effect):
    """Capture a live face (quality gate, liveness) and let the voucher platform identify it with the ID
    number typed: authNo -> check -> ecToken -> 1101 with mdtrt_cert_type 01."""

    id_no: str
    attempt: int

    def __repr__(self) -> str:
        return f"IdentifyByFace({self.visit_id}, {mask_id(self.id_no)}, attempt {self.attempt})"


@dataclass(frozen=True)
class AuthoriseByFamily(Effect):
    id_no: str  # the patient's
    member_payload: str  # the family member's voucher code

    def __repr__(self) -> str:
        return f"AuthoriseByFamily({self.visit_id}, {mask_id(self.id_no)}, {mask_token(self.member_payload)})"


@dataclass(frozen=True)
class CheckVoucherPassword(Effect):
    ec_token: str
    password: str
    amount: str

    def __repr__(self) -> str:
        return f"CheckVoucherPassword({self.visit_id}, {mask_token(self.ec_token)}, ******, {self.amount})"


@dataclass(frozen=True)
class WipeSecrets(Effect):
    """Zero the session's face template and tokens (privacy reset)."""
