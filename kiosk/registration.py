"""Same-day registration (挂号) at the kiosk: the hospital system's departments and doctors' slots, a slot
locked while the patient pays the registration fee (through the ordinary 2201/2204/2206/2207 sequence, the
own share collected first), then confirmed for a queue number; released when the patient abandons or the
payment fails."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kiosk.domain import FeeItem
from kiosk.errors import KioskError

REGISTRATION_ITEM = "GH0001"  # the hospital's own item code for a registration fee (medins_list_codg)


@dataclass(frozen=True)
class Department:
    code: str  # dept_code in 2201
    name: str  # dept_name
    caty: str  # the national department (specialty) code
    place: str  # where the patient waits
    remaining: int  # slots left today, all doctors


@dataclass(frozen=True)
class DoctorSlot:
    slot_id: str
    dept_code: str
    dept_name: str
    caty: str
    atddr_no: str  # the doctor's national code (2201 atddr_no)
    dr_name: str
    title: str
    period: str  # 上午 / 下午
    fee: Decimal
    med_list_codg: str
    remaining: int

    def fee_item(self) -> FeeItem:
        """The registration fee as the one fee line of the visit (2204)."""
        return FeeItem(feedetl_sn=f"GH{self.slot_id}"[:30], name=f"挂号费 {self.dept_name} {self.dr_name}",
                       med_list_codg=self.med_list_codg, medins_list_codg=REGISTRATION_ITEM,
                       quantity=Decimal(1), price=self.fee, amount=self.fee)

    def visit_fields(self, ipt_otp_no: str) -> dict[str, str]:
        """What 2201 carries for a registration with a doctor."""
        return {"dept_code": self.dept_code, "dept_name": self.dept_name, "caty": self.caty,
                "atddr_no": self.atddr_no, "dr_name": self.dr_name, "ipt_otp_no": ipt_otp_no}


@dataclass(frozen=True)
class SlotLock:
    lock_id: str
    slot: DoctorSlot
    expires_in_s: float


@dataclass(frozen=True)
class Registered:
    """The hospital system confirmed the registration: the patient's number and where to wait."""

    queue_no: str
    place: str


class SlotRefused(KioskError):
    """The hospital system will not give or keep the slot: ``reason`` full, unknown_slot or expired."""

    code = 432

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
