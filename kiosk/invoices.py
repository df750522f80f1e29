"""Electronic invoices (医疗收费电子票据) as the hospital's e-invoice service lists them, and the rule that one
invoice is printed on paper once (more only through staff)."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.errors import KioskError


def invoice_number_text(invoice_no: str) -> str:
    """Bill code and number apart, as printed on the invoice (a number of another length stays whole)."""
    return f"{invoice_no[:8]} {invoice_no[8:]}" if len(invoice_no) == 18 else invoice_no


@dataclass(frozen=True)
class EInvoice:
    invoice_no: str  # bill code (8 digits) + number (10 digits)
    issued: str  # "YYYY-MM-DD HH:MM:SS"
    amount: str  # yuan, two decimals
    status: str  # "issued" or "voided" (the settlement was refunded: 红冲)
    printed: bool  # printed on paper already (by a kiosk or the counter)
    setl_id: str = ""
    phone_url: str = ""  # what the QR code carries: the invoice on the patient's phone

    @property
    def printable(self) -> bool:
        return self.status == "issued" and not self.printed

    @property
    def display_no(self) -> str:
        return invoice_number_text(self.invoice_no)


class InvoiceRefused(KioskError):
    """The e-invoice service will not let this kiosk print the invoice: ``reason`` already_printed (staff can
    allow one more print), voided or unknown_invoice."""

    code = 431

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
