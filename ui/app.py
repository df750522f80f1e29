"""Creating the QApplication: CJK font, platform choice."""

from __future__ import annotations

import os

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication

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
