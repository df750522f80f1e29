"""The services menu's tiles and the answer of an information errand (kiosk/errands.py): my settlements,
balance and this year's totals, chronic-disease filings. Large tiles (elderly mode makes them larger), each
errand's failure said on the menu while the other tiles stay usable; an answer is a short table of the
latest rows (the counter has the rest), with Back to the menu and Done."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
)

from kiosk.domain import VisitContext
from kiosk.errands import ERRANDS
from kiosk.insurance import insutype_name
from kiosk.invoices import invoice_number_text
from kiosk.regions import region_name
from kiosk.visit import State

from ui.i18n import Translator, known_key
from ui.screens import Screen, ServicesScreen

TILE_ACTIONS = {"pay_fees": "pay", "registration": "errand_registration", "records": "errand_records", "balance": "errand_balance",
                "filings": "errand_filings", "invoice": "errand_invoice"}
COLUMNS = {"records": ("errand.col_date", "errand.col_setl_id", "errand.col_total", "errand.col_funds",
                       "errand.col_own"),
           "balance": ("errand.col_insurance", "errand.col_balance", "errand.col_year_total",
                       "errand.col_year_funds", "errand.col_year_own"),
           "filings": ("errand.col_disease", "errand.col_code", "errand.col_from", "errand.col_until"),
           "invoice": ("invoice.col_number", "errand.col_date", "errand.col_total", "invoice.col_state")}
NUMBER_COLUMNS = {"records": {1, 2, 3, 4}, "balance": {1, 2, 3, 4}, "filings": set(), "invoice": {2}}  # right-aligned
ROWS_SHOWN = {False: 5, True: 3}  # standard, elderly: the latest rows; the counter has the rest


class ServicesMenuScreen(ServicesScreen):
    """"Hello, name": a tile per errand the configuration enables (``services.errands``), in two rows."""

    def __init__(self, tr: Translator, treatment_area: str, errands: tuple[str, ...],
                 on_choose: Callable[[str], None]) -> None:
        super().__init__(tr, treatment_area)
        self.layout().setContentsMargins(48, 8, 48, 8)  # two rows of large tiles fit 1280x800 in elderly mode
        self.layout().setSpacing(10)
        self.hint = QLabel(objectName="alert", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.hint.setVisible(False)
        self.tiles = QGridLayout()
        self.tiles.setSpacing(12)
        self.tile_buttons: dict[str, QPushButton] = {}
        shown = [e for e in ERRANDS if e in errands]
        columns = 2 if len(shown) <= 4 else 3  # two rows of large tiles at most: they fit 1280x800 in elderly mode
        for index, errand in enumerate(shown):
            tile = QPushButton(objectName="tile")
            tile.setProperty("action", TILE_ACTIONS[errand])
            tile.setAccessibleName(TILE_ACTIONS[errand])
            tile.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            tile.clicked.connect(lambda _checked=False, e=errand: on_choose(e))
            self.tiles.addWidget(tile, index // columns, index % columns)
            self.tile_buttons[errand] = tile
        self.middle.insertLayout(1, self.tiles)
        self.middle.insertWidget(2, self.hint)

    def button(self, name: str) -> QPushButton:
        for tile in self.tile_buttons.values():
            if tile.property("action") == name:
                return tile
        return super().button(name)

    def spoken_text(self) -> str:
        """The greeting, then each tile's name: an elderly patient hears what can be done here."""
        return "。".join([super().spoken_text(), *(tile.text() for tile in self.tile_buttons.values())])

    def render_text(self, ctx: VisitContext) -> None:
        super().render_text(ctx)
        tr = self.tr_.tr
        for errand, tile in self.tile_buttons.items():
            tile.setText(tr(f"errand.tile.{errand}"))
        self.body.setText(tr("services.balance", balance=f"{ctx.person.balance:.2f}") if ctx.person else "")
        hint = ctx.extra.get("errand_hint", "")
        self.hint.setVisible(bool(hint))
        if hint.startswith("loading:"):
            self.hint.setText(tr("errand.loading"))
        elif hint.startswith("failed:"):
            errand, _, reason = hint[len("failed:"):].partition(".")
            self.hint.setText(tr(known_key("errand.failed.", reason), errand=tr(f"errand.tile.{errand}")))
        else:
            self.hint.setText("")


class ErrandScreen(Screen):
    state = State.ERRAND

    def __init__(self, tr: Translator, on_row: Callable[[int], None] = lambda _i: None) -> None:
        """``on_row``: a row of the invoice list touched (the other answers are read only)."""
        super().__init__(tr)
        self.elderly = False
        self._on_row, self._rows_touchable = on_row, False
        self.table = QTableWidget(0, 5, objectName="errand")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(True)
        self.table.cellClicked.connect(lambda row, _col: self.choose_row(row))
        self.note = QLabel(objectName="hint", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.middle.addWidget(self.table, stretch=1)
        self.middle.addWidget(self.note)

    def choose_row(self, row: int) -> None:
        """A patient touched row ``row`` (the invoice list opens that invoice)."""
        if self._rows_touchable:
            self._on_row(row)

    def render_text(self, ctx: VisitContext) -> None:
        tr = self.tr_.tr
        view = ctx.errand
        if view is None:  # nothing to show (never reached by the machine): say what it is doing
            self.title.setText(tr("errand.loading"))
            return
        self.title.setText(tr(f"errand.title.{view.errand}"))
        self._rows_touchable = view.errand == "invoice"
        columns = COLUMNS[view.errand]
        shown = view.rows[:ROWS_SHOWN[self.elderly]]
        self.body.setText(tr(f"errand.body.{view.errand}", n=len(view.rows)) if view.rows
                          else tr(f"errand.none.{view.errand}"))
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels([tr(k) for k in columns])
        header = self.table.horizontalHeader()  # the words take the free width (and wrap); the numbers fit
        for col in range(len(columns)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch if col == 0
                                        else QHeaderView.ResizeMode.ResizeToContents)
        self.table.setRowCount(len(shown))
        for row, values in enumerate(shown):
            for col, text in enumerate(self._cells(view.errand, values)):
                item = QTableWidgetItem(text)
                if col in NUMBER_COLUMNS[view.errand]:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.table.resizeRowsToContents()
        self.table.setVisible(bool(shown))
        more = len(view.rows) - len(shown)
        copy = ctx.extra.get("copy_hint", "")
        note = tr("errand.more", n=more) if more > 0 else ""
        if view.errand == "invoice" and shown:
            hint = ctx.extra.get("invoice_hint", "")
            note = tr(known_key("invoice.failed.", hint[len("failed:"):])) if hint.startswith("failed:") else tr(
                "invoice.opening") if hint == "opening" else tr("invoice.touch_row")
        if copy:  # the latest receipt printed again, or why not
            note = tr("errand.copy_printed") if copy == "printed" else tr(
                "errand.copy_printing") if copy == "printing" else tr("errand.copy_failed")
        self.note.setText(note)
        self.button("print_copy").setVisible(view.errand == "records" and bool(view.rows))

    def _cells(self, errand: str, values: tuple[str, ...]) -> tuple[str, ...]:
        tr, lang = self.tr_.tr, "zh" if self.tr_.language.startswith("zh") else "en"
        if errand == "records":
            date, setl_id, total, funds, own, refunded = values
            return (date, setl_id + (f" ({tr('errand.refunded')})" if refunded == "1" else ""), total, funds, own)
        if errand == "balance":
            insutype, region, balance, *totals = values
            name = f"{insutype_name(insutype, lang)} · {region_name(region, lang) or region}"
            return (name, balance, *totals)
        if errand == "invoice":
            number, date, amount, state, _url = values
            return (invoice_number_text(number), date, amount, tr(f"invoice.state.{state}"))
        name, code, begins, ends = values
        return (name, code, begins, ends or tr("visit.open_ended"))
