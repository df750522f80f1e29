"""The full-screen kiosk window: top bar (language, elderly mode, call staff), the screens,
bottom bar (network, queue, idle countdown). Runs on the GUI thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk import visit as v
from kiosk.config import UiConfig
from kiosk.errands import ERRANDS
from kiosk.keyboard_wedge import WedgeAssembler
from kiosk.ports import Camera

from ui import choice_screens as choices
from ui import errand_screens
from ui.invoice_screens import build_invoice_screen
from ui.registration_screens import build_registration_screens
from ui import identity_screens as ids
from ui import outcome_screens as o
from ui import screens as s
from ui.controller import VisitController
from ui.i18n import Translator
from ui.theme import ALERT, metrics, stylesheet

# where a scanner's code means something: a voucher (idle), a payment code (paying), a family member's voucher
SCANNING = (v.State.IDLE, v.State.PAYING, v.State.FAMILY_ACCOUNT)
# (online, pending, reader ok, queue recovered from corruption) - runs on the status lane
StatusProbe = Callable[[], tuple[bool, int, bool, bool]]


class KioskWindow(QMainWindow):
    def __init__(self, controller: VisitController, cfg: UiConfig, *, camera: Camera, manual_window: str,
                 status_probe: StatusProbe, demo: bool, on_demo_insert: Callable[[], None] | None = None,
                 on_demo_scan: Callable[[], str] | None = None, voice: object | None = None,
                 payment_timeout_s: float = 120.0, on_demo_pay: Callable[[], object] | None = None,
                 treatment_area: str = "110101", face_swipe: bool = False,
                 errands: tuple[str, ...] = ERRANDS, own_share_at_counter: bool = False,
                 slips_on_paper: bool = True) -> None:
        super().__init__()
        self._face_swipe = face_swipe  # "swipe face" offered on the idle screen (voucher.face_swipe)
        self._errands = errands  # the services menu's tiles (services.errands)
        # no payment provider: an own share is paid at the counter; no thermal printer: no slip to take
        self._own_share_at_counter, self._slips_on_paper = own_share_at_counter, slips_on_paper
        self.treatment_area = treatment_area  # mdtrtarea_admvs: where "insured here" means
        self._payment_timeout_s = payment_timeout_s
        self.voice = voice  # speaks with say(text, language) -> bool; None: no voice
        self.controller, self.cfg, self.camera = controller, cfg, camera
        self.tr_ = Translator(cfg.language)
        self.elderly = cfg.elderly_mode
        self._status_probe, self.demo = status_probe, demo
        # last status from the status lane: gateway online, items queued, reader usable, queue file recovered
        self._online: bool | None = None  # None: not known yet (no "offline" alarm before the first probe)
        self._pending, self._reader_ok, self._recovered = 0, True, False
        self.setObjectName("kiosk")
        self._build(manual_window, on_demo_insert, on_demo_scan, on_demo_pay)
        self.tr_.on_change(self.render)
        controller.state_changed.connect(self._on_state_changed)
        self._idle = QTimer(self, singleShot=True, timeout=self._start_countdown)
        self._countdown = QTimer(self, interval=1000, timeout=self._tick)
        self._remaining = 0
        self._pay_clock = QTimer(self, interval=1000, timeout=self._pay_tick)  # the payment screen's own time
        self._pay_remaining = 0
        self.face_prompt, self._shown_prompt = "", ""
        self._last_spoken: tuple[v.State, str] | None = None
        self._wedge = WedgeAssembler()
        self._qr_sources: list[object] = []  # face_prompt is written by the vision worker
        self._preview = QTimer(self, interval=30, timeout=self._refresh_preview)  # ~33 Hz: a 30 fps camera
        self._status = QTimer(self, interval=2000, timeout=self._poll_status)
        self._status.start()
        QApplication.instance().installEventFilter(self)  # any touch restarts the idle timer
        self.apply_theme()
        self._poll_status()

    # -- construction -----------------------------------------------------------------------------

    def _build(self, manual_window: str, on_demo_insert: Callable[[], None] | None,
               on_demo_scan: Callable[[], str] | None = None, on_demo_pay: Callable[[], object] | None = None) -> None:
        tr, post = self.tr_, self.controller.post
        root = QWidget()
        layout = QVBoxLayout(root)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)

        top = QFrame(objectName="bar")
        top_row = QHBoxLayout(top)
        top_row.setContentsMargins(24, 12, 24, 12)
        self.app_title = QLabel(objectName="apptitle", wordWrap=True)  # may wrap: the buttons must fit
        self.demo_label = QLabel(objectName="alert", wordWrap=True)  # wraps rather than widen the window
        self.lang_button = QPushButton(objectName="secondary", clicked=lambda: tr.toggle())
        self.elderly_button = QPushButton(objectName="secondary", clicked=lambda: self.toggle_elderly())
        self.staff_button = QPushButton(objectName="staff", clicked=lambda: self.toggle_staff_call())
        top_row.addWidget(self.app_title)
        top_row.addStretch(1)
        for widget in (self.lang_button, self.elderly_button, self.staff_button):
            top_row.addWidget(widget)
        layout.addWidget(top)
        self.staff_called = False  # "staff are coming" replaces the title bar's name, the button cancels it

        self.stack = QStackedWidget()
        idle = self.idle = s.IdleScreen(tr, manual_window)
        if on_demo_insert is not None:
            idle.add_button("demo_insert", "idle.demo_insert", on_demo_insert, secondary=True)
        if on_demo_scan is not None:
            idle.add_button("demo_scan", "idle.demo_scan", lambda: self.scan_voucher(on_demo_scan()), secondary=True)
        if self._face_swipe:
            idle.add_button("face_swipe", "idle.face_swipe", lambda: post(v.FaceSwipeChosen()), middle=True)
        consent = s.ConsentScreen(tr, manual_window)
        consent.add_button("decline", "consent.decline", lambda: post(v.ConsentDeclined()), secondary=True)
        consent.add_button("agree", "consent.agree", lambda: post(v.ConsentGiven()))
        self.face = s.FaceScreen(tr, demo=self.demo)
        choice = choices.InsuranceChoiceScreen(tr, self.treatment_area, lambda i: post(v.InsuranceChosen(index=i)))
        choice.add_button("cancel", "common.cancel", lambda: post(v.Cancel()), secondary=True)
        services = errand_screens.ServicesMenuScreen(
            tr, self.treatment_area, self._errands,
            lambda errand: post(v.PayFeesChosen() if errand == "pay_fees" else v.ErrandChosen(errand=errand)))
        services.add_button("cancel", "common.cancel", lambda: post(v.Cancel()), secondary=True)
        self.errand = errand = errand_screens.ErrandScreen(tr, lambda i: post(v.InvoiceChosen(index=i)))
        errand.add_button("back", "errand.back", lambda: post(v.BackToServices()), secondary=True)
        errand.add_button("print_copy", "errand.print_copy", lambda: post(v.CopyRequested(index=0)), secondary=True)
        errand.add_button("done", "errand.done", lambda: post(v.Finish()))
        self.invoice = invoice = build_invoice_screen(tr, post)
        departments, doctors = build_registration_screens(tr, post, lambda: self.controller.machine.ctx)
        visit_type = choices.VisitTypeScreen(tr, lambda i: post(v.VisitTypeChosen(index=i)))
        visit_type.add_button("cancel", "common.cancel", lambda: post(v.Cancel()), secondary=True)
        fees = self.fees = s.FeeReviewScreen(tr)
        fees.add_button("cancel", "common.cancel", lambda: post(v.Cancel()), secondary=True)
        fees.add_button("confirm_fees", "fees.confirm", lambda: post(v.FeesConfirmed()))
        confirm = self.confirm = s.ConfirmScreen(tr, manual_window, own_share_at_counter=self._own_share_at_counter)
        confirm.add_button("cancel", "common.cancel", lambda: self._ask_before_cancel(), secondary=True)
        confirm.add_button("pay", "confirm.pay", lambda: post(v.SettlementConfirmed()))
        self.payment = payment = s.PaymentScreen(tr)
        payment.add_button("cancel", "pay.cancel", lambda: post(v.Cancel()), secondary=True)
        if on_demo_pay is not None:
            payment.add_button("demo_pay", "pay.demo_phone", lambda: on_demo_pay(), secondary=True)
        receipt = o.ReceiptScreen(tr, manual_window, slips_on_paper=self._slips_on_paper)
        receipt.add_button("reprint", "receipt.reprint", lambda: post(v.ReprintRequested()), secondary=True)
        receipt.add_button("done", "receipt.done", lambda: post(v.Finish()))
        error = s.ErrorScreen(tr, manual_window, self.cfg.filing_url)
        error.add_button("back", "error.back", lambda: post(v.Finish()))
        enter_id = self.enter_id = ids.IdNumberScreen(tr, lambda text: post(v.IdNumberEntered(id_no=text)))
        enter_id.add_button("cancel", "common.cancel", lambda: post(v.Cancel()), secondary=True)
        enter_id.add_button("confirm_id", "enter_id.confirm", enter_id.submit)
        self.pin_pad = pin = ids.PinPadScreen(tr, lambda pin: post(v.PasswordEntered(password=pin)))
        pin.add_button("cancel", "common.cancel", lambda: post(v.Cancel()), secondary=True)
        pin.add_button("confirm_pin", "password.confirm", pin.submit)
        family = ids.FamilyAccountScreen(tr)
        family.add_button("cancel", "common.cancel", lambda: post(v.Cancel()), secondary=True)
        if on_demo_scan is not None:
            family.add_button("demo_scan", "idle.demo_scan", lambda: self.scan_voucher(on_demo_scan()), secondary=True)
        interrupted = o.InterruptedScreen(tr, manual_window)
        interrupted.add_button("done", "receipt.done", lambda: post(v.Finish()))
        self.screens: dict[v.State, s.Screen] = {screen.state: screen for screen in (
            idle,
            s.TextScreen(tr, v.State.IDENTIFYING, "identify.title", "identify.body", busy=True),
            consent, self.face, choice, services, visit_type, fees,
            s.TextScreen(tr, v.State.PREPARING, "preparing.title", "preparing.body", busy=True),
            confirm, payment,
            s.TextScreen(tr, v.State.SETTLING, "settling.title", "settling.body", busy=True),
            receipt, error, interrupted, enter_id, pin, family, errand, invoice, departments, doctors,
        )}
        for state in (v.State.IDENTIFYING, v.State.FACE_VERIFY, v.State.PREPARING):
            self.screens[state].add_button("cancel", "common.cancel", lambda: post(v.Cancel()), secondary=True)
        for screen in self.screens.values():
            self.stack.addWidget(screen)
        layout.addWidget(self.stack, stretch=1)

        bottom = QFrame(objectName="bar")
        bottom_row = QHBoxLayout(bottom)
        bottom_row.setContentsMargins(24, 8, 24, 8)
        self.network_label = QLabel(objectName="network", wordWrap=True)
        self.voice_label = QLabel(objectName="alert", wordWrap=True)  # voice wanted but no speech engine
        self.pending_label = QLabel(objectName="pending")
        for widget in (self.network_label, self.pending_label, self.voice_label):
            bottom_row.addWidget(widget)
        bottom_row.addWidget(self.demo_label, stretch=1)  # takes the free width: wraps only when it must
        # shown or hidden only once it has a parent: a parentless widget made visible is a top-level window of
        # its own for a moment (under cage, a second surface before the kiosk's: see tests/test_ui.py)
        self.demo_label.setVisible(self.demo)
        layout.addWidget(bottom)
        self.setCentralWidget(root)
        # the idle countdown: a large panel in the middle of the screen, over whatever it shows (an elderly
        # patient misses a line in the corner), with one large button to keep the visit
        self.countdown_panel = QFrame(root, objectName="countdown")
        panel = QVBoxLayout(self.countdown_panel)
        panel.setContentsMargins(40, 32, 40, 32)
        panel.setSpacing(24)
        self.countdown_label = QLabel(objectName="title", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.more_time_button = QPushButton(objectName="primary", clicked=lambda: self.extend_time())
        panel.addWidget(self.countdown_label)
        panel.addWidget(self.more_time_button)
        self.countdown_panel.hide()

    # -- rendering --------------------------------------------------------------------------------

    @property
    def current(self) -> s.Screen:
        return self.screens[self.controller.state]

    def render(self) -> None:
        tr = self.tr_.tr
        self.setWindowTitle(tr("app.title"))
        self.app_title.setText(tr("bar.staff_called") if self.staff_called else tr("app.title"))
        self.app_title.setStyleSheet(f"color: {ALERT};" if self.staff_called else "")
        self.demo_label.setText(tr("bar.demo"))
        self.lang_button.setText(tr("bar.language"))
        self.elderly_button.setText(tr("bar.elderly_off" if self.elderly else "bar.elderly_on"))
        self.staff_button.setText(tr("bar.cancel_call") if self.staff_called else tr("bar.call_staff"))
        self.more_time_button.setText(tr("common.more_time"))
        self._render_status()
        screen = self.current
        screen.render(self.controller.machine.ctx)
        self.stack.setCurrentWidget(screen)

    def apply_theme(self) -> None:
        self.setStyleSheet(stylesheet(metrics(self.elderly)))
        self.fees.set_elderly(self.elderly)
        self.errand.elderly = self.invoice.elderly = self.elderly
        self.render()

    def toggle_elderly(self) -> None:
        self.elderly = not self.elderly
        self.apply_theme()
        self._restart_idle()

    def _ask_before_cancel(self) -> None:
        """After the trial a cancel undoes the registration: ask once, and remind the patient of the card."""
        screen = self.confirm
        if screen.cancel_asked or screen.cash_at_counter(self.controller.machine.ctx):  # to the counter: no question
            screen.cancel_asked = False
            self.controller.post(v.Cancel())
            return
        screen.cancel_asked = True
        screen.render(self.controller.machine.ctx)
        self.speak(screen.cancel_prompt.text())

    def toggle_staff_call(self) -> None:
        if self.staff_called:
            self.cancel_staff_call()
        else:
            self.call_staff()

    def call_staff(self) -> None:
        """Shown where the patient looks (the title bar, in the alert colour) and spoken; cancellable."""
        self.staff_called = True
        self.render()
        self.speak(self.tr_.tr("bar.staff_called"))

    def cancel_staff_call(self) -> None:
        self.staff_called = False
        self.render()

    # -- state, idle countdown, preview, status -----------------------------------------------------

    @property
    def voice_on(self) -> bool:
        return self.cfg.voice or self.elderly

    def speak(self, text: str) -> None:
        """A voice prompt when voice is on (returns at once: the engine runs in its own process)."""
        if self.voice_on and self.voice is not None:
            self.voice.say(text, self.tr_.language)  # type: ignore[attr-defined]

    def _on_state_changed(self, state: v.State) -> None:
        self.render()
        screen = self.current
        spoken = (state, screen.spoken_text())
        if spoken != self._last_spoken:  # the same screen updated (a payment's or a settlement's state): not again
            self._last_spoken = spoken
            self.speak(spoken[1])
        if state == v.State.FACE_VERIFY:
            self.camera.start()
            self._refresh_preview()
            self._preview.start()
        else:
            self._preview.stop()
        if state == v.State.IDLE:
            self.cancel_staff_call()
        if state != v.State.CONFIRM:
            self.confirm.cancel_asked = False
        for source in self._qr_sources:
            if hasattr(source, "active"):  # the camera decodes codes on the idle and payment screens only
                source.active = state in SCANNING
        self._restart_idle()
        if state == v.State.PAYING and not self._pay_clock.isActive():
            self._pay_remaining = int(self._payment_timeout_s * metrics(self.elderly).idle_scale)
            self.payment.show_remaining(self._pay_remaining)
            self._pay_clock.start()
        elif state != v.State.PAYING:
            self._pay_clock.stop()

    def _pay_tick(self) -> None:
        self._pay_remaining -= 1
        self.payment.show_remaining(self._pay_remaining)
        if self._pay_remaining <= 0:
            self._pay_clock.stop()
            self.controller.post(v.PaymentTimeout())

    def _restart_idle(self) -> None:
        self._countdown.stop()
        self.countdown_panel.hide()
        if self.controller.state in v.INTERRUPTIBLE and self.controller.state != v.State.PAYING:
            self._idle.start(int(self.cfg.idle_timeout_s * metrics(self.elderly).idle_scale * 1000))
        else:
            self._idle.stop()

    def extend_time(self) -> None:
        self._restart_idle()

    def _start_countdown(self) -> None:
        self._remaining = int(self.cfg.countdown_s * metrics(self.elderly).idle_scale)
        self._tick_label()
        self._place_countdown()
        self.countdown_panel.show()
        self.countdown_panel.raise_()
        self._countdown.start()

    def _tick(self) -> None:
        self._remaining -= 1
        if self._remaining <= 0:
            self._countdown.stop()
            self.controller.post(v.IdleTimeout())
            return
        self._tick_label()

    def _tick_label(self) -> None:
        self.countdown_label.setText(self.tr_.tr("common.countdown", s=self._remaining))

    def _place_countdown(self) -> None:
        """Centred over the screen, most of its width."""
        area = self.centralWidget().rect()
        width = min(area.width() - 80, 960)
        # the wrapped title's height at that width (heightForWidth is -1 when nothing wraps)
        height = max(self.countdown_panel.layout().heightForWidth(width), self.countdown_panel.sizeHint().height())
        self.countdown_panel.setGeometry((area.width() - width) // 2, (area.height() - height) // 2, width, height)

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt's naming
        super().resizeEvent(event)  # type: ignore[arg-type]
        if self.countdown_panel.isVisible():
            self._place_countdown()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's naming
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin, QEvent.Type.KeyPress):
            if self._idle.isActive():
                self._idle.start()  # restart with the same interval
        return False

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's naming
        """Keys no widget took: a keyboard-wedge scanner typing a voucher code on the idle screen, or a
        payment code on the payment screen."""
        if self.controller.state not in SCANNING:
            super().keyPressEvent(event)
            return
        char = "\r" if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) else event.text()
        if char:
            scan = self._wedge.feed(char, time.monotonic())
            if scan is not None:
                self.scan_voucher(scan)

    def scan_voucher(self, payload: str) -> None:
        """A code from any scanner (GUI thread): a voucher on the idle screen, a payment code on the payment
        screen; the machine decides by its state."""
        self.controller.post(v.VoucherScanned(payload=payload))

    def attach_qr_source(self, source: object) -> None:
        """A scanner whose listener runs on its own thread: bridged to the GUI thread here. Sources with an
        ``active`` switch (the camera) decode only while the idle screen is up."""
        source.set_listener(  # type: ignore[attr-defined]
            lambda payload: self.controller.tasks.post_to_gui(lambda: self.scan_voucher(payload)))
        self._qr_sources.append(source)

    def _refresh_preview(self) -> None:
        if not self._preview.isActive() and self.controller.state != v.State.FACE_VERIFY:
            return
        frame = self.camera.latest_frame()  # in memory: no I/O on the GUI thread
        if frame is not None:
            self.face.show_frame(frame)
        if self.face_prompt != self._shown_prompt:
            self._shown_prompt = self.face_prompt
            self.face.show_prompt(self._shown_prompt)
            if self._shown_prompt:
                self.speak(self.tr_.tr(self._shown_prompt))

    def note_face_prompt(self, key: str) -> None:
        """Called on the vision worker: only stores the key (a str assignment); the preview timer shows it."""
        self.face_prompt = key

    def _poll_status(self) -> None:
        self.controller.tasks.submit("status", self._status_probe, self._on_status)

    def _on_status(self, status: tuple[bool, int, bool, bool] | None) -> None:
        self._online, self._pending, self._reader_ok, self._recovered = \
            status if status is not None else (False, 0, False, False)
        self._render_status()

    def _render_status(self) -> None:
        online, pending = self._online, self._pending
        no_voice = self.voice_on and (self.voice is None or not self.voice.available())  # type: ignore[attr-defined]
        self.voice_label.setText(self.tr_.tr("bar.no_voice") if no_voice else "")
        self.voice_label.setVisible(no_voice)
        if online is None:
            self.network_label.setText(self.tr_.tr("bar.checking"))
            self.network_label.setStyleSheet("")
        else:
            self.network_label.setText(self.tr_.tr("bar.online" if online else "bar.offline"))
            self.network_label.setStyleSheet("color: #1E6B2F;" if online else "color: #B3261E; font-weight: bold;")
        pending_text = self.tr_.tr("bar.pending", n=pending) if pending else ""
        if self._recovered:  # staff must look at the old queue file
            pending_text = (pending_text + "  " + self.tr_.tr("bar.queue_recovered")).strip()
        self.pending_label.setText(pending_text)
        # what still works comes first on the idle screen, in the headline: offline (known, not just
        # unchecked) means out of service; no reader means the voucher (staff are told in the notice)
        mode = "out_of_service" if online is False else ("no_reader" if not self._reader_ok else "ready")
        self.idle.notice.setText(self.tr_.tr("reason.reader_offline") if mode == "no_reader" else "")
        if mode != self.idle.mode:
            self.idle.set_mode(mode)
            if self.controller.state == v.State.IDLE:
                self.idle.render(self.controller.machine.ctx)

    def closeEvent(self, event: QEvent) -> None:  # noqa: N802
        QApplication.instance().removeEventFilter(self)
        for timer in (self._idle, self._countdown, self._preview, self._status, self._pay_clock):
            timer.stop()
        super().closeEvent(event)
