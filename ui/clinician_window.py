"""The clinician workstation's login window: pick yourself, face, position, session; refusals say why
and what to do. Runs the pure login machine; its effects run on worker lanes (vision for the face,
location for the position). The session locks on idle and when the clinician's face has been absent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk import clinician_login as cl
from kiosk.clinician_effects import LoginEffects
from kiosk.domain import StaffMember
from kiosk.ports import Camera

from ui import screens as s
from ui.bridge import TaskRunner
from ui.i18n import Translator
from ui.theme import metrics, stylesheet

log = logging.getLogger(__name__)

CLINICIAN_LANES = ("vision", "location", "audit")
OUTSIDE_HELP = {"outside_geofence", "near_edge"}
POSITION_HELP = {"no_fix", "stale_fix", "poor_accuracy", "fix_2d", "unavailable", "site_contradiction", "site_unproven", "teleport"}


def lane_for(effect: cl.Effect) -> str:
    return {cl.VerifyStaffFace: "vision", cl.CheckPosition: "location"}.get(type(effect), "audit")


class LoginController(QObject):
    state_changed = Signal(object)

    def __init__(self, machine: cl.ClinicianLogin, effects: LoginEffects, tasks: TaskRunner) -> None:
        super().__init__()
        self.machine, self._effects, self.tasks = machine, effects, tasks

    def post(self, event: cl.Event) -> None:
        for effect in self.machine.handle(event):
            self.tasks.submit(lane_for(effect), partial(self._effects.run, effect), self._on_result)
        self.state_changed.emit(self.machine.state)

    def _on_result(self, event: cl.Event | None) -> None:
        if event is not None:
            self.post(event)


class PickScreen(s.Screen):
    def __init__(self, tr: Translator, search: Callable[[str], list[StaffMember]], on_pick: Callable[[str], None]) -> None:
        super().__init__(tr)
        self._search, self._on_pick = search, on_pick
        self.query = QLineEdit(objectName="search")
        self.query.textChanged.connect(self.refill)
        self.people = QListWidget(objectName="staff")
        self.people.setStyleSheet("QListWidget::item { padding: 16px 8px; border-bottom: 1px solid #C8C8C8; }")
        self.people.itemClicked.connect(lambda item: self._on_pick(item.data(Qt.ItemDataRole.UserRole)))
        self.none_found = QLabel(objectName="hint", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.none_found.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)  # never squeezed
        self.middle.addWidget(self.query)
        self.middle.addWidget(self.none_found)
        self.middle.addWidget(self.people, stretch=1)

    def refill(self) -> None:
        self.people.clear()
        text = self.query.text().strip()
        found = self._search(text)
        for member in found:
            item = QListWidgetItem(f"{member.name}    {member.department}    {member.staff_no}")
            item.setData(Qt.ItemDataRole.UserRole, member.staff_no)
            self.people.addItem(item)
        self.none_found.setVisible(not found)
        self.none_found.setText(self.tr_.tr("login.pick.no_match", text=text) if text else
                                self.tr_.tr("login.pick.empty"))

    def render_text(self, ctx: object) -> None:
        self.title.setText(self.tr_.tr("login.pick.title"))
        self.body.setText(self.tr_.tr("login.pick.body"))
        self.query.setPlaceholderText(self.tr_.tr("login.pick.search"))


class LoginFaceScreen(s.FaceScreen):
    def render_text(self, ctx: object) -> None:
        self.title.setText(self.tr_.tr("login.face.title"))
        self.body.setText(self.tr_.tr("face.body"))


class PositionScreen(s.Screen):
    def __init__(self, tr: Translator) -> None:
        super().__init__(tr, busy=True)

    def render_text(self, ctx: object) -> None:
        self.title.setText(self.tr_.tr("login.position.title"))
        self.body.setText(self.tr_.tr("login.position.body"))


class SessionScreen(s.Screen):
    def render_text(self, ctx: object) -> None:
        machine: cl.ClinicianLogin = ctx  # type: ignore[assignment]
        self.title.setText(self.tr_.tr("login.session.title", staff_no=machine.staff_no or "-"))
        self.body.setText(self.tr_.tr("login.session.body"))


class RefusedScreen(s.Screen):
    def render_text(self, ctx: object) -> None:
        machine: cl.ClinicianLogin = ctx  # type: ignore[assignment]
        if machine.state is not cl.LoginState.REFUSED:
            return  # rendered before any refusal (language switch): nothing to say yet
        self.title.setText(self.tr_.tr(f"login.reason.{machine.reason}"))
        help_key = ("login.help.outside" if machine.reason in OUTSIDE_HELP else
                    "login.help.position" if machine.reason in POSITION_HELP else "login.help.face")
        self.body.setText(self.tr_.tr(help_key))
        detail = self.tr_.tr("login.it_detail", code=machine.reason)  # what IT needs, below the clinician's text
        edge = machine.attempt.position.get("edge_m")
        if machine.reason in OUTSIDE_HELP and edge is not None:
            detail += self.tr_.tr("login.it_distance", metres=abs(int(edge)))
        self.it_detail.setText(detail)

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.it_detail = QLabel(objectName="hint", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.it_detail.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.middle.addWidget(self.it_detail)


class ClinicianWindow(QMainWindow):
    def __init__(self, controller: LoginController, *, camera: Camera, search: Callable[[str], list[StaffMember]],
                 language: str = "zh_CN", idle_lock_s: float = 300.0, absent_lock_s: float = 30.0,
                 face_present: Callable[[], bool] | None = None, demo: bool = False) -> None:
        super().__init__()
        self.controller, self.camera = controller, camera
        self.tr_ = Translator(language)
        self.setObjectName("kiosk")
        post = controller.post
        self.pick = PickScreen(self.tr_, search, lambda staff_no: post(cl.StaffChosen(staff_no)))
        self.face = LoginFaceScreen(self.tr_, demo=demo)
        self.face.add_button("cancel", "login.cancel", lambda: post(cl.Cancelled()), secondary=True)
        self.position = PositionScreen(self.tr_)
        self.position.add_button("cancel", "login.cancel", lambda: post(cl.Cancelled()), secondary=True)
        self.session = SessionScreen(self.tr_)
        self.session.add_button("logout", "login.logout", lambda: post(cl.Logout()))
        self.refused = RefusedScreen(self.tr_)
        self.refused.add_button("ok", "login.ok", lambda: post(cl.Acknowledged()))
        self._screens = {cl.LoginState.LOCKED: self.pick, cl.LoginState.FACE: self.face,
                         cl.LoginState.POSITION: self.position, cl.LoginState.SESSION: self.session,
                         cl.LoginState.REFUSED: self.refused}
        self.stack = QStackedWidget()
        for screen in self._screens.values():
            self.stack.addWidget(screen)
        top = QHBoxLayout()
        self.language_button = QPushButton(objectName="secondary", clicked=lambda: self.tr_.toggle())
        self.demo_label = QLabel(objectName="alert", wordWrap=True)  # the demo says what it does not check
        top.addWidget(self.demo_label, stretch=1)
        top.addStretch(0 if demo else 1)
        top.addWidget(self.language_button)
        root = QWidget()
        layout = QVBoxLayout(root)
        layout.addLayout(top)
        layout.addWidget(self.stack, stretch=1)
        self.setCentralWidget(root)
        self.demo_label.setVisible(demo)  # once it has a parent: else a top-level window of its own for a moment
        self.face_prompt, self._shown_prompt = "", ""
        self._preview = QTimer(self, interval=66, timeout=self._refresh_preview)
        self._idle = QTimer(self, singleShot=True, interval=int(idle_lock_s * 1000),
                            timeout=lambda: post(cl.IdleTimeout()))
        self._absent_s, self._face_present = absent_lock_s, face_present
        self._last_seen = time.monotonic()
        self._presence = QTimer(self, interval=2000, timeout=self._check_presence)
        controller.state_changed.connect(self._on_state)
        self.tr_.on_change(self.render)
        self.setStyleSheet(stylesheet(metrics(False)))
        self.pick.refill()
        self.render()

    @property
    def current(self) -> s.Screen:
        return self._screens[self.controller.machine.state]

    def render(self) -> None:
        self.language_button.setText(self.tr_.tr("bar.language"))
        self.demo_label.setText(self.tr_.tr("login.demo_banner"))
        self.pick.refill()
        for screen in self._screens.values():
            screen.render(self.controller.machine)  # type: ignore[arg-type]

    def note_face_prompt(self, key: str) -> None:
        """Vision worker: only stores the key; the preview timer shows it."""
        self.face_prompt = key

    def _on_state(self, state: cl.LoginState) -> None:
        screen = self._screens[state]
        screen.render(self.controller.machine)  # type: ignore[arg-type]
        self.stack.setCurrentWidget(screen)
        if state is cl.LoginState.FACE:
            self._preview.start()
        else:
            self._preview.stop()
        if state is cl.LoginState.SESSION:
            self._idle.start()
            self._last_seen = time.monotonic()
            if self._face_present is not None:
                self._presence.start()
        else:
            self._idle.stop()
            self._presence.stop()
        if state is cl.LoginState.LOCKED:
            self.pick.query.clear()
            self.pick.refill()

    def _refresh_preview(self) -> None:
        frame = self.camera.latest_frame()
        if frame is not None:
            self.face.show_frame(frame)
        if self.face_prompt != self._shown_prompt:
            self._shown_prompt = self.face_prompt
            self.face.show_prompt(self._shown_prompt)

    def _check_presence(self) -> None:
        assert self._face_present is not None
        self.controller.tasks.submit("vision", self._face_present, self._on_presence)

    def _on_presence(self, present: bool | None) -> None:
        if self.controller.machine.state is not cl.LoginState.SESSION:
            return
        now = time.monotonic()
        if present:
            self._last_seen = now
        elif now - self._last_seen >= self._absent_s:
            self.controller.post(cl.FaceAbsent())

    def mousePressEvent(self, event: object) -> None:  # noqa: N802 - Qt's naming
        if self._idle.isActive():
            self._idle.start()
        super().mousePressEvent(event)  # type: ignore[arg-type]

