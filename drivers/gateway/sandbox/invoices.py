"""The hospital's electronic invoice service (医疗收费电子票据) as the sandbox plays it, on the hospital-system
side of the sandbox (``/his/invoices...``, behind the same access layer as ``/his/``):

- ``GET /his/invoices?psn_no=`` -> ``{"invoices": [{"invoice_no", "issued", "amount", "status", "printed",
  "setl_id", "phone_url"}]}``, newest first. Invoices are seeded (``[[invoice]]`` in seed.toml: earlier
  visits) and issued here for every settlement of the person that has none yet; a refunded settlement's
  invoice is ``voided`` (红冲).
- ``GET /his/invoices/for-settlement?setl_id=`` -> ``{"invoice_no", "phone_url"}`` (issued now for a new
  settlement); 404 when the settlement is unknown.
- ``GET /his/invoices/pdf?invoice_no=`` -> the invoice as a PDF (A4, the CJK font embedded so that any printer
  and any CUPS filter chain prints it), generated on request from the stored fields.
- ``POST /his/invoices/print`` ``{"invoice_no", "terminal_no"}``: claims the one paper print. ``409``
  ``already_printed`` (with ``printed_at`` and ``printed_by``) or ``voided``; ``404`` ``unknown_invoice``.
- ``POST /his/invoices/release`` ``{"invoice_no", "terminal_no"}``: the kiosk could not print after claiming;
  the mark is taken back (only by the terminal that claimed it).
- ``POST /admin/invoices/reprint`` ``{"invoice_no"}``: staff allow one more print.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from drivers.gateway.envelope import dumps
from drivers.gateway.sandbox.ledger import next_id

log = logging.getLogger(__name__)
BILL_CODE = "11060126"  # 票据代码 of the sandbox hospital's e-invoice batch
HOSPITAL = "示范市第一人民医院"
PHONE_BASE = "https://einvoice.sandbox.invalid/v"  # the national bill platform's check page, as the QR carries it
FONT_FILES = (Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
              Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"))


def check_code(invoice_no: str) -> str:
    """The invoice's 6-digit check code (校验码): what the platform asks with the number."""
    return str(int(hashlib.sha256(invoice_no.encode()).hexdigest()[:8], 16) % 1_000_000).zfill(6)


def phone_url(invoice_no: str) -> str:
    return f"{PHONE_BASE}?no={invoice_no}&check={check_code(invoice_no)}"


class SandboxInvoices:
    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        self._conn, self._lock = conn, lock

    # -- the service ------------------------------------------------------------------------------------
    def listing(self, psn_no: str) -> list[dict[str, Any]]:
        with self._lock:
            self._issue_for_settlements(psn_no)
            rows = self._conn.execute(
                "SELECT i.*, COALESCE(s.refunded, 0) AS refunded FROM einvoices i LEFT JOIN settlements s"
                " ON s.setl_id = i.setl_id WHERE i.psn_no = ? ORDER BY i.issued DESC, i.invoice_no DESC",
                (psn_no,)).fetchall()
        return [{"invoice_no": r["invoice_no"], "issued": r["issued"], "amount": r["amount"],
                 "status": "voided" if r["refunded"] else "issued", "printed": bool(r["printed_at"]),
                 "setl_id": r["setl_id"] or "", "phone_url": phone_url(r["invoice_no"])} for r in rows]

    def invoice_for_settlement(self, setl_id: str) -> dict[str, str] | None:
        """The invoice issued for a settlement (issuing it now when the settlement is new)."""
        with self._lock:
            row = self._conn.execute("SELECT psn_no FROM settlements WHERE setl_id = ?", (setl_id,)).fetchone()
            if row is None:
                return None
            self._issue_for_settlements(row["psn_no"])
            found = self._conn.execute("SELECT invoice_no FROM einvoices WHERE setl_id = ?", (setl_id,)).fetchone()
        return None if found is None else {"invoice_no": found[0], "phone_url": phone_url(found[0])}

    def pdf(self, invoice_no: str) -> bytes | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT i.*, p.psn_name, s.fund_pay_sumamt, s.acct_pay, s.psn_cash_pay FROM einvoices i"
                " JOIN persons p ON p.psn_no = i.psn_no LEFT JOIN settlements s ON s.setl_id = i.setl_id"
                " WHERE i.invoice_no = ?", (invoice_no,)).fetchone()
        return None if row is None else render_pdf(dict(row))

    def claim_print(self, invoice_no: str, terminal_no: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            row = self._conn.execute(
                "SELECT i.printed_at, i.printed_by, COALESCE(s.refunded, 0) AS refunded FROM einvoices i"
                " LEFT JOIN settlements s ON s.setl_id = i.setl_id WHERE invoice_no = ?", (invoice_no,)).fetchone()
            if row is None:
                return 404, {"code": "unknown_invoice", "message": "no such invoice"}
            if row["refunded"]:
                return 409, {"code": "voided", "message": "the invoice was voided (the settlement was refunded)"}
            if row["printed_at"]:
                return 409, {"code": "already_printed", "message": "printed once already: staff can print it again",
                             "printed_at": row["printed_at"], "printed_by": row["printed_by"]}
            self._conn.execute("UPDATE einvoices SET printed_at = ?, printed_by = ? WHERE invoice_no = ?",
                               (_now(), terminal_no, invoice_no))
        return 200, {"code": "0", "status": "claimed"}

    def release_print(self, invoice_no: str, terminal_no: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            changed = self._conn.execute("UPDATE einvoices SET printed_at = '', printed_by = '' WHERE invoice_no = ?"
                                         " AND printed_by = ?", (invoice_no, terminal_no)).rowcount
        return (200, {"code": "0", "status": "released"}) if changed else (
            409, {"code": "not_claimed", "message": "this terminal holds no print claim on that invoice"})

    def allow_reprint(self, invoice_no: str) -> bool:
        with self._lock:
            return self._conn.execute("UPDATE einvoices SET printed_at = '', printed_by = '' WHERE invoice_no = ?",
                                      (invoice_no,)).rowcount == 1

    def printed_by(self, invoice_no: str) -> str:
        with self._lock:
            row = self._conn.execute("SELECT printed_by FROM einvoices WHERE invoice_no = ?", (invoice_no,)).fetchone()
        return "" if row is None else row[0]

    # -- HTTP -------------------------------------------------------------------------------------------
    def handle_get(self, path: str, query: dict[str, str]) -> tuple[int, bytes, str]:
        if path == "/his/invoices":
            return 200, dumps({"invoices": self.listing(query.get("psn_no", ""))}), "application/json"
        if path == "/his/invoices/for-settlement":
            found = self.invoice_for_settlement(query.get("setl_id", ""))
            if found is None:
                return 404, dumps({"code": "unknown_settlement", "message": "no such settlement"}), "application/json"
            return 200, dumps(found), "application/json"
        if path == "/his/invoices/pdf":
            document = self.pdf(query.get("invoice_no", ""))
            if document is None:
                return 404, dumps({"code": "unknown_invoice", "message": "no such invoice"}), "application/json"
            return 200, document, "application/pdf"
        return 404, b'{"error":"not found"}', "application/json"

    def handle_post(self, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            req = json.loads(body)
            invoice_no, terminal_no = str(req["invoice_no"]), str(req.get("terminal_no", ""))
        except (ValueError, KeyError, TypeError) as exc:
            return 400, dumps({"code": "bad_request", "message": str(exc)})
        if path == "/his/invoices/print":
            status, answer = self.claim_print(invoice_no, terminal_no)
        elif path == "/his/invoices/release":
            status, answer = self.release_print(invoice_no, terminal_no)
        elif path == "/admin/invoices/reprint":
            status, answer = (200, {"status": "allowed"}) if self.allow_reprint(invoice_no) else (
                404, {"code": "unknown_invoice"})
        else:
            status, answer = 404, {"error": "not found"}
        return status, dumps(answer)

    # -- issuing ----------------------------------------------------------------------------------------
    def _issue_for_settlements(self, psn_no: str) -> None:
        """Issue an invoice for each of the person's settlements that has none (under the caller's lock)."""
        new = self._conn.execute(
            "SELECT setl_id, setl_time, medfee_sumamt FROM settlements WHERE psn_no = ? AND reversed = 0 AND"
            " setl_id NOT IN (SELECT setl_id FROM einvoices WHERE setl_id IS NOT NULL) ORDER BY setl_time",
            (psn_no,)).fetchall()
        for row in new:
            lines = self._conn.execute(
                "SELECT l.feedetl_sn, l.cnt, l.amount, h.name FROM fee_lines l JOIN persons p ON p.psn_no = l.psn_no"
                " LEFT JOIN his_fees h ON h.certno = p.certno AND h.feedetl_sn = l.feedetl_sn WHERE l.setl_id = ?",
                (row["setl_id"],)).fetchall()
            items = [{"name": r["name"] or f"费用明细 {r['feedetl_sn']}", "cnt": r["cnt"], "amount": r["amount"]}
                     for r in lines]
            self._conn.execute("INSERT INTO einvoices VALUES (?, ?, ?, ?, ?, ?, '', '')",
                               (self._next_number(), psn_no, row["setl_id"], row["setl_time"],
                                row["medfee_sumamt"], json.dumps(items, ensure_ascii=False)))

    def _next_number(self) -> str:
        return f"{BILL_CODE}{next_id(self._conn, 'einvoice'):010d}"


def _now() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def _font() -> str:
    """Register a CJK font to embed (a TrueType one: reportlab embeds TrueType subsets); fall back to the
    standard STSong-Light (not embedded: a printer without it prints boxes) with a warning."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    if "KioskCJK" in pdfmetrics.getRegisteredFontNames():
        return "KioskCJK"
    for path in FONT_FILES:
        if path.exists():
            pdfmetrics.registerFont(TTFont("KioskCJK", str(path)))
            return "KioskCJK"
    log.warning("no TrueType CJK font (fonts-droid-fallback): invoices use STSong-Light, not embedded")
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def _runs(text: str, cjk: str) -> list[tuple[str, str]]:
    """Split text into runs for the CJK font (which may lack Latin glyphs) and Helvetica."""
    runs: list[tuple[str, str]] = []
    for ch in text:
        font = cjk if ord(ch) >= 0x2E80 else "Helvetica"
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + ch)
        else:
            runs.append((font, ch))
    return runs


def _draw(page: Any, x: float, y: float, text: str, size: float, cjk: str, align: str = "left") -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    runs = _runs(text, cjk)
    width = sum(stringWidth(t, f, size) for f, t in runs)
    x -= {"left": 0, "centre": width / 2, "right": width}[align]
    for font, part in runs:
        page.setFont(font, size)
        page.drawString(x, y, part)
        x += stringWidth(part, font, size)


def render_pdf(row: dict[str, Any]) -> bytes:
    """One A4 page: the hospital, the bill code, number and check code, payer, date, the lines, the total
    and (when the invoice is for a settlement) how it was paid, and the QR code of the platform's check page."""
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    cjk, invoice_no = _font(), row["invoice_no"]
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4, invariant=1)
    page.setTitle(f"e-invoice {invoice_no}")
    width, height = A4
    _draw(page, width / 2, height - 70, "医疗收费电子票据", 20, cjk, "centre")
    _draw(page, width / 2, height - 88, "Medical fee electronic invoice", 10, cjk, "centre")
    top = height - 125
    fields = (("票据代码 Bill code", invoice_no[:8]), ("票据号码 Number", invoice_no[8:]),
              ("校验码 Check code", check_code(invoice_no)), ("开票日期 Issued", str(row["issued"])[:10]),
              ("交款人 Payer", row.get("psn_name") or ""), ("开票单位 Issuer", HOSPITAL))
    for i, (label, value) in enumerate(fields):
        _draw(page, 60, top - 18 * i, label, 11, cjk)
        _draw(page, 190, top - 18 * i, value, 11, cjk)
    _draw(page, 60, top - 18 * len(fields), f"Invoice No. {invoice_no}", 9, cjk)
    y = top - 18 * len(fields) - 30
    _draw(page, 60, y, "项目 Item", 11, cjk)
    _draw(page, 400, y, "数量 Qty", 11, cjk, "right")
    _draw(page, 520, y, "金额 Amount", 11, cjk, "right")
    page.line(60, y - 5, 530, y - 5)
    for item in json.loads(row.get("items") or "[]"):
        y -= 18
        _draw(page, 60, y, str(item.get("name", "")), 11, cjk)
        _draw(page, 400, y, str(item.get("cnt", "")), 11, cjk, "right")
        _draw(page, 520, y, f"{Decimal(str(item.get('amount', '0'))):.2f}", 11, cjk, "right")
    y -= 28
    _draw(page, 60, y, f"合计 Total   ¥{Decimal(str(row['amount'])):.2f}", 12, cjk)
    if row.get("fund_pay_sumamt") is not None:
        y -= 18
        _draw(page, 60, y, f"医保统筹 Funds {row['fund_pay_sumamt']}    个人账户 Account {row['acct_pay']}"
                           f"    个人现金 Cash {row['psn_cash_pay']}", 10, cjk)
    code = QrCodeWidget(phone_url(invoice_no))
    x0, y0, x1, y1 = code.getBounds()
    drawing = Drawing(110, 110, transform=[110 / (x1 - x0), 0, 0, 110 / (y1 - y0), 0, 0])
    drawing.add(code)
    renderPDF.draw(drawing, page, width - 170, height - 240)
    _draw(page, 60, 60, "扫描右上角二维码可在国家医疗收费电子票据查验平台查验 · Scan the code to check this invoice", 9, cjk)
    page.showPage()
    page.save()
    return out.getvalue()
