"""Ports: what the core needs from the outside world, as ``typing.Protocol``.

Each port has a real adapter and a simulated twin in ``drivers/`` (or
``offline_queue/``). Blocking methods run on the device's owning worker thread,
never on the GUI thread; they raise only :mod:`kiosk.errors` exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from kiosk.domain import CardIdentity, FeeItem, InsuredPerson, ResolvedVoucher, StaffMember
from kiosk.face_quality import FaceObservation
from kiosk.invoices import EInvoice
from kiosk.registration import Department, DoctorSlot, Registered, SlotLock
from kiosk.payment import PaymentOrder, PaymentStatus, RefundStatus

DepthFrame = npt.NDArray[np.uint16]  # millimetres, aligned with the colour frame; 0 = no measurement
Frame = npt.NDArray[np.uint8]  # H x W x 3, RGB
Template = npt.NDArray[np.float64]  # face embedding: 512 floats (arcface encoder) or 128 (dlib's)
FACE_ENCODERS = {"arcface": 512, "dlib": 128}  # face encoder (config face.encoder) -> its template size
TEMPLATE_SIZES = tuple(sorted(FACE_ENCODERS.values()))


def is_template(values: object) -> bool:
    """A finite 1-D vector of one of the encoders' sizes (templates from outside are checked with this)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return array.ndim == 1 and array.shape[0] in TEMPLATE_SIZES and bool(np.isfinite(array).all())


@runtime_checkable
class CardReader(Protocol):
    """A PC/SC reader (or its twin) holding a social-security card."""

    description: str

    @property
    def healthy(self) -> bool:
        """False while the reader cannot be used (no reader, pcscd not running): the kiosk says so."""

    def set_listener(self, on_inserted: Callable[[], None], on_removed: Callable[[], None]) -> None:
        """Callbacks run on the reader's monitor thread; the UI bridges them to the GUI thread."""

    def start(self) -> None:
        """Begin watching for cards (a monitor thread where the transport needs one)."""

    def read_identity(self) -> CardIdentity:
        """Read EF05/EF06. Raises CardError subclasses (removed, mute, not SSC, corrupt, reader unavailable)."""

    def close(self) -> None: ...


@runtime_checkable
class Camera(Protocol):
    """A frame source that keeps only the latest frame (never a growing queue)."""

    description: str
    is_live: bool  # False for replayed images/video: liveness cannot honestly pass

    def start(self) -> None: ...

    def latest_frame(self) -> Frame | None: ...

    def stop(self) -> None: ...


@runtime_checkable
class VoucherPlatform(Protocol):
    """The electronic-voucher platform (PROTOCOL.md sections 3 and 10): a scanned code, a face or a family
    member's code -> the holder and a short-lived ecToken; the voucher password above the limit."""

    def resolve(self, payload: str) -> ResolvedVoucher:
        """Raises VoucherInvalid (expired or unknown code) or a GatewayError."""
        ...

    def face_auth(self, id_no: str, face: Frame, *, liveness: str) -> str:
        """cn.nhsa.ec.auth: one cropped face frame (live, after liveness) and the ID number typed -> authNo.
        The adapter encodes the frame in memory and zeroes what it can after sending. Raises FaceAuthRefused
        (mismatch, locked, no_photo, rate_limited, ...) or a GatewayError."""
        ...

    def check(self, auth_no: str) -> ResolvedVoucher:
        """cn.nhsa.auth.check: authNo -> ecToken, idNo, insuOrg (then 1101 with mdtrt_cert_type 01)."""
        ...

    def verify_password(self, ec_token: str, password: str, amount: str) -> None:
        """The voucher password for a payment above the limit; returns when accepted. Raises
        VoucherPasswordRefused (remaining tries, or locked) or a GatewayError. Never logs the password."""
        ...

    def family_auth(self, id_no: str, member_payload: str) -> ResolvedVoucher:
        """A family member's voucher code authorises for the person with ``id_no`` when the platform
        confirms the binding: the patient's ecToken, ``authorised_by`` set. Raises FamilyAuthRefused."""
        ...


@runtime_checkable
class QrSource(Protocol):
    """Delivers decoded QR payloads (camera decoder or hardware scanner)."""

    description: str

    def set_listener(self, on_scanned: Callable[[str], None]) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class DepthCamera(Protocol):
    """A depth camera registered to the colour camera (structured light or time of flight, as the
    national terminal specification asks for face payment): depth in millimetres per colour pixel,
    0 where nothing was measured. Runs its own capture thread; ``latest_depth`` never blocks."""

    description: str

    def latest_depth(self) -> DepthFrame | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class FaceSample:
    """One encoded face: its box (top, right, bottom, left) in frame pixels and its template."""

    box: tuple[int, int, int, int]
    template: Template


@runtime_checkable
class FaceEngine(Protocol):
    """Detection + embedding. Heavy: loaded lazily, runs on the vision worker."""

    def analyse(self, frame: Frame) -> FaceObservation | None:
        """Largest face: box, 68 landmarks, quality measures (no encoding: cheap)."""
        ...

    def encode(self, frame: Frame, obs: FaceObservation) -> Template:
        """128-d template of the observed face (expensive: only for frames the quality gate passed)."""
        ...

    def encode_largest_face(self, frame: Frame) -> FaceSample | None: ...


@runtime_checkable
class StaffRoster(Protocol):
    """Enrolled clinicians (encrypted at rest); ``get`` returns the template, ``search`` never does."""

    def get(self, staff_no: str) -> StaffMember | None: ...

    def search(self, text: str = "") -> list[StaffMember]: ...


@dataclass(frozen=True)
class PositionReading:
    """A location fix. ``mode`` 0 none, 2 2D, 3 3D; accuracy in metres; age in seconds."""

    latitude: float
    longitude: float
    mode: int
    accuracy_m: float
    age_s: float
    source: str
    fix_time: float = 0.0  # seconds (epoch) when the fix was taken, for the speed check between fixes


@runtime_checkable
class LocationSource(Protocol):
    description: str

    def current(self) -> PositionReading | None: ...


@dataclass(frozen=True)
class PrinterStatus:
    online: bool
    paper: bool
    detail: str = ""


@runtime_checkable
class ReceiptPrinter(Protocol):
    description: str

    def preflight(self) -> PrinterStatus: ...

    def print_document(self, lines: list[str], qr_payload: str, *, name: str) -> str:
        """Print a laid-out document; returns where it went (a path for the file printer)."""


@runtime_checkable
class DocumentPrinter(Protocol):
    """The kiosk's A4 printer (electronic invoices), through the print system (CUPS)."""

    description: str

    def preflight(self) -> PrinterStatus: ...

    def print_pdf(self, pdf: bytes, *, title: str) -> str:
        """Queue a PDF; returns the print system's job id. Raises PrinterError with the reason."""


@runtime_checkable
class InsuranceGateway(Protocol):
    """The national interface: one envelope, many transactions."""

    def call(
        self,
        infno: str,
        input_: Mapping[str, Any],
        *,
        msgid: str,
        insuplc_admdvs: str = "",
    ) -> Mapping[str, Any]:
        """Send one transaction and return its ``output``.

        Raises GatewayUnreachable (nothing sent), GatewayNoAnswer (outcome unknown),
        GatewayProtocolError (malformed answer), GatewayBusinessError (infcode -1).
        """

    def probe(self) -> bool:
        """Cheap connectivity check (no transaction)."""


@runtime_checkable
class HospitalSystem(Protocol):
    """The hospital information system: outstanding orders, enrolled face references, the person's
    settlements and electronic invoices. The contract is in docs/architecture.md ("Hospital system")."""

    def pending_fees(self, person: InsuredPerson) -> tuple[FeeItem, ...]: ...

    def reference_template(self, person: InsuredPerson) -> Template | None: ...

    def recent_settlements(self, person: InsuredPerson, days: int) -> tuple[tuple[str, str], ...]:
        """(setl_id, mdtrt_id) of the person's settlements in the last ``days`` days, newest first."""
        ...

    def invoices(self, person: InsuredPerson) -> tuple[EInvoice, ...]:
        """The person's electronic invoices, newest first (the hospital's e-invoice service)."""
        ...

    def invoice_for_settlement(self, setl_id: str) -> EInvoice | None:
        """The e-invoice the hospital issued for a settlement just made (number, phone URL), or None."""
        ...

    def invoice_pdf(self, invoice_no: str) -> bytes:
        """The invoice as a PDF. Raises InvoiceRefused(unknown_invoice) or GatewayError subclasses."""
        ...

    def claim_invoice_print(self, invoice_no: str) -> None:
        """Claim the invoice's one paper print for this terminal, before printing. Raises InvoiceRefused
        (already_printed, voided, unknown_invoice)."""
        ...

    def release_invoice_print(self, invoice_no: str) -> None:
        """Give the claim back: the print did not happen."""
        ...

    def departments(self) -> tuple[Department, ...]:
        """Today's departments with the slots left (same-day registration)."""
        ...

    def slots(self, dept_code: str) -> tuple[DoctorSlot, ...]:
        """The department's doctors today, each with the slots left."""
        ...

    def lock_slot(self, slot: DoctorSlot, person: InsuredPerson) -> SlotLock:
        """Hold one slot while the patient pays. Raises SlotRefused (full, unknown_slot)."""
        ...

    def release_slot(self, lock_id: str) -> None:
        """The patient did not register (abandoned, failed): the slot goes back."""
        ...

    def confirm_registration(self, lock_id: str, mdtrt_id: str, setl_id: str) -> Registered:
        """The fee is settled (or queued): the queue number. Raises SlotRefused(expired)."""
        ...


@runtime_checkable
class PaymentGateway(Protocol):
    """The hospital's payment platform for the patient's own share (or a bank-card terminal behind the
    same port). Money is Decimal; order and refund numbers are ours. Raises PaymentUnknown when the
    outcome of a call is unknown (nothing reached the provider, or the answer was lost or unsigned) and
    PaymentDeclined when the provider refused; never anything else."""

    description: str

    def create(self, order_no: str, amount: Any, subject: str) -> PaymentOrder:
        """Create (idempotently: the same number returns the same order) an order with a QR code."""

    def pay_with_code(self, order_no: str, amount: Any, auth_code: str) -> PaymentStatus:
        """Charge the patient's payment code against the order: SUCCESS, or USERPAYING while the patient
        confirms in the app. Declined codes raise PaymentDeclined."""

    def query(self, order_no: str) -> PaymentStatus:
        """The order's state now; an order the provider never created is CLOSED (nothing taken)."""

    def close(self, order_no: str) -> PaymentStatus:
        """Close an unpaid order (nothing can be paid on it after); a paid order stays SUCCESS."""

    def refund(self, order_no: str, refund_no: str, amount: Any) -> RefundStatus:
        """Refund a paid order; the same refund number never refunds twice."""

    def notifications(self) -> list[PaymentStatus]:
        """Signed asynchronous notifications received since the last call (may repeat, may be lost)."""

    def day_bill(self, day: str) -> list[PaymentStatus]:
        """Every order of a day (yyyy-mm-dd) with its state, for reconciliation."""


@runtime_checkable
class MsgIdSource(Protocol):
    def next_msgid(self) -> str:
        """30 chars: institution (12) + yyyyMMddHHmmss + 4-digit per-day sequence, durable across restarts."""


@dataclass(frozen=True)
class Delivery:
    """What happened to one outbox item on one delivery attempt."""

    reference: str
    state: str  # pending | in_flight | done | ambiguous | failed | cancelled | dead
    result: Mapping[str, Any] | None = None
    error: str = ""


@runtime_checkable
class Outbox(Protocol):
    """Durable outbox: ``enqueue`` returns only after the row is committed."""

    def enqueue(self, *, visit_id: str, kind: str, payload: Mapping[str, Any], not_before: float | None = None,
                holds_visit: bool = False) -> str:
        """Commit an item; ``holds_visit``: it is the settlement of the visit on screen, remembered (in the
        same transaction) until ``visit_closed``, so a restart can show the patient how it ended."""

    def visit_closed(self, visit_id: str) -> None:
        """The patient has seen how the visit ended (or it ended before anything was committed)."""

    def interrupted_visit(self) -> tuple[str, str] | None:
        """(visit id, reference) of a visit whose settlement was committed and never seen ended."""

    def item_state(self, reference: str) -> tuple[str, Mapping[str, Any] | None]:
        """(state, result) of one item."""

    def deliver(self, reference: str) -> Delivery:
        """Try to deliver one item now, on the caller's (worker) thread."""

    def pending_count(self) -> int: ...

    def payload(self, reference: str) -> dict[str, Any]:
        """The item's plan as last saved (decrypted)."""


class Telemetry(Protocol):
    """Counts and timings for the operations team (the real adapter: drivers/metrics, Prometheus; the twin:
    drivers/metrics/recording.py). Labels are fixed words, never personal data. Called from worker threads."""

    def visit_ended(self, outcome: str, errand: str) -> None: ...

    def face_checked(self, verdict: str, liveness: str, seconds: float) -> None: ...

    def gateway_answered(self, infno: str, seconds: float, outcome: str, skew_s: float | None) -> None: ...

    def qr_frame(self, stage: str) -> None: ...

    def printer_checked(self, online: bool, paper: bool) -> None: ...
