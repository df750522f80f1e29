"""Autopilot: drives the real kiosk window through one patient visit by pressing its buttons,
as a patient would, then reports the outcome. Used by ``kiosk demo --autopilot``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer

from kiosk.visit import State
from kiosk.visit_outcome import visit_outcome

from ui.window import KioskWindow

# which button a patient presses on each screen
PRESS = {State.CONSENT: "agree", State.SERVICES: "pay", State.FEE_REVIEW: "confirm_fees", State.CONFIRM: "pay"}
# what the demo patient shows the scanner on the payment screen: a WeChat Pay payment code (18 digits, 13..)
DEMO_PAYMENT_CODE = "134567890123454321"


class Autopilot(QObject):
    def __init__(self, window: KioskWindow, insert_card: Callable[[], None], *, on_finished: Callable[[dict[str, Any]], None],
                 timeout_s: float = 120.0, screenshot_dir: Path | None = None, press_delay_ms: int = 200,
                 choose_record: int = 0, identify: str = "card", id_number: str = "", pin: str = "",
                 show_voucher: Callable[[], str] | None = None, errand: str = "pay_fees") -> None:
        """``identify``: card (``insert_card``), voucher (scans ``show_voucher()``) or face (face swipe: types
        ``id_number``; a family member's voucher, ``show_voucher()``, when the platform has no photo); ``pin``:
        the voucher password typed on the PIN pad when one is asked for; ``errand``: the services menu's tile
        touched (pay_fees, registration: the first department and doctor with a slot left, records, balance,
        filings, invoice: the first printable invoice is opened and printed)."""
        super().__init__()
        self._identify, self._id_number, self._pin, self._show_voucher = identify, id_number, pin, show_voucher
        self._errand = errand
        self._choose_record = choose_record  # which insurance record a person with several touches
        self.window, self._insert_card, self._on_finished = window, insert_card, on_finished
        self._screens = screenshot_dir
        self._delay = press_delay_ms
        self.steps: list[str] = ["idle"]
        self._acted: set[tuple[str, State]] = set()
        self._done = False
        self._timeout = QTimer(self, singleShot=True, timeout=self._on_timeout)
        self._timeout.setInterval(int(timeout_s * 1000))
        window.controller.state_changed.connect(self._on_state)

    def start(self) -> None:
        self._timeout.start()
        self._shoot(State.IDLE)
        if self._identify == "face":
            QTimer.singleShot(self._delay, lambda: self._press(State.IDLE, "face_swipe"))
        elif self._identify == "voucher" and self._show_voucher is not None:
            QTimer.singleShot(self._delay, lambda: self.window.scan_voucher(self._show_voucher()))
        else:
            QTimer.singleShot(self._delay, self._insert_card)

    def _on_state(self, state: State) -> None:
        if self._done or state != self.window.controller.state:
            return  # a stale signal: a slot before ours ran the event loop and the machine moved on
        machine = self.window.controller.machine
        if state.value != self.steps[-1]:
            self.steps.append(state.value)
            self._shoot(state)
        key = (machine.visit_id, state)
        if state == State.SERVICES and self._errand != "pay_fees" and key not in self._acted:
            self._acted.add(key)
            QTimer.singleShot(self._delay, lambda: self._press(state, f"errand_{self._errand}"))
        elif state == State.SERVICES and machine.ctx.extra.get("errand_hint", "").startswith("failed:"):
            self._finish(reason=machine.ctx.extra["errand_hint"])  # the errand said why it cannot be done
        elif state == State.ERRAND and machine.ctx.errand is not None and machine.ctx.errand.errand == "invoice":
            self._open_invoice(key)
        elif state == State.ERRAND:
            self._finish()
        elif state == State.INVOICE:
            self._print_invoice(key)
        elif state in (State.REG_DEPARTMENT, State.REG_DOCTOR):
            self._register(state, key)
        elif state in PRESS and key not in self._acted:
            self._acted.add(key)
            QTimer.singleShot(self._delay, lambda: self._press(state, PRESS[state]))
        elif state == State.CHOOSE_INSURANCE and key not in self._acted and machine.ctx.person is not None:
            self._acted.add(key)
            index = self._choose_record % len(machine.ctx.person.records)
            QTimer.singleShot(self._delay, lambda: self._press(state, f"record_{index}"))
        elif state == State.CHOOSE_VISIT_TYPE and key not in self._acted:
            self._acted.add(key)  # a chronic disease on file: this visit is for it
            QTimer.singleShot(self._delay, lambda: self._press(state, "visit_chronic_0"))
        elif state == State.PAYING and machine.ctx.payment_order is not None and (machine.visit_id, "pay") \
                not in self._acted:
            self._acted.add((machine.visit_id, "pay"))  # type: ignore[arg-type]
            QTimer.singleShot(self._delay, lambda: self._show_payment_code(machine.visit_id))
        elif state in (State.ENTER_ID, State.VOUCHER_PASSWORD) and key not in self._acted:
            self._acted.add(key)
            text, confirm = (self._id_number, "confirm_id") if state == State.ENTER_ID else (self._pin, "confirm_pin")
            QTimer.singleShot(self._delay, lambda: self._type(state, text, confirm))
        elif state == State.FAMILY_ACCOUNT and key not in self._acted and self._show_voucher is not None:
            self._acted.add(key)  # the family member shows their code
            QTimer.singleShot(self._delay, lambda: self.window.scan_voucher(self._show_voucher()))
        elif state == State.RECEIPT and ("receipt" in machine.ctx.extra):
            if machine.ctx.slot_lock is not None:
                self._shoot(state, suffix="-registered")  # the queue number on the screen
            self._finish()
        elif state == State.ERROR:
            self._finish()
        elif state == State.IDLE and len(self.steps) > 2:
            self._finish(reason="visit was reset before it finished")

    def _open_invoice(self, key: tuple[str, State]) -> None:
        """On the invoice list: touch the first invoice that can be printed (none: the list was the answer)."""
        ctx = self.window.controller.machine.ctx
        if key in self._acted:
            if ctx.extra.get("invoice_hint", "").startswith("failed:"):
                self._finish(reason=f"invoice.{ctx.extra['invoice_hint'][len('failed:'):]}")
            return
        self._acted.add(key)
        printable = [i for i, row in enumerate(ctx.errand.rows) if row[3] == "printable"]
        if not printable:
            self._finish()
            return
        QTimer.singleShot(self._delay, lambda: self.window.errand.choose_row(printable[0]))

    def _register(self, state: State, key: tuple[str, State]) -> None:
        """Touch the first department, then the first doctor, with a slot left; a refusal ends the run."""
        ctx = self.window.controller.machine.ctx
        hint = ctx.extra.get("reg_hint", "")
        if hint.startswith("failed:"):
            self._finish(reason=f"registration.{hint[len('failed:'):]}")
            return
        if key in self._acted:
            return
        self._acted.add(key)
        options = ctx.departments if state == State.REG_DEPARTMENT else ctx.slots
        index = next((i for i, o in enumerate(options) if o.remaining > 0), None)
        if index is None:
            self._finish(reason="registration.full")
            return
        action = f"dept_{index}" if state == State.REG_DEPARTMENT else f"doctor_{index}"
        QTimer.singleShot(self._delay, lambda: self._press(state, action))

    def _print_invoice(self, key: tuple[str, State]) -> None:
        """On the invoice: Print, then wait for the print system's answer (printed, or why not)."""
        hint = self.window.controller.machine.ctx.extra.get("invoice_hint", "")
        if key not in self._acted:
            self._acted.add(key)
            QTimer.singleShot(self._delay, lambda: self._press(State.INVOICE, "print_invoice"))
        elif hint == "printed" or hint.startswith("failed:"):
            self._shoot(State.INVOICE, suffix=f"-{hint.replace(':', '-')}")
            self._finish(reason="" if hint == "printed" else f"invoice.{hint[len('failed:'):]}")

    def _press(self, state: State, action: str) -> None:
        if self.window.controller.state == state:
            self.window.current.button(action).click()

    def _type(self, state: State, text: str, confirm: str) -> None:
        """Touch the keys of ``text`` one by one (on the PIN pad wherever the shuffle put them), then OK."""
        if self.window.controller.state != state:
            return
        screen = self.window.current
        for char in text:
            screen.button(f"digit_{char}").click()
        self._shoot(state, suffix="-typed")
        screen.button(confirm).click()

    def _show_payment_code(self, visit_id: str) -> None:
        machine = self.window.controller.machine
        if machine.state == State.PAYING and machine.visit_id == visit_id:
            self._shoot(State.PAYING, suffix="-qr")  # the screen with its QR code, before the code is shown
            self.window.scan_voucher(DEMO_PAYMENT_CODE)

    def _shoot(self, state: State, suffix: str = "") -> None:
        if self._screens is not None:
            self._screens.mkdir(parents=True, exist_ok=True)
            if self.window.camera.is_live:  # never write a live face to disk: blank the preview first
                self.window.face.preview.clear()
            self.window.grab().save(str(self._screens / f"{len(self.steps):02d}-{state.value}{suffix}.png"))

    def _on_timeout(self) -> None:
        self._finish(reason=f"timed out in state {self.window.controller.state.value}")

    def _finish(self, reason: str = "") -> None:
        if self._done:
            return
        self._done = True
        self._timeout.stop()
        ctx = self.window.controller.machine.ctx
        result: dict[str, Any] = {"steps": list(self.steps)}
        if ctx.face is not None:
            result["liveness"] = ctx.face.liveness
            if ctx.extra.get("identified_by") != "face":  # face swipe: the platform decides, no local score
                result["face_score"] = round(ctx.face.score, 2)
        if ctx.person is not None:
            result.update(insuplc_admdvs=ctx.person.insuplc_admdvs, insutype=ctx.person.insutype,
                          mdtrtarea_admvs=self.window.treatment_area, med_type=ctx.person.med_type)
            if ctx.person.dise_codg:
                result["dise_codg"] = ctx.person.dise_codg
        if ctx.document is not None:
            result["identified_by"] = ctx.extra.get("identified_by") or (
                "voucher" if ctx.document.cert_type.value == "01" else "card")
            if ctx.document.authorised_by:
                result["authorised_by"] = ctx.document.authorised_by
        outcome = visit_outcome(ctx)  # the same words the metrics count
        if outcome == "registered" and not reason:
            slot = ctx.person.doctor
            result.update(outcome="registered", errand="registration", queue_no=ctx.registered.queue_no,
                          place=ctx.registered.place, dept_code=slot.dept_code, atddr_no=slot.atddr_no,
                          setl_id=ctx.settlement.setl_id if ctx.settlement is not None else "")
        elif outcome == "printed" and not reason:
            result.update(outcome="printed", errand="invoice", job=ctx.extra["invoice_job"],
                          invoice_no=ctx.extra.get("invoice_no", ""))
        elif ctx.errand is not None and not reason:
            result.update(outcome="shown", errand=ctx.errand.errand, counts=ctx.errand.counts)
        elif outcome == "settled":
            a = ctx.settlement.amounts
            result.update(outcome="settled", setl_id=ctx.settlement.setl_id, psn_cash_pay=f"{a.psn_cash_pay:.2f}",
                          medfee_sumamt=f"{a.medfee_sumamt:.2f}", fund_pay_sumamt=f"{a.fund_pay_sumamt:.2f}",
                          acct_pay=f"{a.acct_pay:.2f}", balc=f"{a.balc:.2f}", funds=a.funds())
        elif outcome == "queued":
            result.update(outcome="queued", queue_reference=ctx.queued.reference)
        elif outcome == "refunded":
            result.update(outcome="refunded", refunded=f"{ctx.refunded.amount:.2f}", reason=ctx.refunded.reason)
        elif outcome == "refused" and not reason:  # the insured region's benefit check
            result.update(outcome="refused", reason=ctx.error_message.removeprefix("benefit."))
        else:
            result.update(outcome="failed", reason=reason or f"E{ctx.error_code}: {ctx.error_message}")
        paid = ctx.settlement.payment if ctx.settlement is not None else (ctx.queued.paid if ctx.queued else None)
        if paid is not None:
            result["paid"] = {"method": paid.method, "amount": f"{paid.amount:.2f}", "trade_no": paid.trade_no}
        if ctx.extra.get("receipt"):
            result["receipt"] = ctx.extra["receipt"]
        if ctx.extra.get("invoice_qr") == "1":
            result["invoice_qr_offered"] = True
        if ctx.extra.get("print_error"):
            result["print_error"] = ctx.extra["print_error"]
        self._on_finished(result)
