"""Same-day registration (kiosk/visit_registration.py): the departments as large two-line tiles (name and
slots left, where to wait), then the department's doctors as two-line options (name, title, session; fee
and slots left). A department or doctor with nothing left is shown greyed, and touching one says so."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QSizePolicy

from kiosk import visit as v
from kiosk.domain import VisitContext
from kiosk.visit import State

from ui.choice_screens import ChoiceScreen
from ui.i18n import Translator, known_key
from ui.screens import Screen

PAGE = 4  # departments a page: two rows of two


def _hint(tr: Translator, hint: str) -> str:
    if hint == "loading":
        return tr.tr("errand.loading")
    if hint.startswith("failed:"):
        return tr.tr(known_key("reg.failed.", hint[len("failed:"):]))
    return ""


class DepartmentScreen(Screen):
    """Four departments a page (two rows of two tiles fit 1280x800 in elderly mode); "more departments"
    turns the page when the hospital has more."""

    state = State.REG_DEPARTMENT

    def __init__(self, tr: Translator, on_choose: Callable[[int], None]) -> None:
        super().__init__(tr)
        self._on_choose = on_choose
        self.layout().setContentsMargins(48, 8, 48, 8)  # two rows of two-line tiles fit 1280x800 in elderly mode
        self.layout().setSpacing(10)
        self.grid = QGridLayout()
        self.grid.setSpacing(14)
        self.tiles: list[QPushButton] = []
        self.page = 0
        self.hint = QLabel(objectName="alert", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.middle.addLayout(self.grid)
        self.middle.addWidget(self.hint)
        self.middle.addStretch(1)

    def button(self, name: str) -> QPushButton:
        for tile in self.tiles:
            if tile.property("action") == name:
                return tile
        return super().button(name)

    def next_page(self, ctx: VisitContext) -> None:
        pages = max(1, -(-len(ctx.departments) // PAGE))
        self.page = (self.page + 1) % pages
        self.render(ctx)

    def render_text(self, ctx: VisitContext) -> None:
        tr = self.tr_.tr
        self.title.setText(tr("reg.departments_title"))
        self.body.setVisible(False)  # each tile says what is left; the tiles need the height in elderly mode
        if self.page * PAGE >= len(ctx.departments):
            self.page = 0
        shown = list(enumerate(ctx.departments))[self.page * PAGE:(self.page + 1) * PAGE]
        while len(self.tiles) > len(shown):
            self.tiles.pop().deleteLater()
        while len(self.tiles) < len(shown):
            tile = QPushButton(objectName="choice")
            tile.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            tile.clicked.connect(lambda _checked=False, t=tile: self._on_choose(int(t.property("value"))))
            self.grid.addWidget(tile, len(self.tiles) // 2, len(self.tiles) % 2)
            self.tiles.append(tile)
        for tile, (index, dept) in zip(self.tiles, shown, strict=True):
            tile.setProperty("action", f"dept_{index}")
            tile.setProperty("value", index)
            tile.setAccessibleName(dept.name)
            left = tr("reg.left", n=dept.remaining) if dept.remaining > 0 else tr("reg.none_left")
            tile.setText(f"{dept.name}　{left}\n{dept.place}")
            tile.setEnabled(dept.remaining > 0)
        super().button("more").setVisible(len(ctx.departments) > PAGE)
        self.hint.setText(_hint(self.tr_, ctx.extra.get("reg_hint", "")))
        self.hint.setVisible(bool(self.hint.text()))

    def spoken_text(self) -> str:
        return "。".join([self.title.text(), *(t.accessibleName() for t in self.tiles)])


class DoctorScreen(ChoiceScreen):
    state = State.REG_DOCTOR

    def __init__(self, tr: Translator, on_choose: Callable[[int], None]) -> None:
        super().__init__(tr, on_choose)
        self.layout().setContentsMargins(48, 8, 48, 8)  # two-line options for each doctor fit in elderly mode
        self.layout().setSpacing(10)
        self.hint = QLabel(objectName="alert", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.middle.insertWidget(1, self.hint)

    def option_texts(self, ctx: VisitContext) -> list[tuple[str, int, str]]:
        tr = self.tr_.tr
        return [(f"doctor_{i}", i, tr("reg.doctor", name=s.dr_name, title=s.title, period=s.period,
                                      fee=f"{s.fee:.2f}",
                                      left=tr("reg.left", n=s.remaining) if s.remaining > 0 else tr("reg.none_left")))
                for i, s in enumerate(ctx.slots)]

    def render_text(self, ctx: VisitContext) -> None:
        name = ctx.slots[0].dept_name if ctx.slots else ""
        self.title.setText(self.tr_.tr("reg.doctors_title", department=name))
        self.body.setVisible(False)
        self.show_options(ctx)
        for button, slot in zip(self.options, ctx.slots, strict=False):
            button.setEnabled(slot.remaining > 0)
        self.hint.setText(_hint(self.tr_, ctx.extra.get("reg_hint", "")))
        self.hint.setVisible(bool(self.hint.text()))


def build_registration_screens(tr: Translator, post: Callable[[v.Event], None],
                               ctx: Callable[[], VisitContext]) -> tuple[Screen, Screen]:
    """The two screens with their buttons; ``ctx``: the visit's context now (for turning the page)."""
    departments = DepartmentScreen(tr, lambda i: post(v.DepartmentChosen(index=i)))
    departments.add_button("back", "errand.back", lambda: post(v.BackToServices()), secondary=True)
    departments.add_button("more", "reg.more", lambda: departments.next_page(ctx()), secondary=True)
    departments.add_button("cancel", "common.cancel", lambda: post(v.Cancel()), secondary=True)
    doctors = DoctorScreen(tr, lambda i: post(v.SlotChosen(index=i)))
    doctors.add_button("back", "reg.back_departments", lambda: post(v.BackToServices()), secondary=True)
    doctors.add_button("cancel", "common.cancel", lambda: post(v.Cancel()), secondary=True)
    return departments, doctors
