"""The screens that tell how a visit ended: the receipt (settled, or queued while the network is down) and,
after a restart, the interrupted visit's outcome."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from kiosk.domain import CertType, VisitContext
from kiosk.visit import State

from ui.i18n import CATALOG, Translator
from ui.screens import Screen, money


class ReceiptScreen(Screen):
    state = State.RECEIPT

    def __init__(self, tr: Translator, manual_window: str, *, slips_on_paper: bool = True) -> None:
        super().__init__(tr)
        self._window = manual_window
        self.slips_on_paper = slips_on_paper  # False: receipts go to a folder (no thermal printer configured)
        self.notice = QLabel(objectName="alert", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.middle.addWidget(self.notice)

    def take_away(self, ctx: VisitContext) -> str:
        """What the patient takes from the kiosk: the slip only if one came out on paper, the card only if
        one was inserted (not after a voucher or a face swipe)."""
        card = ctx.document is not None and ctx.document.cert_type == CertType.SOCIAL_SECURITY_CARD
        slip = self.slips_on_paper and not ctx.extra.get("print_error")
        key = "slip_card" if slip and card else "slip" if slip else "card" if card else "none"
        return self.tr_.tr(f"receipt.take.{key}", window=self._window)

    def render_text(self, ctx: VisitContext) -> None:
        if ctx.queued is not None and ctx.queued.paid is not None:
            self.title.setText(self.tr_.tr("receipt.queued_paid_title"))
            self.body.setText(self.tr_.tr("receipt.queued_paid_body", amount=money(ctx.queued.paid.amount),
                                          ref=ctx.queued.reference))
        elif ctx.queued is not None:
            self.title.setText(self.tr_.tr("receipt.queued_title"))
            self.body.setText(self.tr_.tr("receipt.queued_body", ref=ctx.queued.reference, window=self._window))
        elif ctx.settlement is not None:
            a, paid = ctx.settlement.amounts, ctx.settlement.payment
            method = self.tr_.tr(f"method.{paid.method}") if paid and f"method.{paid.method}" in CATALOG else ""
            self.title.setText(self.tr_.tr("receipt.title"))
            self.body.setText(self.tr_.tr("receipt.body", cash=money(a.psn_cash_pay), balance=money(a.balc),
                                          paid=self.tr_.tr("receipt.paid_by", method=method) if method else "",
                                          take=self.take_away(ctx)))
        failed = bool(ctx.extra.get("print_error"))
        self.notice.setText(self.tr_.tr("receipt.print_failed") if failed else "")
        slot = ctx.person.doctor if ctx.person is not None else None
        if slot is not None:  # a registration: the queue number first, or where to go when unconfirmed
            reg, confirming = ctx.registered, ctx.extra.get("reg_hint") == "confirming"
            line = self.tr_.tr("reg.queue_no", department=slot.dept_name, doctor=slot.dr_name, queue_no=reg.queue_no,
                               place=reg.place) if reg is not None else self.tr_.tr(
                "reg.confirming" if confirming else "reg.not_confirmed")
            self.body.setText(f"{line}\n{self.body.text()}")
            if reg is not None:
                self.title.setText(self.tr_.tr("reg.title_done"))
        for button in self._button_keys:
            if button.property("action") == "reprint":
                button.setVisible(failed)


class InterruptedScreen(Screen):
    """After a restart: how the visit the kiosk stopped in ended (kiosk/interrupted_visit.py)."""

    state = State.INTERRUPTED

    def __init__(self, tr: Translator, manual_window: str) -> None:
        super().__init__(tr)
        self._window = manual_window

    def render_text(self, ctx: VisitContext) -> None:
        visit = ctx.interrupted
        if visit is None:
            return
        self.title.setText(self.tr_.tr(f"interrupted.{visit.outcome}_title"))
        amounts = {k: money(getattr(visit, f)) if getattr(visit, f) is not None else "-" for k, f in
                   (("total", "medfee_sumamt"), ("fund", "fund_pay_sumamt"), ("cash", "psn_cash_pay"))}
        self.body.setText(self.tr_.tr(f"interrupted.{visit.outcome}_body", ref=visit.reference,
                                      window=self._window, **amounts))
