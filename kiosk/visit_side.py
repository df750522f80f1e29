"""Transitions of the visit machine (``kiosk/visit.py``) that are ways in and out of the ordinary visit:
face swipe through the voucher platform, the family account, the voucher password above the limit
(PROTOCOL.md section 10), and the information errands of the services menu (``kiosk/errands.py``).
Mixed into :class:`kiosk.visit.VisitMachine`; kept apart so each module stays small."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.errands import INFO_ERRANDS
from kiosk.id_number import id_number_problem, normalised
from kiosk.visit_outcome import note_errand_shown
from kiosk.voucher import VoucherRefused, validate_voucher
from kiosk.visit_messages import (
    AuthoriseByFamily,
    BackToServices,
    CheckVoucherPassword,
    CopyRequested,
    Effect,
    ErrandChosen,
    ErrandFailed,
    ErrandShown,
    FaceAuthFailed,
    FaceIdentified,
    FaceSwipeChosen,
    Failed,
    FamilyAuthFailed,
    IdentifyByFace,
    Identified,
    IdNumberEntered,
    PasswordChecked,
    PasswordEntered,
    PrintCopy,
    ReceiptPrinted,
    ShowErrand,
    State,
    VoucherScanned,
)

if TYPE_CHECKING:
    from kiosk.domain import VisitContext


class SideTransitions:
    """Needs from the machine: ``ctx``, ``visit_id``, ``max_face_attempts``, ``max_password_tries``,
    ``_go``, ``_fail``, ``_begin_visit`` and ``_commit_settlement``."""

    ctx: VisitContext
    visit_id: str
    max_face_attempts: int
    max_password_tries: int

    def _go(self, state: State) -> None: ...  # noqa: D102 - provided by VisitMachine

    def _fail(self, event: Failed) -> list[Effect]: ...  # noqa: D102

    def _begin_visit(self) -> None: ...  # noqa: D102

    def _commit_settlement(self) -> list[Effect]: ...  # noqa: D102

    # -- information errands (kiosk/errands.py) ---------------------------------------------------------

    def _on_errand(self, e: ErrandChosen) -> list[Effect]:
        assert self.ctx.person is not None
        if self.ctx.extra.get("errand_hint", "").startswith("loading"):
            return []
        if e.errand == "registration":  # kiosk/visit_registration.py, mixed in beside this
            return self._start_registration()  # type: ignore[attr-defined]
        if e.errand not in INFO_ERRANDS:
            return []
        self.ctx.extra["errand_hint"] = f"loading:{e.errand}"
        return [ShowErrand(self.visit_id, self.ctx.person, e.errand)]

    def _on_errand_shown(self, e: ErrandShown) -> list[Effect]:
        assert e.view is not None
        self.ctx.errand, self.ctx.extra["errand_hint"] = e.view, ""
        note_errand_shown(self.ctx, e.view.errand)
        self._go(State.ERRAND)
        return []

    def _on_errand_failed(self, e: ErrandFailed) -> list[Effect]:
        self.ctx.extra["errand_hint"] = f"failed:{e.errand}.{e.reason}"  # the other errands stay usable
        return []

    def _on_copy(self, e: CopyRequested) -> list[Effect]:
        view, person = self.ctx.errand, self.ctx.person
        if view is None or person is None or view.errand != "records" or not 0 <= e.index < len(view.rows) \
                or self.ctx.extra.get("copy_hint") == "printing":
            return []
        self.ctx.extra["copy_hint"] = "printing"
        return [PrintCopy(self.visit_id, person, view.rows[e.index])]

    def _on_copy_printed(self, e: ReceiptPrinted) -> list[Effect]:
        self.ctx.extra["copy_hint"] = f"failed:{e.error}" if e.error else "printed"
        self.ctx.extra["copy_path"] = e.path
        return []

    def _on_back(self, _: BackToServices) -> list[Effect]:
        self.ctx.errand = None
        self.ctx.extra["copy_hint"] = ""
        self._go(State.SERVICES)
        return []

    # -- face swipe (PROTOCOL.md section 10), family account, voucher password --------------------------

    def _on_face_swipe(self, _: FaceSwipeChosen) -> list[Effect]:
        self._begin_visit()
        self.ctx.extra["identified_by"] = "face"
        self._go(State.CONSENT)
        return []

    def _on_id_entered(self, e: IdNumberEntered) -> list[Effect]:
        problem = id_number_problem(e.id_no)
        if problem is not None:  # nothing is sent: a typing slip costs no platform attempt
            self.ctx.extra["id_problem"] = problem
            return []
        self.ctx.extra["id_problem"] = ""
        self.ctx.typed_id = normalised(e.id_no)
        self._go(State.FACE_VERIFY)
        self.ctx.face_attempts = 1
        return [IdentifyByFace(self.visit_id, self.ctx.typed_id, 1)]

    def _on_face_identified(self, e: FaceIdentified) -> list[Effect]:
        assert e.person is not None and e.document is not None
        self.ctx.person, self.ctx.document, self.ctx.face = e.person, e.document, e.match
        self._go(State.CHOOSE_INSURANCE if e.person.must_choose else State.SERVICES)
        return []

    def _on_face_auth_failed(self, e: FaceAuthFailed) -> list[Effect]:
        self.ctx.face = e.match
        if e.reason == "no_photo":  # nothing on file to match: a family member's voucher may authorise
            self.ctx.extra["family_hint"] = ""
            self._go(State.FAMILY_ACCOUNT)
            return []
        if e.reason in ("locked", "rate_limited", "unknown_person", "liveness_required"):
            self.ctx.extra["retry_after_s"] = str(e.retry_after_s)
            return self._fail(Failed(code=206, message=f"face_swipe.{e.reason}"))
        if self.ctx.face_attempts >= self.max_face_attempts:  # mismatch, liveness, no face: counted
            return self._fail(Failed(code=206, message="face_swipe.attempts_exhausted"))
        self.ctx.face_attempts += 1
        return [IdentifyByFace(self.visit_id, self.ctx.typed_id, self.ctx.face_attempts)]

    def _on_family_scan(self, e: VoucherScanned) -> list[Effect]:
        if self.ctx.extra.get("family_hint") == "checking":
            return []
        try:
            token = validate_voucher(e.payload)
        except VoucherRefused as refused:
            self.ctx.extra["family_hint"] = f"refused.{refused.reason}"
            return []
        self.ctx.extra["family_hint"] = "checking"
        return [AuthoriseByFamily(self.visit_id, self.ctx.typed_id, token)]

    def _on_family_identified(self, e: Identified) -> list[Effect]:
        assert e.person is not None
        self.ctx.person, self.ctx.document = e.person, e.document
        self._go(State.CHOOSE_INSURANCE if e.person.must_choose else State.SERVICES)
        return []

    def _on_family_failed(self, e: FamilyAuthFailed) -> list[Effect]:
        self.ctx.extra["family_hint"] = f"refused.{e.reason}"  # another member may try, or Cancel
        return []

    def _on_password(self, e: PasswordEntered) -> list[Effect]:
        doc, pre = self.ctx.document, self.ctx.pre_settlement
        assert doc is not None and pre is not None
        if self.ctx.extra.get("password_hint") == "checking":
            return []
        if not (len(e.password) == 6 and e.password.isdigit()):
            self.ctx.extra["password_hint"] = "six_digits"
            return []
        self.ctx.extra["password_hint"] = "checking"
        return [CheckVoucherPassword(self.visit_id, doc.cert_no, e.password, f"{pre.amounts.medfee_sumamt:.2f}")]

    def _on_password_checked(self, e: PasswordChecked) -> list[Effect]:
        if e.accepted:
            self.ctx.extra["password_ok"], self.ctx.extra["password_hint"] = "1", ""
            return self._commit_settlement()
        tries = int(self.ctx.extra.get("password_tries", "0")) + 1
        self.ctx.extra["password_tries"] = str(tries)
        if e.locked or e.remaining <= 0 or tries >= self.max_password_tries:
            return self._fail(Failed(code=251, message="voucher.password_locked"))
        self.ctx.extra["password_hint"] = "wrong"
        self.ctx.extra["password_remaining"] = str(min(e.remaining, self.max_password_tries - tries))
        return []
