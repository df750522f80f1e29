"""The screens of face swipe and the voucher's own checks: the ID number keypad, the family account and the
voucher password's PIN pad. Large keys (elderly mode makes them larger still), the typed ID number shown in
groups so a patient can check it, the PIN only as dots. The PIN pad's digits are shuffled on every showing,
so a bystander learns nothing from where a finger goes; the PIN is held only until it is sent.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QSizePolicy

from kiosk.domain import VisitContext
from kiosk.id_number import LENGTH as ID_LENGTH
from kiosk.visit import State

from ui.i18n import Translator
from ui.screens import Screen

PIN_LENGTH = 6
COLUMNS = 4


class KeypadScreen(Screen):
    """A title, what was typed so far (large), a hint line and a grid of keys; OK and Cancel below."""

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.layout().setContentsMargins(48, 8, 48, 8)  # tighter than other screens: three rows of keys in
        self.layout().setSpacing(10)  # elderly mode must fit 1280x800 with both bars
        self.typed = ""
        self.display = QLabel(objectName="keypad_display", alignment=Qt.AlignmentFlag.AlignCenter)
        self.display.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hint = QLabel(objectName="hint", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.hint.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.grid = QGridLayout()
        self.grid.setSpacing(10)
        self.middle.addWidget(self.display)
        self.middle.addWidget(self.hint)
        self.middle.addLayout(self.grid, stretch=1)
        self.keys: dict[str, QPushButton] = {}

    def _key(self, action: str, on_click: Callable[[], None], row: int, column: int) -> QPushButton:
        key = QPushButton(objectName="key")
        key.setProperty("action", action)
        key.setAccessibleName(action)
        key.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        key.clicked.connect(lambda _checked=False: on_click())
        self.grid.addWidget(key, row, column)
        self.keys[action] = key
        return key

    def button(self, name: str) -> QPushButton:
        return self.keys[name] if name in self.keys else super().button(name)

    def press(self, char: str) -> None:
        if len(self.typed) < self.max_length:
            self.typed += char
        self.show_typed()

    def delete(self) -> None:
        self.typed = self.typed[:-1]
        self.show_typed()

    def clear(self) -> None:
        self.typed = ""
        self.show_typed()

    max_length = ID_LENGTH

    def show_typed(self) -> None:
        raise NotImplementedError

    def show_hint(self, text: str, *, alert: bool) -> None:
        """The line under the display: what to type (muted) or what went wrong (red)."""
        self.hint.setObjectName("alert" if alert else "hint")
        self.hint.style().unpolish(self.hint)
        self.hint.style().polish(self.hint)
        self.hint.setText(text)


class IdNumberScreen(KeypadScreen):
    """Face swipe: the patient types the 18-character ID number (digits, and X as the last character)."""

    state = State.ENTER_ID

    def __init__(self, tr: Translator, on_enter: Callable[[str], None]) -> None:
        super().__init__(tr)
        layout = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "X")
        for index, char in enumerate(layout):  # three rows of four: fits 1280x800 in elderly mode too
            self._key(f"digit_{char}", lambda c=char: self.press(c), index // COLUMNS, index % COLUMNS)
        self._key("delete", self.delete, 2, 3)
        self._on_enter = on_enter
        self._problem = ""

    def submit(self) -> None:
        self._on_enter(self.typed)

    def show_typed(self) -> None:
        t = self.typed
        groups = [t[:6], t[6:14], t[14:]]  # region, birth date, sequence and check: as printed on the card
        shown = " ".join(g for g in groups if g)
        self.display.setText(shown + "▁" * (ID_LENGTH - len(t)) if len(t) < ID_LENGTH else shown)

    def render_text(self, ctx: VisitContext) -> None:
        tr = self.tr_.tr
        self.title.setText(tr("enter_id.title"))
        self.body.setVisible(False)  # the line under the keys' display says it: the keys need the height
        problem = ctx.extra.get("id_problem", "")
        if not self.isVisible() and not problem:
            self.typed = ""  # a new showing starts empty
        self.show_hint(tr(f"enter_id.problem.{problem}") if problem else tr("enter_id.body"), alert=bool(problem))
        self.keys["delete"].setText(tr("keypad.delete"))
        for char in "0123456789X":
            self.keys[f"digit_{char}"].setText(char)
        self.show_typed()


class PinPadScreen(KeypadScreen):
    """The voucher password, above the limit: six digits on shuffled keys, shown as dots only."""

    state = State.VOUCHER_PASSWORD
    max_length = PIN_LENGTH

    def __init__(self, tr: Translator, on_enter: Callable[[str], None], *, rng: random.Random | None = None) -> None:
        super().__init__(tr)
        self._rng = rng or random.SystemRandom()
        self._slots: list[QPushButton] = []
        for index in range(10):
            slot = self._key(f"slot_{index}", lambda i=index: self._press_slot(i), index // COLUMNS, index % COLUMNS)
            self._slots.append(slot)
        self._key("delete", self.delete, 2, 3)
        self.order: list[str] = list("0123456789")
        self._on_enter = on_enter
        self._showing = ""  # which entry the shuffle belongs to: a new showing or a new try shuffles again

    def _press_slot(self, index: int) -> None:
        self.press(self.order[index])

    def button(self, name: str) -> QPushButton:
        """``digit_N``: the key that shows N now (wherever the shuffle put it)."""
        if name.startswith("digit_"):
            return self._slots[self.order.index(name[len("digit_"):])]
        return super().button(name)

    def shuffle(self) -> None:
        self._rng.shuffle(self.order)
        for slot, digit in zip(self._slots, self.order, strict=True):
            slot.setText(digit)
        self.clear()

    def submit(self) -> None:
        pin, self.typed = self.typed, ""
        self.show_typed()
        self._on_enter(pin)

    def show_typed(self) -> None:
        self.display.setText(" ".join("●" * len(self.typed) + "○" * (PIN_LENGTH - len(self.typed))))

    def render_text(self, ctx: VisitContext) -> None:
        tr = self.tr_.tr
        self.title.setText(tr("password.title"))
        self.body.setVisible(False)  # the line under the dots says it: the keys need the height
        pre = ctx.pre_settlement
        amount = f"{pre.amounts.medfee_sumamt:.2f}" if pre is not None else ""
        hint = ctx.extra.get("password_hint", "")
        showing = f"{self.isVisible()}:{ctx.extra.get('password_tries', '0')}"
        if showing != self._showing and (not self.isVisible() or hint == "wrong"):
            self.shuffle()
        self._showing = showing
        if hint == "wrong":
            self.show_hint(tr("password.wrong", n=ctx.extra.get("password_remaining", "")), alert=True)
        elif hint in ("six_digits", "checking"):
            self.show_hint(tr(f"password.{hint}"), alert=hint == "six_digits")
        else:
            self.show_hint(tr("password.body", amount=amount), alert=False)
        self.keys["delete"].setText(tr("keypad.delete"))
        self.show_typed()


class FamilyAccountScreen(Screen):
    """No usable photo on file: a family member shows their voucher code to authorise for the patient."""

    state = State.FAMILY_ACCOUNT

    def __init__(self, tr: Translator) -> None:
        super().__init__(tr)
        self.hint = QLabel(objectName="alert", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.middle.addWidget(self.hint)

    def render_text(self, ctx: VisitContext) -> None:
        tr = self.tr_.tr
        self.title.setText(tr("family.title"))
        self.body.setText(tr("family.body"))
        hint = ctx.extra.get("family_hint", "")
        if hint == "checking":
            self.hint.setText(tr("family.checking"))
        elif hint.startswith("refused."):
            key = f"family.{hint}"
            self.hint.setText(tr(key) if key in _family_keys() else tr("family.refused.other"))
        else:
            self.hint.setText("")


def _family_keys() -> set[str]:
    from ui.i18n import CATALOG

    return {key for key in CATALOG if key.startswith("family.refused.")}
