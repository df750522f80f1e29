"""Domain types: identities, insured persons, fees, settlements.

All frozen dataclasses; money is :class:`decimal.Decimal` exactly as the gateway
returned it (amount definitions differ by province: we print, never recompute).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from kiosk.insurance import MED_TYPE_CHRONIC, MED_TYPE_OUTPATIENT, ChronicFiling, InsuranceRecord
from kiosk.masking import mask_id, mask_name, mask_token
from kiosk.pre_audit import AuditWarning
from kiosk.payment import Payment, PaymentOrder


def decimal_or_none(value: Any) -> Decimal | None:
    """An amount as the gateway or the outbox wrote it, or None when it is missing or not a number."""
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


class CertType(str, Enum):
    """``mdtrt_cert_type``: how the patient identified."""

    VOUCHER = "01"
    ID_CARD = "02"
    SOCIAL_SECURITY_CARD = "03"


@dataclass(frozen=True)
class CardIdentity:
    """What EF05 and EF06 of a third-generation social-security card hold."""

    card_sn: str  # card identification code, 32 hex chars
    card_type: str
    spec_version: str
    issuer: str
    issue_date: dt.date
    expiry_date: dt.date
    card_no: str
    citizen_id: str
    name: str
    gender: str  # "1" male, "2" female
    ethnicity: str
    birthplace: str
    birth_date: dt.date

    def __repr__(self) -> str:  # never leak the ID number into logs
        return f"CardIdentity(card_no={mask_id(self.card_no)}, citizen_id={mask_id(self.citizen_id)})"


@dataclass(frozen=True)
class IdentityDocument:
    """The identification presented for 1101: a card, a voucher token or an ID number."""

    cert_type: CertType
    cert_no: str  # card number, ecToken or ID number
    card_sn: str = ""
    citizen_id: str = ""
    name: str = ""
    authorised_by: str = ""  # a family account: the masked name of the member whose voucher authorised it

    def __repr__(self) -> str:
        return f"IdentityDocument({self.cert_type.name}, {mask_id(self.cert_no)})"


@dataclass(frozen=True)
class ResolvedVoucher:
    """What the voucher platform returns for a scanned code (PROTOCOL.md section 3)."""

    id_no: str
    id_type: str
    name: str
    ec_token: str  # the 1101 mdtrt_cert_no for type 01; short-lived
    insu_org: str
    authorised_by: str = ""  # family account: the member who authorised (masked name), else empty

    def __repr__(self) -> str:
        return f"ResolvedVoucher({mask_id(self.id_no)}, token {mask_token(self.ec_token)})"

    def document(self) -> IdentityDocument:
        return IdentityDocument(CertType.VOUCHER, self.ec_token, citizen_id=self.id_no, name=self.name,
                                authorised_by=self.authorised_by)


@dataclass(frozen=True)
class InsuredPerson:
    """1101 output, reduced to what a visit needs."""

    psn_no: str
    certno: str
    name: str
    gender: str
    birth_date: str
    age: str
    insutype: str
    balance: Decimal
    insuplc_admdvs: str
    emp_name: str = ""
    records: tuple[InsuranceRecord, ...] = ()  # every insuinfo record; the fields above are the chosen one's
    med_type: str = MED_TYPE_OUTPATIENT  # this visit's: 11 ordinary outpatient, 14 chronic/special disease
    dise_codg: str = ""  # the chronic disease the visit is for (med_type 14)
    dise_name: str = ""
    doctor: Any = None  # this visit's registration with a doctor (kiosk.registration.DoctorSlot): 2201's department

    def __repr__(self) -> str:
        return f"InsuredPerson(psn_no={mask_id(self.psn_no)}, name={mask_name(self.name)})"

    @property
    def must_choose(self) -> bool:
        """Several records: the patient chooses; the first is never taken silently."""
        return len(self.records) > 1

    @property
    def record(self) -> InsuranceRecord:
        """The record in use (the chosen one)."""
        for record in self.records:
            if (record.insutype, record.insuplc_admdvs) == (self.insutype, self.insuplc_admdvs):
                return record
        return InsuranceRecord(self.insutype, self.balance, self.insuplc_admdvs, emp_name=self.emp_name)

    def for_visit(self, filing: ChronicFiling | None) -> InsuredPerson:
        """This person's visit as a chronic-disease visit for ``filing``, or as an ordinary one (None)."""
        if filing is None:
            return replace(self, med_type=MED_TYPE_OUTPATIENT, dise_codg="", dise_name="")
        return replace(self, med_type=MED_TYPE_CHRONIC, dise_codg=filing.code, dise_name=filing.name)

    def choosing(self, index: int) -> InsuredPerson:
        """This person with record ``index`` in use (its insutype and insured region go into every message)."""
        record = self.records[index]
        return replace(self, insutype=record.insutype, balance=record.balance,
                       insuplc_admdvs=record.insuplc_admdvs, emp_name=record.emp_name)


@dataclass(frozen=True)
class FeeItem:
    """One outstanding fee line from the hospital information system."""

    feedetl_sn: str
    name: str
    med_list_codg: str
    medins_list_codg: str
    quantity: Decimal
    price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class SettlementAmounts:
    """The split as the gateway returned it (2206 trial or 2207 settlement)."""

    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    hifp_pay: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    balc: Decimal
    other_funds: tuple[tuple[str, Decimal], ...] = ()  # the other funds the answer itemised (OTHER_FUNDS)

    def funds(self) -> dict[str, str]:
        """Every non-zero amount that pays the bill, by its 2207 field name, exactly as returned: the
        individual funds, the personal and family accounts, cash (not the fund_pay_sumamt subtotal)."""
        named = [("hifp_pay", self.hifp_pay), *self.other_funds, ("acct_pay", self.acct_pay),
                 ("psn_cash_pay", self.psn_cash_pay)]
        return {name: f"{amount:.2f}" for name, amount in named if amount != 0}

    def adds_up(self) -> bool:
        """The itemised amounts make exactly the bill (to the cent)."""
        return sum((Decimal(v) for v in self.funds().values()), Decimal("0")) == self.medfee_sumamt


# 2206/2207 ``setlinfo`` amounts beside the pooled fund, the personal account and cash (PROTOCOL.md section 8)
OTHER_FUNDS = ("cvlserv_pay", "hifes_pay", "hifmi_pay", "hifob_pay", "maf_pay", "oth_pay", "acct_mulaid_pay")


@dataclass(frozen=True)
class PreSettlement:
    """2201 + 2204 + 2206 done: what the patient is asked to confirm."""

    mdtrt_id: str
    chrg_bchno: str
    amounts: SettlementAmounts
    warnings: tuple[AuditWarning, ...] = ()  # the pre-audit's (3101), shown before the patient confirms


@dataclass(frozen=True)
class Settlement:
    """A completed 2207."""

    setl_id: str
    mdtrt_id: str
    msgid: str
    setl_time: str
    amounts: SettlementAmounts
    payment: Payment | None = None  # the patient's own share, collected before 2207


@dataclass(frozen=True)
class QueuedSettlement:
    """A settlement committed to the outbox but not yet confirmed by the gateway."""

    reference: str  # the outbox reference printed on the slip
    medfee_sumamt: Decimal
    paid: Payment | None = None  # the own share already paid: the outbox settles against it


@dataclass(frozen=True)
class RefundedPayment:
    """The own share was paid, the settlement did not happen, and the money went back."""

    amount: Decimal
    reason: str


@dataclass(frozen=True)
class FaceMatch:
    """Outcome of a 1:1 comparison."""

    score: float  # cohort-normalised, fused over good frames (kiosk/face_score.py); higher is more alike
    verdict: str  # match, grey, mismatch
    accepted: bool  # match and live (or demo mode, which says why liveness was skipped)
    liveness: str  # "passed", "failed: <reason>", "not run: <verdict>", or "unavailable: <why>" (demo only)


@dataclass
class VisitContext:
    """Mutable per-visit facts; wiped by :meth:`wipe` at every privacy reset."""

    document: IdentityDocument | None = None
    person: InsuredPerson | None = None
    fees: tuple[FeeItem, ...] = ()
    pre_settlement: PreSettlement | None = None
    settlement: Settlement | None = None
    queued: QueuedSettlement | None = None
    face: FaceMatch | None = None
    face_attempts: int = 0
    payment_order: PaymentOrder | None = None  # the open order for the own share
    payment_reference: str = ""  # the outbox item holding the order and the settlement plan
    refunded: RefundedPayment | None = None
    chronic: tuple[ChronicFiling, ...] = ()  # the person's chronic-disease filings (5301), when there are any
    interrupted: Any = None  # kiosk.interrupted_visit.InterruptedVisit shown after a restart
    typed_id: str = field(default="", repr=False)  # face swipe: the ID number typed on the keypad
    errand: Any = None  # kiosk.errands.ErrandView on the errand screen
    invoice_preview: Any = field(default=None, repr=False)  # the open e-invoice's first page (RGB), screen only
    invoice_pdf: bytes | None = field(default=None, repr=False)  # the open e-invoice as fetched: what is printed
    departments: tuple[Any, ...] = ()  # registration: kiosk.registration.Department offered today
    slots: tuple[Any, ...] = ()  # registration: the chosen department's DoctorSlots
    slot_lock: Any = None  # registration: the SlotLock held while the patient pays
    registered: Any = None  # registration: kiosk.registration.Registered (queue number) once confirmed
    error_code: int = 0
    error_message: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def wipe(self) -> None:
        """Forget everything about the patient."""
        self.__init__()  # type: ignore[misc]


@dataclass
class StaffMember:
    """A clinician enrolled for face-plus-position login. The template never appears in repr or logs."""

    staff_no: str
    name: str
    department: str
    doctor_code: str  # national practising-doctor code
    template: Any = field(default=None, repr=False, compare=False)  # 512 (or 128) floats, held only while needed

    def public(self) -> dict[str, str]:
        return {"staff_no": self.staff_no, "name": self.name, "department": self.department,
                "doctor_code": self.doctor_code}
