"""Same-day registration on the hospital system over HTTP (``/his/departments``, ``/his/slots...``,
``/his/registrations/confirm``; the contract is in docs/architecture.md, "Hospital system"), mixed into
``HttpHospitalSystem``, whose ``_request`` and ``terminal_no`` it uses."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from kiosk.domain import InsuredPerson
from kiosk.errors import GatewayProtocolError
from kiosk.registration import Department, DoctorSlot, Registered, SlotLock, SlotRefused

from drivers.gateway.his_answers import his_post, his_rows

log = logging.getLogger(__name__)
REFUSALS = ("full", "unknown_slot", "expired")


def _department(row: Any) -> Department:
    try:
        return Department(str(row["dept_code"]), str(row["dept_name"]), str(row["caty"]), str(row["place"]),
                          int(row["remaining"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise GatewayProtocolError(f"hospital system department malformed ({exc})") from None


def _slot(row: Any) -> DoctorSlot:
    try:
        fee = Decimal(str(row["fee"]))
        if not fee.is_finite() or fee < 0 or fee > 100000:
            raise ValueError(f"fee {row['fee']!r}")
        return DoctorSlot(str(row["slot_id"]), str(row["dept_code"]), str(row["dept_name"]), str(row["caty"]),
                          str(row["atddr_no"]), str(row["dr_name"]), str(row.get("title", "")),
                          str(row.get("period", "")), fee.quantize(Decimal("0.01")), str(row["med_list_codg"]),
                          int(row["remaining"]))
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise GatewayProtocolError(f"hospital system slot malformed ({exc})") from None


class HttpRegistrationService:
    terminal_no: str

    def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                 body: dict[str, Any] | None = None) -> Any: ...

    def departments(self) -> tuple[Department, ...]:
        return tuple(_department(r) for r in his_rows(self._request("GET", "/his/departments"), "departments"))

    def slots(self, dept_code: str) -> tuple[DoctorSlot, ...]:
        rows = his_rows(self._request("GET", "/his/slots", params={"dept_code": dept_code}), "slots")
        return tuple(_slot(r) for r in rows)

    def lock_slot(self, slot: DoctorSlot, person: InsuredPerson) -> SlotLock:
        answer = self._post("/his/slots/lock", {"slot_id": slot.slot_id, "psn_no": person.psn_no,
                                                "terminal_no": self.terminal_no})
        try:
            return SlotLock(str(answer["lock_id"]), slot, float(answer.get("expires_in", 0)))
        except (KeyError, TypeError, ValueError):
            raise GatewayProtocolError("slot lock answer malformed") from None

    def release_slot(self, lock_id: str) -> None:
        try:
            self._post("/his/slots/release", {"lock_id": lock_id})
        except SlotRefused:  # confirmed meanwhile, or unknown: nothing is held
            log.info("slot lock %s: nothing to release", lock_id)

    def confirm_registration(self, lock_id: str, mdtrt_id: str, setl_id: str) -> Registered:
        answer = self._post("/his/registrations/confirm", {"lock_id": lock_id, "mdtrt_id": mdtrt_id,
                                                           "setl_id": setl_id})
        try:
            return Registered(str(answer["queue_no"]), str(answer.get("place", "")))
        except (KeyError, TypeError):
            raise GatewayProtocolError("registration confirmation malformed") from None

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        refusals = (*REFUSALS, "not_locked") if path.endswith("release") else REFUSALS
        return his_post(self._request, path, body, refusals, SlotRefused)
