"""The self-service errands after one identification ("inquire and handle", "running at most once"): besides
paying fees, what a patient can look up at the kiosk. Each errand becomes an :class:`ErrandView`: rows of
plain values the screen lays out, and counts for the autopilot's JSON.

- ``records``: the person's settlements of the last ``RECORD_DAYS`` days: the hospital system knows their
  ids, the gateway's books (5203) give each one's amounts.
- ``balance``: each insurance record's account balance (1101) and this year's totals (5206).
- ``filings``: the chronic and special diseases on file (5301), valid until when.
- ``invoice``: the person's electronic invoices (the hospital's e-invoice service); one is then opened,
  printed on A4 once, or taken to the phone by its QR code (``kiosk/visit_invoices.py``).

A failure of one errand is reported for that errand only (``ErrandUnavailable``): the menu stays usable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.domain import InsuredPerson, decimal_or_none
from kiosk.errors import KioskError
from kiosk.insurance import ChronicFiling
from kiosk.invoices import EInvoice

ERRANDS = ("pay_fees", "registration", "records", "balance", "filings", "invoice")  # the menu's tiles, in order
INFO_ERRANDS = ("records", "balance", "filings", "invoice")
RECORD_DAYS = 90
MAX_RECORDS = 20  # a patient reads the latest; the counter has the rest
TOTALS = ("medfee_sumamt", "fund_pay_sumamt", "psn_cash_pay")  # this year's totals shown per record


class ErrandUnavailable(KioskError):
    """An errand could not be done now: ``reason`` unreachable (the system it needs is down), refused, or
    malformed (an answer the kiosk cannot read)."""

    code = 430

    def __init__(self, errand: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.errand, self.reason = errand, reason


@dataclass(frozen=True)
class ErrandView:
    errand: str
    rows: tuple[tuple[str, ...], ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        return {"rows": len(self.rows)}


def _money(value: Any) -> str:
    amount = decimal_or_none(value)
    return "" if amount is None else f"{amount:.2f}"


def records_view(infos: list[Mapping[str, Any]]) -> ErrandView:
    """Rows: settled on (date), settlement id, total, funds, own share, "refunded" flag ("1" or "0")."""
    rows = []
    for info in infos:
        when = str(info.get("setl_time", ""))[:10]
        rows.append((when, str(info.get("setl_id", "")), _money(info.get("medfee_sumamt")),
                     _money(info.get("fund_pay_sumamt")), _money(info.get("psn_cash_pay")),
                     "1" if str(info.get("refd_setl_flag", "0")) == "1" else "0"))
    return ErrandView("records", tuple(rows))


def balance_view(person: InsuredPerson, cumulative: Mapping[str, Any], year: int) -> ErrandView:
    """Rows per insurance record: insutype, insured region, balance, then this year's ``TOTALS`` for that
    insurance type (empty when 5206 holds none: nothing settled this year)."""
    sums: dict[tuple[str, str], str] = {}
    rows_in = cumulative.get("cumlis") if isinstance(cumulative, Mapping) else None
    for row in rows_in if isinstance(rows_in, list) else []:
        if isinstance(row, Mapping) and str(row.get("year", year)) == str(year):
            sums[(str(row.get("insutype", "")), str(row.get("cum_type_code", "")))] = _money(row.get("cum"))
    rows = []
    for record in person.records:
        totals = tuple(sums.get((record.insutype, name), "0.00") for name in TOTALS)
        rows.append((record.insutype, record.insuplc_admdvs, _money(record.balance), *totals))
    return ErrandView("balance", tuple(rows))


def filings_view(filings: tuple[ChronicFiling, ...]) -> ErrandView:
    """Rows: disease name, code, on file since, valid until ("" when open-ended)."""
    return ErrandView("filings", tuple((f.name, f.code, f.begins, f.ends) for f in filings))


def invoices_view(invoices: tuple[EInvoice, ...]) -> ErrandView:
    """Rows: invoice number, issued on (date), amount, state (printable, printed or voided), phone URL."""
    rows = []
    for inv in invoices:
        state = "voided" if inv.status == "voided" else "printed" if inv.printed else "printable"
        rows.append((inv.invoice_no, inv.issued[:10], _money(inv.amount), state, inv.phone_url))
    return ErrandView("invoice", tuple(rows))


def load_errand(errand: str, person: InsuredPerson, settlement: Any, his: Any, today: dt.date) -> ErrandView:
    """Run one information errand against the ports (on a worker). ``settlement``: the SettlementService
    (5203, 5206, 5301); ``his``: the HospitalSystem. Raises ErrandUnavailable."""
    from kiosk.errors import GatewayBusinessError, GatewayError, GatewayProtocolError, GatewayUnreachable

    try:
        if errand == "records":
            ids = his.recent_settlements(person, RECORD_DAYS)[:MAX_RECORDS]
            infos = []
            for setl_id, mdtrt_id in ids:
                info = settlement.settlement_info(person, setl_id, mdtrt_id).get("setlinfo")
                if not isinstance(info, Mapping):
                    raise GatewayProtocolError(f"5203 for {setl_id} answered without setlinfo")
                infos.append(info)
            return records_view(infos)
        if errand == "balance":
            return balance_view(person, settlement.cumulative(person, today.year), today.year)
        if errand == "filings":
            return filings_view(settlement.chronic_filings(person))
        if errand == "invoice":
            return invoices_view(his.invoices(person)[:MAX_RECORDS])
    except GatewayUnreachable as exc:
        raise ErrandUnavailable(errand, "unreachable", str(exc)) from None
    except GatewayBusinessError as exc:
        raise ErrandUnavailable(errand, "refused", exc.err_msg or str(exc)) from None
    except GatewayError as exc:
        raise ErrandUnavailable(errand, "malformed", str(exc)) from None
    raise ErrandUnavailable(errand, "unknown", f"no such errand: {errand}")
