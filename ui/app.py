"""Creating the QApplication (CJK font, platform choice) and running its event loop so that SIGTERM
(systemd stopping the service) and Ctrl+C end it cleanly."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QFont, QFontDatabase, QWindow
from PySide6.QtWidgets import QApplication, QWidget

log = logging.getLogger(__name__)
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", "Source Han Sans SC")


def create_app(*, headless: bool = False) -> QApplication:
    """One QApplication per process. ``headless`` uses Qt's offscreen platform (no display needed)."""
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = QApplication.instance() or QApplication(["hospital-kiosk"])
    assert isinstance(app, QApplication)
    family = cjk_family()
    if family:
        app.setFont(QFont(family, 20))
    return app


def cjk_family() -> str | None:
    """The first installed font family that has Chinese glyphs, or None (set-up installs fonts-noto-cjk)."""
    families = set(QFontDatabase.families())
    return next((f for f in CJK_FAMILIES if f in families), None)


_loop = {"running": False, "stop": False}


class _OnFirstExpose(QObject):
    """Calls once, after the native window's first expose (the compositor or X server mapped it and Qt
    painted into it in answer), then removes itself."""

    def __init__(self, handle: QWindow, call: Callable[[], None]) -> None:
        super().__init__(handle)
        self._handle, self._call = handle, call
        handle.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Expose and self._handle.isExposed():
            self._handle.removeEventFilter(self)
            QTimer.singleShot(0, self._call)  # after the paint that this expose sets off
        return False


def paint_offscreen_once(window: QWidget) -> None:
    """Lay out, polish and paint the window once into a pixmap before it is shown: fonts load (CJK faces
    are large) and style sheets resolve at start, not in the first paint a patient or clinician waits on
    (bench/ui.py measures that first paint)."""
    window.grab()


def show_window(window: QWidget, *, fullscreen: bool) -> None:
    """How every role's window goes on the screen (the patient kiosk and the clinician workstation, in
    ``kiosk run`` and ``kiosk demo``): full screen, its first frame already the screen's size (without a
    window manager, X alone or a kiosk compositor, nothing else sizes it), or a 1280x800 window."""
    if fullscreen:
        screen = window.screen()
        if screen is not None:
            window.setGeometry(screen.geometry())
        paint_offscreen_once(window)
        window.showFullScreen()
    else:
        window.resize(1280, 800)
        paint_offscreen_once(window)
        window.show()


def when_on_screen(window: QWidget, call: Callable[[], None]) -> None:
    """``call`` once the window's first frame has gone to the screen: at once when its native window is
    exposed already (or it has none: not shown), else after its first expose. Under a compositor that maps
    the window a moment after the event loop starts, "ready" then means the patient sees the kiosk."""
    handle = window.windowHandle()
    if handle is None or handle.isExposed():
        call()
        return
    _OnFirstExpose(handle, call)


def _on_stop_signal(signum: int, _frame: Any) -> None:
    """Inside the event loop: end it (``exec`` returns, the caller's ``finally`` stops what it started).
    Before or after it: an ordinary KeyboardInterrupt, which the command turns into a clean exit."""
    app = QApplication.instance()
    log.info("%s received: stopping", signal.Signals(signum).name)
    if _loop["running"] and app is not None:
        app.quit()
        return
    _loop["stop"] = True  # if Qt swallows the exception (raised inside a slot), the loop will not start
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_requested() -> bool:
    """Whether SIGTERM or SIGINT arrived outside the event loop (an exception Qt wrapped may be its doing)."""
    return _loop["stop"]


def handle_stop_signals() -> None:
    """SIGTERM and SIGINT stop the kiosk the same clean way (call once, early, in the main thread)."""
    signal.signal(signal.SIGTERM, _on_stop_signal)
    signal.signal(signal.SIGINT, _on_stop_signal)


def run_event_loop(app: QApplication, *, ready: Callable[[], None] | None = None,
                   heartbeat: tuple[int, Callable[[], None]] | None = None) -> int:
    """``app.exec()``, with a timer that lets Python run its signal handlers while Qt waits (without it a
    signal is only seen at the next Qt event that reaches Python code). ``ready`` is called once the loop
    runs (the window is up); ``heartbeat`` = (interval ms, call) is called on the GUI thread at that
    interval while the loop turns: the service manager's watchdog, which a frozen GUI stops feeding."""
    if _loop["stop"]:
        log.info("stopped before the window ran")
        return 0
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(200)
    QTimer.singleShot(0, lambda: log.info("event loop running"))
    if ready is not None:
        QTimer.singleShot(0, ready)
    beat = QTimer()
    if heartbeat is not None:
        beat.timeout.connect(heartbeat[1])
        beat.start(heartbeat[0])
    _loop["running"] = True
    try:
        return int(app.exec())
    finally:
        _loop["running"] = False
        wake.stop()
        beat.stop()
