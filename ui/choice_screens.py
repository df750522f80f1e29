"""The screens where a patient picks one of several options with large two-line buttons: which insurance
record to use, and whether a visit is for a chronic disease on file. The services screen names the chosen
record with :func:`insurance_words`."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QPushButton, QSizePolicy, QVBoxLayout

from kiosk.domain import VisitContext
from kiosk.visit import State

from ui.i18n import Translator
from ui.screens import Screen, insurance_words


class ChoiceScreen(Screen):
    """A title and one large button per option (two lines each: what it is, then what it means here)."""

    def __init__(self, tr: Translator, on_choose: Callable[[int], None]) -> None:
        super().__init__(tr)
        self._on_choose = on_choose
        self.choices = QVBoxLayout()
        self.choices.setSpacing(16)
        self.middle.addLayout(self.choices)
        self.middle.addStretch(1)
        self.options: list[QPushButton] = []

    def button(self, name: str) -> QPushButton:
        for button in self.options:
            if button.property("action") == name:
                return button
        return super().button(name)

    def option_texts(self, ctx: VisitContext) -> list[tuple[str, int, str]]:
        """(action name, value passed to on_choose, text) per option."""
        raise NotImplementedError

    def show_options(self, ctx: VisitContext) -> None:
        options = self.option_texts(ctx)
        while len(self.options) > len(options):
            self.options.pop().deleteLater()
        while len(self.options) < len(options):
            button = QPushButton(objectName="choice")
            button.clicked.connect(lambda _checked=False, b=button: self._on_choose(int(b.property("value"))))
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self.choices.addWidget(button)
            self.options.append(button)
        for button, (action, value, text) in zip(self.options, options, strict=True):
            button.setProperty("action", action)
            button.setProperty("value", value)
            button.setText(text)
            button.setAccessibleName(text)


class InsuranceChoiceScreen(ChoiceScreen):
    """A person with several insurance records touches the one to use: its type, region, where that is from
    here, and its balance. Never the first taken silently."""

    state = State.CHOOSE_INSURANCE

    def __init__(self, tr: Translator, treatment_area: str, on_choose: Callable[[int], None]) -> None:
        super().__init__(tr, on_choose)
        self._area = treatment_area

    def option_texts(self, ctx: VisitContext) -> list[tuple[str, int, str]]:
        records = ctx.person.records if ctx.person is not None else ()
        return [(f"record_{i}", i, self.tr_.tr("insurance.record", **insurance_words(self.tr_, record, self._area)))
                for i, record in enumerate(records)]

    def render_text(self, ctx: VisitContext) -> None:
        self.title.setText(self.tr_.tr("insurance.title"))
        self.body.setVisible(False)  # the title says it; the records need the height
        self.show_options(ctx)


class VisitTypeScreen(ChoiceScreen):
    """A person with a chronic or special disease on file: is this visit for it (its own medical type and
    fund rules), or an ordinary outpatient visit?"""

    state = State.CHOOSE_VISIT_TYPE

    def option_texts(self, ctx: VisitContext) -> list[tuple[str, int, str]]:
        chronic = [(f"visit_chronic_{i}", i, self.tr_.tr("visit.chronic", name=f.name, code=f.code,
                                                         until=f.ends or self.tr_.tr("visit.open_ended")))
                   for i, f in enumerate(ctx.chronic)]
        return [*chronic, ("visit_ordinary", -1, self.tr_.tr("visit.ordinary"))]

    def render_text(self, ctx: VisitContext) -> None:
        self.title.setText(self.tr_.tr("visit.title"))
        self.body.setVisible(False)  # each option's second line says what it means; the options need the height
        self.show_options(ctx)


