"""One electronic invoice (state INVOICE, kiosk/visit_invoices.py): its first page as a preview on the left,
on the right what it is, what happened (printing, printed, why not) and, when asked for or when the printer
cannot print, the QR code that takes the invoice to the patient's phone. Buttons: Print on A4, To my
phone, Back to the list, Done."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from kiosk import visit as v
from kiosk.domain import VisitContext
from kiosk.invoices import invoice_number_text
from kiosk.visit import State

from ui.i18n import Translator, known_key
from ui.screens import Screen, qr_pixmap

PREVIEW_HEIGHT = {False: 400, True: 330}  # standard, elderly (larger buttons leave less height)
QR_SIDE = {False: 200, True: 200}


class InvoiceScreen(Screen):
    state = State.INVOICE

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.elderly = False
        row = QHBoxLayout()
        row.setSpacing(32)
        self.preview = QLabel(objectName="invoicePreview", alignment=Qt.AlignmentFlag.AlignCenter)
        self.preview.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        side = QVBoxLayout()
        side.setSpacing(14)
        self.facts = QLabel(wordWrap=True, alignment=Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.hint = QLabel(objectName="alert", wordWrap=True)
        self.qr = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.qr_caption = QLabel(objectName="hint", wordWrap=True, alignment=Qt.AlignmentFlag.AlignCenter)
        for widget in (self.facts, self.hint, self.qr, self.qr_caption):
            side.addWidget(widget)
        side.addStretch(1)
        row.addWidget(self.preview, stretch=3)
        row.addLayout(side, stretch=2)
        self.middle.addLayout(row, stretch=1)

    def render_text(self, ctx: VisitContext) -> None:
        tr, extra = self.tr_.tr, ctx.extra
        self.title.setText(tr("invoice.title"))
        number, state = extra.get("invoice_no", ""), extra.get("invoice_state", "")
        self.body.setText("")
        self.body.setVisible(False)
        row = next((r for r in (ctx.errand.rows if ctx.errand else ()) if r[0] == number), None)
        when, amount = (row[1], row[2]) if row else ("", "")
        self.facts.setText(tr("invoice.facts", number=invoice_number_text(number), date=when, amount=amount,
                              state=tr(f"invoice.state.{state}") if state else ""))
        self._show_preview(ctx.invoice_preview)
        hint = extra.get("invoice_hint", "")
        if hint.startswith("failed:"):
            self.hint.setText(tr(known_key("invoice.failed.", hint[len("failed:"):])))
        else:
            self.hint.setText(tr(f"invoice.{hint}") if hint in ("printing", "printed") else "")
        self.hint.setObjectName("alert" if hint.startswith("failed:") else "hint")
        self.hint.style().unpolish(self.hint)
        self.hint.style().polish(self.hint)
        self.hint.setVisible(bool(self.hint.text()))
        show_qr = extra.get("invoice_qr") == "1" and bool(extra.get("invoice_url"))
        self.qr.setVisible(show_qr)
        self.qr_caption.setVisible(show_qr)
        if show_qr:
            self.qr.setPixmap(qr_pixmap(extra["invoice_url"], QR_SIDE[self.elderly]))
            self.qr_caption.setText(tr("invoice.qr_caption"))
        self.button("print_invoice").setEnabled(state == "printable" and hint not in ("printing",))
        self.button("print_invoice").setVisible(state == "printable" or hint == "printing")

    def _show_preview(self, preview: object) -> None:
        height = PREVIEW_HEIGHT[self.elderly]
        if preview is None or not hasattr(preview, "shape"):
            self.preview.setText(self.tr_.tr("invoice.no_preview"))
            self.preview.setPixmap(QPixmap())
            return
        h, w = preview.shape[:2]
        image = QImage(preview.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.preview.setPixmap(QPixmap.fromImage(image).scaledToHeight(
            height, Qt.TransformationMode.SmoothTransformation))

    def spoken_text(self) -> str:
        return "。".join(t for t in (self.title.text(), self.hint.text()) if t)


def build_invoice_screen(tr: Translator, post: Callable[[v.Event], None]) -> InvoiceScreen:
    """The screen with its buttons."""
    screen = InvoiceScreen(tr)
    screen.add_button("back", "invoice.back", lambda: post(v.BackToServices()), secondary=True)
    screen.add_button("to_phone", "invoice.to_phone", lambda: post(v.InvoiceToPhone()), secondary=True)
    screen.add_button("print_invoice", "invoice.print", lambda: post(v.InvoicePrintRequested()))
    screen.add_button("done", "errand.done", lambda: post(v.Finish()))
    return screen
