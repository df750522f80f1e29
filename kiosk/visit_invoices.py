"""Transitions of the visit machine for electronic invoices (医疗收费电子票据), the services menu's "invoice"
errand. From the invoice list (state ERRAND, errand ``invoice``) a touched row opens the invoice (INVOICE:
its first page as a preview); there the patient prints it on the kiosk's A4 printer (once: the e-invoice
service marks it, a second paper copy needs staff) or shows its QR code to take it to the phone. When the
printer cannot print, the QR code is offered at once. Mixed into :class:`kiosk.visit.VisitMachine`.

    SERVICES -(invoice tile)-> ERRAND (list) -(row)-> INVOICE -(print)-> printed | failed: reason (+ QR)
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from kiosk.visit_messages import (
    BackToServices,
    Effect,
    InvoiceChosen,
    InvoiceFailed,
    InvoiceOpened,
    InvoicePrinted,
    InvoicePrintRequested,
    InvoiceToPhone,
    OpenInvoice,
    PrintInvoice,
    State,
)

if TYPE_CHECKING:
    from kiosk.domain import VisitContext

# what the machine keeps in ctx.extra (all cleared on leaving the invoice)
KEYS = ("invoice_no", "invoice_state", "invoice_hint", "invoice_qr", "invoice_url")


class InvoiceTransitions:
    """Needs from the machine: ``ctx``, ``visit_id`` and ``_go``."""

    ctx: VisitContext
    visit_id: str

    def _go(self, state: State) -> None: ...  # noqa: D102 - provided by VisitMachine

    def _on_invoice_chosen(self, e: InvoiceChosen) -> list[Effect]:
        view = self.ctx.errand
        if view is None or view.errand != "invoice" or not 0 <= e.index < len(view.rows) \
                or self.ctx.extra.get("invoice_hint") == "opening":
            return []
        number, _issued, _amount, state, url = view.rows[e.index]
        self.ctx.extra.update(invoice_no=number, invoice_state=state, invoice_url=url, invoice_hint="opening",
                              invoice_qr="")
        self.ctx.invoice_preview = self.ctx.invoice_pdf = None
        return [OpenInvoice(self.visit_id, number)]

    def _on_invoice_opened(self, e: InvoiceOpened) -> list[Effect]:
        if e.invoice_no != self.ctx.extra.get("invoice_no"):
            return []  # an answer for an invoice the patient has left
        self.ctx.invoice_preview, self.ctx.invoice_pdf, self.ctx.extra["invoice_hint"] = e.preview, e.pdf, ""
        self._go(State.INVOICE)
        return []

    def _on_invoice_open_failed(self, e: InvoiceFailed) -> list[Effect]:
        """On the list: the invoice could not be fetched; say so there, the list stays usable."""
        self.ctx.extra["invoice_hint"] = f"failed:{e.reason}"
        return []

    def _on_invoice_print(self, _: InvoicePrintRequested) -> list[Effect]:
        extra = self.ctx.extra
        if extra.get("invoice_hint") == "printing" or extra.get("invoice_state") != "printable":
            return []
        extra["invoice_hint"] = "printing"
        return [PrintInvoice(self.visit_id, extra["invoice_no"], self.ctx.invoice_pdf)]

    def _on_invoice_printed(self, e: InvoicePrinted) -> list[Effect]:
        self.ctx.extra.update(invoice_hint="printed", invoice_state="printed", invoice_job=e.job)
        self._mark_row(e.invoice_no, "printed")
        return []

    def _on_invoice_print_failed(self, e: InvoiceFailed) -> list[Effect]:
        self.ctx.extra["invoice_hint"] = f"failed:{e.reason}"
        if e.reason == "printer_unavailable":
            self.ctx.extra["invoice_qr"] = "1"  # the phone is the way to take it now
        elif e.reason in ("already_printed", "voided"):
            self.ctx.extra["invoice_state"] = "printed" if e.reason == "already_printed" else "voided"
            self._mark_row(self.ctx.extra.get("invoice_no", ""), self.ctx.extra["invoice_state"])
        return []

    def _on_invoice_to_phone(self, _: InvoiceToPhone) -> list[Effect]:
        if self.ctx.extra.get("invoice_url"):
            self.ctx.extra["invoice_qr"] = "1"
        return []

    def _on_back_to_invoices(self, _: BackToServices) -> list[Effect]:
        for key in KEYS:
            self.ctx.extra.pop(key, None)
        self.ctx.invoice_preview = self.ctx.invoice_pdf = None
        self._go(State.ERRAND)
        return []

    def _mark_row(self, invoice_no: str, state: str) -> None:
        """The list shows what just happened to the invoice (printed) without asking the service again."""
        view = self.ctx.errand
        if view is None or view.errand != "invoice":
            return
        rows = tuple((r[0], r[1], r[2], state, r[4]) if r[0] == invoice_no else r for r in view.rows)
        self.ctx.errand = replace(view, rows=rows)
