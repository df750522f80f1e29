"""Receipts as printers get them: ESC/POS bytes (golden, byte for byte), a simulated network thermal printer
over real TCP (status queries, paper out before and during a job, reprint), and the PNG preview."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest

from kiosk.domain import FeeItem, InsuredPerson, QueuedSettlement, Settlement, SettlementAmounts
from kiosk.errors import PrinterError
from kiosk.receipt import WIDTH, _width, queued_slip, settlement_receipt

from drivers.printer.escpos_printer import EscPosPrinter, render
from drivers.printer.preview import render_png
from drivers.printer.simulated_network_printer import PAPER_LOW, PAPER_OUT, SimulatedNetworkPrinter

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "fixtures"
PERSON = InsuredPerson("P1", "110101195603071239", "王秀英", "2", "", "", "310", Decimal("10"), "110101")
FEES = (FeeItem("F1", "普通门诊诊查费", "c", "m", Decimal("1"), Decimal("25.00"), Decimal("25.00")),
        FeeItem("F2", "血常规", "c", "m", Decimal("1"), Decimal("38.50"), Decimal("38.50")),
        FeeItem("F3", "阿莫西林胶囊", "c", "m", Decimal("2"), Decimal("16.80"), Decimal("33.60")))
AMOUNTS = SettlementAmounts(*(Decimal(x) for x in ("97.10", "67.97", "67.97", "12.00", "17.13", "0.00")))
WHEN = dt.datetime(2026, 11, 22, 9, 0, 49)
SETTLED = settlement_receipt("示范市第一人民医院", "ZZJ-0001", PERSON, FEES,
                             Settlement("ST2026112200000001", "MD2026112200000001", "M", "", AMOUNTS), WHEN)
FUNDS = SettlementAmounts(*(Decimal(x) for x in ("2860.00", "2717.50", "1573.00", "0.00", "142.50", "0.00")),
                         other_funds=(("hifmi_pay", Decimal("1001.00")), ("maf_pay", Decimal("143.50"))))
LOW_INCOME = settlement_receipt("示范市第一人民医院", "ZZJ-0001", PERSON, FEES,
                                Settlement("ST2026112200000002", "MD2026112200000002", "M", "", FUNDS), WHEN)
QUEUED = queued_slip("示范市第一人民医院", "ZZJ-0001", PERSON, FEES,
                     QueuedSettlement("Q20261122000042", Decimal("97.10")), WHEN)


@pytest.mark.parametrize(("doc", "golden"), [(SETTLED, "receipt-settled.escpos"), (QUEUED, "receipt-queued.escpos"),
                                             (LOW_INCOME, "receipt-funds.escpos")])
def test_escpos_bytes_are_golden(doc, golden: str) -> None:
    data = render(doc.lines, doc.qr_payload)
    path = GOLDEN / golden
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(data)
    assert data == path.read_bytes(), f"ESC/POS output changed: review, then UPDATE_GOLDEN=1 to accept ({golden})"


def test_escpos_structure_chinese_in_gb18030_and_a_native_qr() -> None:
    data = render(SETTLED.lines, SETTLED.qr_payload)
    assert data.startswith(b"\x1b@") and data.endswith(b"\x1dV\x00")
    assert "门诊医保结算凭证".encode("gb18030") in data and "门诊".encode("utf-8") not in data
    assert b"\x1c&" + "个人现金 Cash".encode("gb18030") in data
    assert b"\x1d(k" in data and b"SETL:ST2026112200000001" in data  # GS ( k: the printer draws the QR code
    assert "110101195603071239".encode() not in data and "110101********1239".encode() in data


def test_each_fund_is_printed_in_words_with_the_amount_returned() -> None:
    lines = LOW_INCOME.lines
    for words, amount in (("基本医保统筹 Basic insurance", "1573.00"), ("大病保险 Critical illness", "1001.00"),
                          ("医疗救助 Medical assistance", "143.50"), ("个人现金 Cash", "142.50")):
        at = next(i for i, line in enumerate(lines) if line.startswith(words))
        assert lines[at].endswith(amount) or lines[at + 1].strip() == amount, (words, lines[at:at + 2])
    assert not any("个人账户" in line for line in lines)  # a zero fund is not printed (cash is, even at 0.00)


def test_every_line_fits_a_58mm_slip() -> None:
    for doc in (SETTLED, QUEUED, LOW_INCOME):
        assert all(_width(line) <= WIDTH for line in doc.lines), [ln for ln in doc.lines if _width(ln) > WIDTH]
    assert "ST2026112200000001" in "\n".join(SETTLED.lines)  # a long value moved to its own line, not cut


@pytest.fixture
def printer():
    sim = SimulatedNetworkPrinter().start()
    yield sim, EscPosPrinter.from_config("escpos-network", f"127.0.0.1:{sim.port}")
    sim.stop()


def test_network_printer_prints_the_exact_bytes(printer) -> None:
    sim, escpos = printer
    status = escpos.preflight()
    assert status.online and status.paper
    escpos.print_document(SETTLED.lines, SETTLED.qr_payload, name=SETTLED.name)
    assert render(SETTLED.lines, SETTLED.qr_payload) in bytes(sim.received)
    sim.paper = PAPER_LOW
    assert escpos.preflight().detail == "paper low"


def test_paper_out_before_and_during_a_job_then_reprint(printer) -> None:
    sim, escpos = printer
    sim.paper = PAPER_OUT
    with pytest.raises(PrinterError, match="out of paper"):
        escpos.print_document(SETTLED.lines, SETTLED.qr_payload, name=SETTLED.name)
    assert sim.received == bytearray()  # nothing half-printed: refused before the paid step's receipt
    sim.paper = b"\x12"
    sim.fail_after_bytes = 200  # the roll ends part-way through the slip
    with pytest.raises(PrinterError, match="reprint"):
        escpos.print_document(SETTLED.lines, SETTLED.qr_payload, name=SETTLED.name)
    assert len(sim.received) == 200
    sim.received.clear()
    sim.paper, sim.fail_after_bytes = b"\x12", None  # staff load a new roll
    escpos.print_document(SETTLED.lines, SETTLED.qr_payload, name=SETTLED.name)  # the same document again
    assert bytes(sim.received).endswith(render(SETTLED.lines, SETTLED.qr_payload))


def test_printer_gone_is_reported() -> None:
    sim = SimulatedNetworkPrinter().start()
    escpos = EscPosPrinter.from_config("escpos-network", f"127.0.0.1:{sim.port}")
    sim.stop()
    status = escpos.preflight()
    assert not status.online and "not answering" in status.detail
    sim2 = SimulatedNetworkPrinter().start()
    sim2.online = False
    try:
        assert EscPosPrinter.from_config("escpos-network", f"127.0.0.1:{sim2.port}").preflight().detail == "printer offline"
    finally:
        sim2.stop()


def test_png_previews_look_like_slips() -> None:
    from PIL import Image

    for doc, name in ((SETTLED, "receipt-settled.png"), (QUEUED, "receipt-queued.png")):
        path = render_png(doc.lines, doc.qr_payload, ROOT / "docs" / name)
        with Image.open(path) as image:
            assert image.width == 384 and image.height > 600
            assert image.getextrema() == (0, 255)  # black print on white paper
