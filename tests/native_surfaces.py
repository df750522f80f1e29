"""Which native surfaces (top-level windows) a window makes while it is built and shown."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QPlatformSurfaceEvent
from PySide6.QtWidgets import QApplication


class SurfaceLog(QObject):
    """Every object that got a native surface while installed on the application."""

    def __init__(self) -> None:
        super().__init__()
        self.created: list[QObject] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.PlatformSurface and isinstance(event, QPlatformSurfaceEvent)
                and event.surfaceEventType() == QPlatformSurfaceEvent.SurfaceEventType.SurfaceCreated):
            self.created.append(watched)
        return False


@contextmanager
def surfaces_made() -> Iterator[SurfaceLog]:
    app = QApplication.instance()
    assert app is not None
    log = SurfaceLog()
    app.installEventFilter(log)
    try:
        yield log
    finally:
        app.removeEventFilter(log)


def strays(log: SurfaceLog, window: QObject) -> list[str]:
    """The surfaces made for anything but the window itself (its widget and its QWindow)."""
    own = {id(window), id(window.windowHandle())}  # type: ignore[attr-defined]
    return [f"{type(o).__name__} '{o.objectName()}'" for o in log.created if id(o) not in own]
