"""Transitions of the visit machine for same-day registration (挂号), the services menu's "registration"
errand (kiosk/registration.py). Mixed into :class:`kiosk.visit.VisitMachine`.

    SERVICES -(tile)-> REG_DEPARTMENT -(department)-> REG_DOCTOR -(doctor: slot locked, benefit checked)->
    FEE_REVIEW (the registration fee) -> PREPARING (2201 with the department and doctor, 2204, 2206) -> CONFIRM
    [-> PAYING] -> SETTLING (2207) -> RECEIPT (the hospital system confirms: queue number; then the slip)

Leaving before the fee is settled (Cancel, the idle countdown, a failure) releases the slot; the machine's
reset also cancels the 2201 (2202) as for any unsettled visit. A full doctor or department says so and the
patient picks another.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from kiosk.visit_messages import (
    BackToServices,
    ConfirmRegistration,
    DepartmentChosen,
    DepartmentsShown,
    Effect,
    ListDepartments,
    ListSlots,
    LockSlot,
    PrintReceipt,
    RegistrationConfirmed,
    RegistrationFailed,
    ReleaseSlot,
    SlotChosen,
    SlotLocked,
    SlotsShown,
    State,
)
from kiosk.visit_outcome import note_errand_shown

if TYPE_CHECKING:
    from kiosk.domain import VisitContext


class RegistrationTransitions:
    """Needs from the machine: ``ctx``, ``visit_id``, ``_go`` and ``_authorised_by``."""

    ctx: VisitContext
    visit_id: str

    def _go(self, state: State) -> None: ...  # noqa: D102 - provided by VisitMachine

    def _authorised_by(self) -> str: ...  # noqa: D102

    def _start_registration(self) -> list[Effect]:
        self.ctx.extra["errand_hint"] = "loading:registration"
        return [ListDepartments(self.visit_id)]

    def _on_departments(self, e: DepartmentsShown) -> list[Effect]:
        self.ctx.departments, self.ctx.extra["errand_hint"], self.ctx.extra["reg_hint"] = e.departments, "", ""
        note_errand_shown(self.ctx, "registration")
        self._go(State.REG_DEPARTMENT)
        return []

    def _pick(self, options: tuple[Any, ...], index: int) -> Any:
        """The department or doctor touched, now loading; None when it is no option, another is loading, or
        it has nothing left (said: another may be chosen)."""
        if not 0 <= index < len(options) or self.ctx.extra.get("reg_hint") == "loading":
            return None
        if options[index].remaining <= 0:
            self.ctx.extra["reg_hint"] = "failed:full"
            return None
        self.ctx.extra["reg_hint"] = "loading"
        return options[index]

    def _on_department(self, e: DepartmentChosen) -> list[Effect]:
        department = self._pick(self.ctx.departments, e.index)
        return [] if department is None else [ListSlots(self.visit_id, department.code)]

    def _on_slots(self, e: SlotsShown) -> list[Effect]:
        self.ctx.slots, self.ctx.extra["reg_hint"] = e.slots, ""
        self._go(State.REG_DOCTOR)
        return []

    def _on_slot(self, e: SlotChosen) -> list[Effect]:
        assert self.ctx.person is not None
        slot = self._pick(self.ctx.slots, e.index)
        return [] if slot is None else [LockSlot(self.visit_id, self.ctx.person, slot)]

    def _on_slot_locked(self, e: SlotLocked) -> list[Effect]:
        assert e.lock is not None and self.ctx.person is not None
        self.ctx.slot_lock, self.ctx.extra["reg_hint"] = e.lock, ""
        self.ctx.person = dataclasses.replace(self.ctx.person, doctor=e.lock.slot)  # 2201 names the doctor
        self.ctx.fees = (e.lock.slot.fee_item(),)
        self._go(State.FEE_REVIEW)
        return []

    def _on_registration_failed(self, e: RegistrationFailed) -> list[Effect]:
        """On the department or doctor screen: say why (full: another may be chosen)."""
        self.ctx.extra["reg_hint"] = f"failed:{e.reason}"
        return []

    def _on_registration_back(self, _: BackToServices) -> list[Effect]:
        self.ctx.extra["reg_hint"] = ""
        if self.ctx.slots:
            self.ctx.slots = ()
            self._go(State.REG_DEPARTMENT)
        else:
            self.ctx.departments = ()
            self._go(State.SERVICES)
        return []

    # -- after 2207: the hospital system confirms, then the slip ------------------------------------------

    def _confirm_or_print(self) -> list[Effect]:
        """On Settled/Queued: a registration is confirmed first (its slip carries the queue number)."""
        lock, pre = self.ctx.slot_lock, self.ctx.pre_settlement
        if lock is not None:
            self.ctx.extra["reg_hint"] = "confirming"
            setl_id = self.ctx.settlement.setl_id if self.ctx.settlement is not None else ""
            return [ConfirmRegistration(self.visit_id, lock.lock_id, pre.mdtrt_id if pre else "", setl_id)]
        return [self._receipt()]

    def _on_registration_confirmed(self, e: RegistrationConfirmed) -> list[Effect]:
        self.ctx.registered, self.ctx.extra["reg_hint"] = e.registered, ""
        return [self._receipt()]

    def _on_confirmation_failed(self, e: RegistrationFailed) -> list[Effect]:
        """Paid but not confirmed (the lock ran out, the hospital system away): the slip says to go to the
        registration counter with it."""
        self.ctx.extra["reg_hint"] = f"failed:{e.reason}"
        return [self._receipt()]

    def _receipt(self) -> PrintReceipt:
        assert self.ctx.person is not None
        return PrintReceipt(self.visit_id, self.ctx.person, self.ctx.fees, settlement=self.ctx.settlement,
                            queued=self.ctx.queued, authorised_by=self._authorised_by(), registered=self.ctx.registered)

    def _slot_release(self) -> list[Effect]:
        """On reset: a slot held for a visit that did not settle goes back."""
        lock = self.ctx.slot_lock
        if lock is None or self.ctx.settlement is not None or self.ctx.queued is not None:
            return []
        return [ReleaseSlot(self.visit_id, lock.lock_id)]
