"""Receipt layout, translations and theme contrast."""

from __future__ import annotations

import ast
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from kiosk.domain import FeeItem, InsuredPerson, QueuedSettlement, Settlement, SettlementAmounts
from kiosk.masking import mask_id, mask_name, mask_token
from kiosk.receipt import queued_slip, settlement_receipt

from drivers.printer.file_printer import FilePrinter
from kiosk.errors import PrinterError
from ui.i18n import CATALOG, LANGUAGES, Translator, reason_key
from ui.theme import ALERT, BRAND, BRAND_DARK, INK, MUTED, OK, PAPER, contrast

ROOT = Path(__file__).resolve().parents[1]
PERSON = InsuredPerson("P1", "110101195603071239", "王秀英", "2", "", "", "310", Decimal("10"), "110101")
FEES = (FeeItem("F1", "血常规", "c", "m", Decimal("1"), Decimal("38.50"), Decimal("38.50")),)
AMOUNTS = SettlementAmounts(*(Decimal(x) for x in ("38.5", "26.95", "26.95", "11.55", "0", "1256.85")))
WHEN = dt.datetime(2026, 11, 22, 9, 30, 0)


def test_receipt_holds_the_gateway_amounts_and_masks_identity() -> None:
    doc = settlement_receipt("示范医院", "ZZJ-1", PERSON, FEES, Settlement("ST9", "MD9", "M", "", AMOUNTS), WHEN)
    text = "\n".join(doc.lines)
    for amount in ("38.50", "26.95", "11.55", "0.00", "1256.85"):
        assert amount in text
    assert "110101********1239" in text and "110101195603071239" not in text and "王**" in text
    assert "ST9" in text and doc.qr_payload == "SETL:ST9" and "Invoices at the counter" in text


def test_receipt_carries_the_e_invoice_when_one_is_issued() -> None:
    from kiosk.invoices import EInvoice

    invoice = EInvoice("110601260000000007", "", "", "issued", False, "ST9", "https://einvoice.example/v?no=7")
    doc = settlement_receipt("示范医院", "ZZJ-1", PERSON, FEES, Settlement("ST9", "MD9", "M", "", AMOUNTS), WHEN,
                             invoice=invoice)
    text = "\n".join(doc.lines)
    assert "11060126 0000000007" in text and "Invoices at the counter" not in text and "ST9" in text
    assert doc.qr_payload == invoice.phone_url  # the receipt's code takes the invoice to the phone


def test_queued_slip_is_clearly_different() -> None:
    doc = queued_slip("示范医院", "ZZJ-1", PERSON, FEES, QueuedSettlement("Q20261122000007", Decimal("38.50")), WHEN)
    text = "\n".join(doc.lines)
    assert doc.lines[0] == "*** 待结算 NOT YET SETTLED ***" and "This slip is not a receipt." in text
    assert doc.qr_payload == "QUEUE:Q20261122000007" and "结算号" not in text


def test_file_printer_faults(tmp_path: Path) -> None:
    printer = FilePrinter(tmp_path / "receipts")
    path = Path(printer.print_document(["line"], "SETL:1", name="r1"))
    assert path.read_text(encoding="utf-8").startswith("line\n") and "█" in path.read_text(encoding="utf-8")
    printer.paper_out = True
    assert printer.preflight().paper is False
    with pytest.raises(PrinterError, match="out of paper"):
        printer.print_document(["line"], "SETL:2", name="r2")
    assert not (tmp_path / "receipts" / "r2.txt").exists()


def test_masking() -> None:
    assert mask_id("110101195603071239") == "110101********1239"
    assert mask_id("short") == "*****" and mask_id("") == ""
    assert mask_name("王秀英") == "王**" and mask_token("A" * 40).startswith("AAAA*")


def test_every_key_has_every_language() -> None:
    for key, texts in CATALOG.items():
        assert set(texts) == set(LANGUAGES), key
        assert all(t.strip() for t in texts.values()), key


def _tr_keys_used() -> set[str]:
    keys: set[str] = set()
    for path in (ROOT / "ui").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in {"tr", "add_button"}:
                keys |= {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                         and "." in a.value}
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.count(".") == 1 \
                    and node.value.split(".")[0] in {k.split(".")[0] for k in CATALOG}:
                keys.add(node.value)
    return keys


def test_every_text_used_by_the_ui_is_translated() -> None:
    used = _tr_keys_used()
    assert len(used) > 30
    assert sorted(k for k in used if k not in CATALOG and not k.endswith((".py", "."))) == []


def test_reasons_map_errors_to_patient_text() -> None:
    tr = Translator("en")
    assert tr.tr(reason_key(105, "card expired on 2024-05-21")) == "This card has expired"
    assert reason_key(410, "余额不足") is None  # the gateway's own words are shown
    assert tr.tr(reason_key(203, "face_attempts_exhausted")).startswith("Your face")
    assert tr.tr(reason_key(999, "?")) == "A system fault occurred"
    assert tr.tr(reason_key(102, "card does not answer")).startswith("The card does not respond")
    assert tr.tr(reason_key(110, "pcscd is not running")).endswith("please call staff")
    assert "nothing was charged" in tr.tr(reason_key(500, "could not commit to the outbox: database or disk is full"))


@pytest.mark.parametrize(("fg", "bg"), [(INK, PAPER), (PAPER, BRAND), (PAPER, BRAND_DARK), (PAPER, ALERT),
                                        (MUTED, PAPER), (BRAND_DARK, PAPER), (OK, PAPER), (ALERT, "#EEF3F8"),
                                        (OK, "#EEF3F8"), (BRAND_DARK, "#EEF3F8")])
def test_contrast_is_at_least_4_5(fg: str, bg: str) -> None:
    assert contrast(fg, bg) >= 4.5


def test_every_face_prompt_the_core_can_give_is_translated() -> None:
    """The quality gate and liveness steps name their prompts; each must have patient text."""
    from kiosk.liveness import Challenge

    prompts: set[str] = set()
    for name in ("face_quality.py", "face_check.py"):
        for node in ast.walk(ast.parse((ROOT / "kiosk" / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("face.prompt."):
                prompts.add(node.value)
    prompts |= {f"face.challenge.{c.value}" for c in Challenge}
    assert len(prompts) >= 12
    assert sorted(p for p in prompts if p not in CATALOG) == []
