"""The hospital's electronic invoice service over HTTP (``/his/invoices...``; the contract is in
docs/architecture.md, "Hospital system"), mixed into ``HttpHospitalSystem``, whose ``_request`` and
``terminal_no`` it uses."""

from __future__ import annotations

import logging
from typing import Any

from kiosk.errors import GatewayNoAnswer, GatewayProtocolError
from kiosk.invoices import EInvoice, InvoiceRefused
from kiosk.masking import mask_id

from drivers.gateway.envelope import loads
from drivers.gateway.his_answers import his_post, his_rows

log = logging.getLogger(__name__)
MAX_PDF = 20 << 20  # an invoice is a page or two; anything larger is not one
REFUSALS = ("already_printed", "voided", "unknown_invoice")


def _invoice(row: Any) -> EInvoice:
    try:
        number, status = str(row["invoice_no"]), str(row["status"])
        if not number.isalnum() or status not in ("issued", "voided"):
            raise ValueError(f"invoice {number[:24]!r} status {status[:16]!r}")
        return EInvoice(number, str(row["issued"]), str(row["amount"]), status, bool(row["printed"]),
                        str(row.get("setl_id") or ""), str(row.get("phone_url") or ""))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GatewayProtocolError(f"hospital system invoice list malformed ({exc})") from None


class HttpInvoiceService:
    terminal_no: str

    def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                 body: dict[str, Any] | None = None) -> Any: ...

    def invoices(self, person: Any) -> tuple[EInvoice, ...]:
        rows = his_rows(self._request("GET", "/his/invoices", params={"psn_no": person.psn_no}), "invoices",
                        "invoice list")
        return tuple(_invoice(row) for row in rows)

    def invoice_for_settlement(self, setl_id: str) -> EInvoice | None:
        """The e-invoice issued for a settlement just made (its number and phone URL), None when none is."""
        response = self._request("GET", "/his/invoices/for-settlement", params={"setl_id": setl_id})
        if response.status_code == 404:
            return None
        try:
            answer = loads(response.content)
            number, url = str(answer["invoice_no"]), str(answer["phone_url"])
        except (ValueError, KeyError, TypeError):
            raise GatewayProtocolError(f"invoice for settlement malformed (HTTP {response.status_code})") from None
        if response.status_code != 200 or not number.isalnum() or not url.startswith("https://"):
            raise GatewayProtocolError(f"invoice for settlement malformed (HTTP {response.status_code})")
        return EInvoice(number, "", "", "issued", False, setl_id, url)

    def invoice_pdf(self, invoice_no: str) -> bytes:
        response = self._request("GET", "/his/invoices/pdf", params={"invoice_no": invoice_no})
        if response.status_code == 404:
            raise InvoiceRefused("unknown_invoice", f"no invoice {invoice_no}")
        if response.status_code >= 500:
            raise GatewayNoAnswer(f"hospital system answered HTTP {response.status_code} for the invoice")
        content = response.content
        if response.status_code != 200 or not content.startswith(b"%PDF-") or len(content) > MAX_PDF:
            raise GatewayProtocolError(f"invoice {invoice_no}: not a PDF (HTTP {response.status_code})")
        return content

    def claim_invoice_print(self, invoice_no: str) -> None:
        self._print_mark("/his/invoices/print", invoice_no)
        log.info("invoice %s: print claimed by terminal %s", mask_id(invoice_no), self.terminal_no)

    def release_invoice_print(self, invoice_no: str) -> None:
        self._print_mark("/his/invoices/release", invoice_no)
        log.info("invoice %s: print claim released", mask_id(invoice_no))

    def _print_mark(self, path: str, invoice_no: str) -> None:
        his_post(self._request, path, {"invoice_no": invoice_no, "terminal_no": self.terminal_no}, REFUSALS,
                 InvoiceRefused)
