"""Where the text sits on the screens without a middle part (issue 23): the explanation right under the
title, not halfway down; the free space below the text, above the buttons; the stylesheet of the window
applied (normal and elderly type). Qt offscreen, no devices."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from kiosk.domain import VisitContext
from ui import screens as s
from ui.i18n import Translator
from ui.theme import metrics, stylesheet


@pytest.mark.parametrize("elderly", [False, True])
@pytest.mark.parametrize("make", [lambda tr: s.ConsentScreen(tr, "门诊一楼 3 号人工窗口"),
                                  lambda tr: s.ServicesScreen(tr, "110101")])
def test_the_text_follows_the_title_and_the_space_is_below_it(qtbot, make, elderly: bool) -> None:  # type: ignore[no-untyped-def]
    screen = make(Translator("zh_CN"))
    screen.add_button("cancel", "common.cancel", lambda: None, secondary=True)
    qtbot.addWidget(screen)
    screen.setStyleSheet(stylesheet(metrics(elderly)))
    screen.render(VisitContext())
    screen.resize(1280, 640)
    screen.show()
    QApplication.processEvents()
    title, body = screen.title.geometry(), screen.body.geometry()
    button = screen.button("cancel").geometry()
    gap = body.top() - title.bottom()
    assert 0 <= gap <= 40, f"{gap} px between title and text"
    assert button.top() - body.bottom() > 100  # the free space is below the text
