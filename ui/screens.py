"""The screens of the patient visit. Each screen lays itself out once and
``render()``s its text from the translator and the visit context, so a language
switch re-renders in place. Buttons carry object names the tests and the
autopilot click by.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontMetrics, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kiosk.domain import VisitContext
from kiosk.funds import fund_lines
from kiosk.insurance import InsuranceRecord, insutype_name
from kiosk.visit import State

from ui.i18n import CATALOG, Translator, known_key, reason_key

Tr = Translator


def money(value: Decimal) -> str:
    return f"{value:.2f}"


class Screen(QWidget):
    """Title, body, an optional middle widget, and a row of buttons."""

    state: State

    def __init__(self, tr: Translator, *, busy: bool = False) -> None:
        super().__init__()
        self.tr_ = tr
        layout = QVBoxLayout(self)
        layout.setContentsMargins(48, 20, 48, 20)
        layout.setSpacing(16)
        self.title = QLabel(objectName="title", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.body = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        # title and text keep their own height, the text right under the title; free space goes to the
        # middle (a camera preview, a table, a QR code) or, on a screen without one, below the text
        self.title.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout.addWidget(self.title)
        layout.addWidget(self.body)
        self.middle = QVBoxLayout()
        layout.addLayout(self.middle, stretch=1)
        layout.addStretch(0)
        if busy:  # progress shown on every wait
            bar = QProgressBar(objectName="progress")
            bar.setRange(0, 0)
            bar.setTextVisible(False)
            bar.setFixedHeight(18)
            self.middle.addWidget(bar)
        self.buttons = QHBoxLayout()
        self.buttons.setSpacing(32)
        layout.addLayout(self.buttons)
        self._button_keys: dict[QPushButton, str] = {}

    def add_button(self, name: str, key: str, on_click: Callable[[], None], *, secondary: bool = False,
                   middle: bool = False) -> QPushButton:
        """A button in the bottom row, or (``middle``) on its own in the middle of the screen."""
        button = QPushButton(objectName="secondary" if secondary else "primary")
        button.setAccessibleName(name)
        button.setProperty("action", name)
        button.clicked.connect(lambda _checked=False: on_click())  # clicked(bool) must not reach the handler
        if middle:
            button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            self.middle.addWidget(button, alignment=Qt.AlignmentFlag.AlignHCenter)
        else:
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.buttons.addWidget(button)
        self._button_keys[button] = key
        return button

    def button(self, name: str) -> QPushButton:
        for button in self._button_keys:
            if button.property("action") == name:
                return button
        raise KeyError(name)

    def spoken_text(self) -> str:
        """What the voice reads when the screen comes up (elderly mode, or ui.voice): title and text."""
        shown = [label.text() for label in (self.title, self.body) if label.isVisibleTo(self) and label.text()]
        return "。".join(shown)

    def render(self, ctx: VisitContext) -> None:
        for button, key in self._button_keys.items():
            button.setText(self.tr_.tr(key))
        self.render_text(ctx)

    def render_text(self, ctx: VisitContext) -> None:
        raise NotImplementedError


class TextScreen(Screen):
    """A screen whose title and body are fixed catalog keys."""

    def __init__(self, tr: Translator, state: State, title: str, body: str, *, busy: bool = False) -> None:
        super().__init__(tr, busy=busy)
        self.state, self._title_key, self._body_key = state, title, body

    def render_text(self, ctx: VisitContext) -> None:
        self.title.setText(self.tr_.tr(self._title_key))
        self.body.setText(self.tr_.tr(self._body_key))


class IdleScreen(TextScreen):
    """Insert the card, or show the voucher. What the kiosk cannot do comes first: without a card reader it
    asks for the voucher (and names the counter); with no way to reach the insurance system it says it is
    out of service and where to go instead of inviting a card it cannot use."""

    MODES = {"ready": ("idle.title", "idle.body"), "no_reader": ("idle.no_reader_title", "idle.no_reader_body"),
             "out_of_service": ("idle.out_of_service_title", "idle.out_of_service_body")}

    def __init__(self, tr: Translator, manual_window: str = "") -> None:
        super().__init__(tr, State.IDLE, "idle.title", "idle.body")
        self._window = manual_window
        self.mode = "ready"
        self.notice = QLabel(objectName="alert", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.scan_hint = QLabel(objectName="alert", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.middle.addWidget(self.notice)
        self.middle.addWidget(self.scan_hint)

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._title_key, self._body_key = self.MODES[mode]

    def render_text(self, ctx: VisitContext) -> None:
        self.title.setText(self.tr_.tr(self._title_key))
        self.body.setText(self.tr_.tr(self._body_key, window=self._window))  # "ready" names no window
        hint = ctx.extra.get("idle_hint", "")  # a code that was not a voucher: what to show instead
        self.scan_hint.setText(self.tr_.tr(hint) if hint in CATALOG else "")
        self.scan_hint.setVisible(bool(self.scan_hint.text()))


class ConsentScreen(Screen):
    state = State.CONSENT

    def __init__(self, tr: Translator, manual_window: str) -> None:
        super().__init__(tr)
        self._window = manual_window

    def render_text(self, ctx: VisitContext) -> None:
        swipe = ctx.extra.get("identified_by") == "face"  # face swipe: the platform sees the face
        self.title.setText(self.tr_.tr("consent.face_swipe_title" if swipe else "consent.title"))
        self.body.setText(self.tr_.tr("consent.face_swipe_body" if swipe else "consent.body", window=self._window))


class FaceScreen(Screen):
    """Mirrored live preview inside a guide; the preview is fed by the window's timer."""

    state = State.FACE_VERIFY

    def __init__(self, tr: Translator, *, demo: bool) -> None:
        super().__init__(tr, busy=True)
        self._demo = demo
        self.preview = QLabel(objectName="preview", alignment=Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(200, 120)  # grows with the screen; small enough for 1280x800 in elderly mode
        self.preview.setStyleSheet("border: 6px solid #0B5394; border-radius: 16px;")
        self.middle.insertWidget(0, self.preview, stretch=1)
        self.notice = QLabel(objectName="hint", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.middle.addWidget(self.notice)

    def show_frame(self, rgb: object) -> None:
        import numpy as np

        frame = np.ascontiguousarray(np.asarray(rgb)[:, ::-1])  # mirrored, like a mirror
        height, width = frame.shape[:2]
        image = QImage(frame.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
        self.preview.setPixmap(QPixmap.fromImage(image).scaled(
            self.preview.size() * 0.95, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))

    def show_prompt(self, key: str) -> None:
        """What the patient should do now (quality gate or liveness step), under the preview."""
        self.notice.setText(self.tr_.tr(key) if key else (self.tr_.tr("face.liveness_demo") if self._demo else ""))

    def render_text(self, ctx: VisitContext) -> None:
        swipe = "face_swipe" if ctx.extra.get("identified_by") == "face" else "face"
        self.title.setText(self.tr_.tr(f"{swipe}.title"))
        if ctx.face_attempts > 1:
            self.body.setText(self.tr_.tr(f"{swipe}.retry", n=ctx.face_attempts))
        else:
            self.body.setText(self.tr_.tr(f"{swipe}.body"))
        self.notice.setText(self.tr_.tr("face.liveness_demo") if self._demo else "")


def _lang(tr: Translator) -> str:
    return "zh" if tr.language.startswith("zh") else "en"


def insurance_words(tr: Translator, record: InsuranceRecord, treatment_area: str) -> dict[str, str]:
    """What a patient reads of an insurance record: its type, region and where that is from here."""
    lang = _lang(tr)
    return {"type": insutype_name(record.insutype, lang), "region": record.region(lang),
            "locality": tr.tr(f"locality.{record.locality(treatment_area).value}"), "balance": money(record.balance)}


class ServicesScreen(Screen):
    state = State.SERVICES

    def __init__(self, tr: Translator, treatment_area: str = "") -> None:
        super().__init__(tr)
        self._area = treatment_area
        self.insured = QLabel(objectName="hint", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.middle.addWidget(self.insured)
        self.middle.addStretch(1)

    def render_text(self, ctx: VisitContext) -> None:
        person = ctx.person
        self.title.setText(self.tr_.tr("services.title", name=person.name if person else ""))
        self.body.setText(self.tr_.tr("services.body", balance=money(person.balance) if person else "-"))
        self.insured.setText(self.tr_.tr("services.insured", **insurance_words(self.tr_, person.record, self._area))
                             if person is not None and self._area else "")


class _ResizeAwareTable(QTableWidget):
    """The fee table, telling its screen when its height changes (the page size follows it)."""

    def __init__(self, on_resize: Callable[[], None]) -> None:
        super().__init__(0, 3, objectName="fees")
        self._on_resize = on_resize

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's naming
        super().resizeEvent(event)
        self._on_resize()


class FeeReviewScreen(Screen):
    """The outstanding fees, a page at a time: large rows and two large page buttons instead of a thin
    scrollbar (an elderly patient cannot drag one). A page holds as many whole rows as the table's
    height takes at the current text size, at most ``ROWS_PER_PAGE``."""

    state = State.FEE_REVIEW
    ROWS_PER_PAGE = {False: 6, True: 4}  # standard, elderly: at most this many lines to read at once
    ROW_LINES = 1.5  # a row's height in lines of its text (the text and room around it)

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self._cap, self.rows_per_page, self.page = self.ROWS_PER_PAGE[False], self.ROWS_PER_PAGE[False], 0
        self._fees: tuple = ()
        self._total = Decimal("0.00")
        self.table = _ResizeAwareTable(self._refill_later)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # no row looks chosen: nothing is chosen here
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.middle.addWidget(self.table, stretch=1)
        # the page buttons share the row of the screen's buttons (first and last): the table keeps the height
        self.previous_page = QPushButton(objectName="secondary", clicked=lambda: self.turn(-1))
        self.next_page = QPushButton(objectName="secondary", clicked=lambda: self.turn(1))
        for button in (self.previous_page, self.next_page):
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.buttons.addWidget(button)

    def add_button(self, name: str, key: str, on_click: Callable[[], None], *, secondary: bool = False) -> QPushButton:
        button = super().add_button(name, key, on_click, secondary=secondary)
        self.buttons.removeWidget(self.next_page)  # "next page" stays last
        self.buttons.addWidget(self.next_page)
        return button

    def set_elderly(self, elderly: bool) -> None:
        self._cap, self.page = self.ROWS_PER_PAGE[elderly], 0

    def _refill_later(self) -> None:
        if self._fees:  # the table's new height: a new page size, once the layout has settled
            QTimer.singleShot(0, self._fill)

    def _row_height(self) -> int:
        self.table.ensurePolished()
        return int(QFontMetrics(self.table.font()).height() * self.ROW_LINES)

    @property
    def pages(self) -> int:
        return max(1, -(-len(self._fees) // self.rows_per_page))

    def turn(self, step: int) -> None:
        self.page = min(max(0, self.page + step), self.pages - 1)
        self._fill()

    def render_text(self, ctx: VisitContext) -> None:
        self.title.setText(self.tr_.tr("fees.title"))
        self._total = sum((f.amount for f in ctx.fees), Decimal("0.00"))
        self.table.setHorizontalHeaderLabels([self.tr_.tr(k) for k in ("fees.col_item", "fees.col_qty",
                                                                        "fees.col_amount")])
        if tuple(ctx.fees) != self._fees:
            self._fees, self.page = tuple(ctx.fees), 0
        self.previous_page.setText(self.tr_.tr("fees.previous_page"))
        self.next_page.setText(self.tr_.tr("fees.next_page"))
        self._fill()
        self.table.setVisible(bool(ctx.fees))
        for button in self._button_keys:  # nothing to confirm without fees: no dead button
            if button.property("action") == "confirm_fees":
                button.setVisible(bool(ctx.fees))

    def _fill(self) -> None:
        row_height = self._row_height()
        self.table.verticalHeader().setDefaultSectionSize(row_height)
        fit = self.table.viewport().height() // row_height if self.table.isVisible() else self._cap
        self.rows_per_page = max(1, min(self._cap, fit))
        self.page = min(self.page, self.pages - 1)
        shown = self._fees[self.page * self.rows_per_page:(self.page + 1) * self.rows_per_page]
        self.table.setRowCount(len(shown))
        for row, fee in enumerate(shown):
            for col, text in enumerate((fee.name, str(fee.quantity.normalize()), money(fee.amount))):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        paged = self.pages > 1
        for widget in (self.previous_page, self.next_page):
            widget.setVisible(paged)
        self.previous_page.setEnabled(self.page > 0)
        self.next_page.setEnabled(self.page < self.pages - 1)
        body = self.tr_.tr("fees.total", total=money(self._total)) if self._fees else self.tr_.tr("services.none")
        if paged:
            body += " · " + self.tr_.tr("fees.page", page=self.page + 1, pages=self.pages)
        self.body.setText(body)


class ConfirmScreen(Screen):
    state = State.CONFIRM

    def __init__(self, tr: Translator, manual_window: str = "", *, own_share_at_counter: bool = False) -> None:
        super().__init__(tr)
        # no payment provider (payment.provider = none): an own share is paid at the counter, said before the
        # last tap, and the only way on is to the counter
        self._window, self.own_share_at_counter = manual_window, own_share_at_counter
        self.notice = QLabel(objectName="alert", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.cancel_prompt = QLabel(objectName="alert", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.middle.addWidget(self.notice)
        self.middle.addWidget(self.cancel_prompt)
        self.cancel_asked = False  # the first "cancel" asks; the second cancels

    def cash_at_counter(self, ctx: VisitContext) -> bool:
        pre = ctx.pre_settlement
        return self.own_share_at_counter and pre is not None and pre.amounts.psn_cash_pay > 0

    def render(self, ctx: VisitContext) -> None:
        super().render(ctx)
        at_counter = self.cash_at_counter(ctx)
        self.button("pay").setVisible(not at_counter)
        if at_counter:
            self.button("cancel").setText(self.tr_.tr("confirm.understood"))
        elif self.cancel_asked:
            self.button("cancel").setText(self.tr_.tr("confirm.cancel_sure"))
        self.cancel_prompt.setText(self.tr_.tr("confirm.cancel_prompt") if self.cancel_asked else "")
        for label in (self.notice, self.cancel_prompt):  # an empty line must not cost a large bill's split its room
            label.setVisible(bool(label.text()))

    def render_text(self, ctx: VisitContext) -> None:
        self.title.setText(self.tr_.tr("confirm.title"))
        notices = [self.tr_.tr("confirm.no_receipt")] if ctx.extra.get("printer_warning") else []
        if ctx.pre_settlement is not None and ctx.pre_settlement.warnings:  # the pre-audit's, in its words
            notices.append(self.tr_.tr("confirm.audit", warnings="；".join(w.message for w in
                                                                           ctx.pre_settlement.warnings)))
        if self.cash_at_counter(ctx):
            notices.insert(0, self.tr_.tr("confirm.cash_at_counter", window=self._window,
                                          cash=money(ctx.pre_settlement.amounts.psn_cash_pay)))  # type: ignore[union-attr]
        self.notice.setText("\n".join(notices))
        self.notice.setVisible(bool(notices))
        if ctx.pre_settlement is None:
            self.body.setText("")
            return
        a = ctx.pre_settlement.amounts
        lang = 0 if _lang(self.tr_) == "zh" else 1
        funds = [self.tr_.tr("confirm.fund", words=words[lang], amount=money(amount))
                 for _field, words, amount in fund_lines(a, include_cash=False)]  # each as returned, in words
        self.body.setText(self.tr_.tr("confirm.body", total=money(a.medfee_sumamt),
                                      funds="\n".join(funds) or self.tr_.tr("confirm.no_funds"),
                                      cash=money(a.psn_cash_pay)))


def qr_pixmap(text: str, side_px: int) -> QPixmap:
    """A QR code as a crisp pixmap (whole modules, no smoothing) about ``side_px`` wide."""
    import qrcode

    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    matrix = qr.get_matrix()
    n = len(matrix)
    image = QImage(n, n, QImage.Format.Format_Grayscale8)
    image.fill(255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                image.setPixel(x, y, 0xFF000000)
    scale = max(1, side_px // n)
    return QPixmap.fromImage(image.scaled(n * scale, n * scale, Qt.AspectRatioMode.IgnoreAspectRatio,
                                          Qt.TransformationMode.FastTransformation))


class PaymentScreen(Screen):
    """The own share: the amount large, the order's QR code to scan, or a payment code to show, the time
    left, and what is happening now (charging, confirm on the phone, a refused code)."""

    state = State.PAYING

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        row = QHBoxLayout()
        row.setSpacing(40)
        self.qr = QLabel(objectName="qr", alignment=Qt.AlignmentFlag.AlignCenter)
        self.qr.setMinimumSize(180, 180)
        self.qr.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        row.addStretch(1)
        row.addWidget(self.qr)
        column = QVBoxLayout()
        self.scan_text = QLabel(alignment=Qt.AlignmentFlag.AlignLeft, wordWrap=True)
        self.code_text = QLabel(alignment=Qt.AlignmentFlag.AlignLeft, wordWrap=True)
        self.countdown = QLabel(objectName="hint", alignment=Qt.AlignmentFlag.AlignLeft)
        column.addStretch(1)
        for label in (self.scan_text, self.code_text, self.countdown):
            column.addWidget(label)
        column.addStretch(1)
        row.addLayout(column, stretch=8)
        row.addStretch(1)
        self.middle.addLayout(row, stretch=1)
        self.hint = QLabel(objectName="alert", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.middle.addWidget(self.hint)
        self._shown_qr = ""

    def show_remaining(self, seconds: int) -> None:
        self.countdown.setText(self.tr_.tr("pay.countdown", s=max(0, seconds)))

    def render_text(self, ctx: VisitContext) -> None:
        order = ctx.payment_order
        amount = order.amount if order else (ctx.pre_settlement.amounts.psn_cash_pay if ctx.pre_settlement else None)
        self.title.setText(self.tr_.tr("pay.title", amount=money(amount)) if amount is not None
                           else self.tr_.tr("pay.title_no_amount"))
        self.body.setText("")
        self.body.setVisible(False)
        card = order is not None and not order.qr_url  # a bank-card terminal: no code to scan or show
        self.scan_text.setText(self.tr_.tr("pay.card" if card else "pay.scan_qr"))
        self.code_text.setText("" if card else self.tr_.tr("pay.show_code"))
        self.code_text.setVisible(not card)
        self.qr.setVisible(not card)
        if order is not None and order.qr_url and order.qr_url != self._shown_qr:
            self._shown_qr = order.qr_url
            self.qr.setPixmap(qr_pixmap(order.qr_url, 220))
        elif order is None:
            self._shown_qr = ""
            self.qr.clear()
        self.hint.setText(self.tr_.tr(payment_hint_key(ctx.extra.get("payment_hint", ""))) if
                          ctx.extra.get("payment_hint") else "")


def payment_hint_key(hint: str) -> str:
    """The catalog key of a payment-screen hint; a refusal the catalog does not name gets the general one."""
    return known_key("pay.hint.", hint, "declined")


RETRYABLE_CODES = frozenset({100, 101, 102, 104, 106})  # card read failures another insert may cure


class ErrorScreen(Screen):
    state = State.ERROR

    def __init__(self, tr: Translator, manual_window: str, filing_url: str = "") -> None:
        super().__init__(tr)
        self._window, self._filing_url = manual_window, filing_url
        # 'not filed' only: the QR code with what it is for beside it (one row: the screen keeps its height)
        self.filing_qr = QLabel(objectName="qr", alignment=Qt.AlignmentFlag.AlignCenter)
        self.filing_hint = QLabel(objectName="hint", alignment=Qt.AlignmentFlag.AlignVCenter)
        filing = QHBoxLayout()
        filing.setSpacing(24)
        filing.addStretch(1)
        filing.addWidget(self.filing_qr)
        filing.addWidget(self.filing_hint)
        filing.addStretch(1)
        self.middle.addLayout(filing)
        self.code = QLabel(objectName="hint", alignment=Qt.AlignmentFlag.AlignCenter)
        self.middle.addWidget(self.code)

    def _render_benefit(self, ctx: VisitContext) -> bool:
        """A refused benefit check: its own message and the way forward (for filing, a QR code that opens
        the national filing service on the patient's phone)."""
        reason = ctx.error_message.removeprefix("benefit.")
        if not ctx.error_message.startswith("benefit.") or f"benefit.{reason}" not in CATALOG:
            return False
        record = ctx.person.record if ctx.person is not None else None
        self.title.setText(self.tr_.tr("benefit.title"))
        self.body.setText(self.tr_.tr(f"benefit.{reason}", window=self._window,
                                      since=record.paused_since if record else "",
                                      detail=ctx.extra.get("error_detail", "")))
        filing = reason == "not_filed" and bool(self._filing_url)
        self.filing_qr.setVisible(filing)
        self.filing_hint.setVisible(filing)
        code = self.tr_.tr("error.code", code=ctx.error_code)
        self.code.setVisible(not filing)
        if filing:
            self.filing_qr.setPixmap(qr_pixmap(self._filing_url, 170))
            self.filing_hint.setText(f"{self.tr_.tr('benefit.scan')}\n{code}")
        self.code.setText(code)
        return True

    def render_text(self, ctx: VisitContext) -> None:
        if self._render_benefit(ctx):
            return
        self.filing_qr.setVisible(False)
        self.filing_hint.setVisible(False)
        self.code.setVisible(True)
        if ctx.refunded is not None:  # not an error of the patient's: say where the money went
            self.title.setText(self.tr_.tr("refund.title"))
            self.body.setText(self.tr_.tr("refund.body", amount=money(ctx.refunded.amount), window=self._window))
            self.code.setText("")
            return
        if ctx.error_message == "consent_declined":  # a choice, not a failure: where to go, kindly
            swipe = ctx.extra.get("identified_by") == "face"  # no face swipe: the card and the code still work
            self.title.setText(self.tr_.tr("counter.title"))
            self.body.setText(self.tr_.tr("counter.face_swipe_body" if swipe else "counter.body", window=self._window))
            self.code.setText("")
            return
        key = reason_key(ctx.error_code, ctx.error_message)
        reason = self.tr_.tr(key) if key else ctx.error_message
        wait_s = int(ctx.extra.get("retry_after_s") or 0)
        if ctx.error_message.split(".") == ["face_swipe", "locked"] and wait_s > 0:  # how long the lock lasts
            reason += self.tr_.tr("face_swipe.retry_after", minutes=max(1, -(-wait_s // 60)))
        retry = ctx.error_code in RETRYABLE_CODES  # one instruction first, the alternatives after it
        self.title.setText(self.tr_.tr("error.retry_title" if retry else "error.title"))
        self.body.setText(self.tr_.tr("error.retry_body" if retry else "error.body", reason=reason, window=self._window))
        self.code.setText(self.tr_.tr("error.code", code=ctx.error_code) if ctx.error_code else "")
