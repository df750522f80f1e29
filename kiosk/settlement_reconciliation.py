"""Daily reconciliation (对账) of this kiosk's settlements with the gateway (PROTOCOL.md section 8).

The journal is what the outbox holds as settled on the day (its done 2207 plans, a 2208 refund marking
its settlement refunded). Totals go to 3201 once per (``insutype``, ``clr_type``, ``setl_optins``); where
the gateway's totals differ, the detail rows are uploaded as a file (9101), compared by 3202, and the
result file downloaded (9102) says which settlements differ and how: the gateway has one the kiosk
lacks, the kiosk has one the gateway lacks, or the amounts differ. Pure: the caller does the I/O.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import logging
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kiosk.audit import AUDIT_KIND
from kiosk.errors import GatewayError, GatewayProtocolError
from kiosk.ports import InsuranceGateway, MsgIdSource

log = logging.getLogger(__name__)
DETAIL_FIELDS = ("setl_id", "mdtrt_id", "psn_no", "medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay",
                 "refd_setl_flag")
BALANCED = "0"  # 3201 stmt_rslt: 0 balanced, anything else not


@dataclass(frozen=True)
class JournalEntry:
    """One settlement as the kiosk recorded it."""

    setl_id: str
    mdtrt_id: str
    psn_no: str
    insutype: str
    clr_type: str
    setl_optins: str
    medfee_sumamt: Decimal
    fund_pay_sumamt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    refunded: bool = False

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.insutype, self.clr_type, self.setl_optins)

    def row(self) -> dict[str, str]:
        return {"setl_id": self.setl_id, "mdtrt_id": self.mdtrt_id, "psn_no": self.psn_no,
                "medfee_sumamt": f"{self.medfee_sumamt:.2f}", "fund_pay_sumamt": f"{self.fund_pay_sumamt:.2f}",
                "acct_pay": f"{self.acct_pay:.2f}", "psn_cash_pay": f"{self.psn_cash_pay:.2f}",
                "refd_setl_flag": "1" if self.refunded else "0"}


def journal(items: Iterable[tuple[str, str, Mapping[str, Any], Any]]) -> list[JournalEntry]:
    """The day's settlements from the outbox's plans ((reference, state, plan, result) rows)."""
    settled: dict[str, JournalEntry] = {}
    refunded: set[str] = set()
    for _reference, state, plan, result in items:
        if state != "done" or not isinstance(result, Mapping):
            continue
        steps = plan.get("steps", [])
        infnos = [step.get("infno") for step in steps]
        setlinfo = result.get("setlinfo") if isinstance(result.get("setlinfo"), Mapping) else {}
        if "2208" in infnos:
            refunded.add(str(next(s for s in steps if s.get("infno") == "2208")["input"]["data"]["setl_id"]))
            continue
        if "2207" not in infnos or not setlinfo.get("setl_id"):
            continue
        data = next(s for s in steps if s.get("infno") == "2207")["input"].get("data", {})
        entry = JournalEntry(
            setl_id=str(setlinfo["setl_id"]), mdtrt_id=str(setlinfo.get("mdtrt_id", "")),
            psn_no=str(setlinfo.get("psn_no") or data.get("psn_no", "")), insutype=str(data.get("insutype", "")),
            clr_type=str(setlinfo.get("clr_type") or "11"),
            setl_optins=str(setlinfo.get("clr_optins") or plan.get("insuplc_admdvs", "")),
            **{name: Decimal(str(setlinfo.get(name) or "0")) for name in
               ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")})
        settled[entry.setl_id] = entry
    return [JournalEntry(**{**e.__dict__, "refunded": e.setl_id in refunded}) for e in settled.values()]


@dataclass(frozen=True)
class Totals:
    medfee_sumamt: Decimal = Decimal("0.00")
    fund_pay_sumamt: Decimal = Decimal("0.00")
    acct_pay: Decimal = Decimal("0.00")
    cash_payamt: Decimal = Decimal("0.00")
    count: int = 0


def total(entries: Iterable[JournalEntry]) -> Totals:
    """The sums of the settlements that stand (refunds left out)."""
    t = Totals()
    for e in entries:
        if not e.refunded:
            t = Totals(t.medfee_sumamt + e.medfee_sumamt, t.fund_pay_sumamt + e.fund_pay_sumamt,
                       t.acct_pay + e.acct_pay, t.cash_payamt + e.psn_cash_pay, t.count + 1)
    return t


def totals_by_group(entries: Iterable[JournalEntry]) -> dict[tuple[str, str, str], Totals]:
    """Per (insutype, clr_type, setl_optins) with a settlement that stands: its totals."""
    entries = list(entries)
    groups = {e.group for e in entries if not e.refunded}
    return {group: total(e for e in entries if e.group == group) for group in groups}


def request_3201(group: tuple[str, str, str], totals: Totals, day: str) -> dict[str, Any]:
    insutype, clr_type, setl_optins = group
    return {"data": {"insutype": insutype, "clr_type": clr_type, "setl_optins": setl_optins,
                     "stmt_begndate": day, "stmt_enddate": day, "medfee_sumamt": f"{totals.medfee_sumamt:.2f}",
                     "fund_pay_sumamt": f"{totals.fund_pay_sumamt:.2f}", "acct_pay": f"{totals.acct_pay:.2f}",
                     "fixmedins_setl_cnt": totals.count}}


def detail_file(entries: Iterable[JournalEntry]) -> bytes:
    """The zip of tab-separated settlement rows 3202 compares (a refunded settlement flagged, not left out)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=DETAIL_FIELDS, delimiter="\t", lineterminator="\n")
    for entry in entries:
        writer.writerow(entry.row())
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("detail.txt", text.getvalue())
    return out.getvalue()


@dataclass(frozen=True)
class Difference:
    setl_id: str
    kind: str  # gateway_only, kiosk_only, amounts_differ
    detail: str = ""

    def line(self) -> str:
        words = {"gateway_only": "the gateway has a settlement this kiosk lacks",
                 "kiosk_only": "this kiosk has a settlement the gateway lacks",
                 "amounts_differ": "the amounts differ"}[self.kind]
        return f"{self.setl_id}: {words}" + (f" ({self.detail})" if self.detail else "")


def read_result_file(data: bytes) -> list[Difference]:
    """The 3202 result file (zip of tab-separated ``setl_id``, ``kind``, ``detail`` rows)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            text = archive.read(archive.namelist()[0]).decode("utf-8")
    except (zipfile.BadZipFile, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise ValueError(f"the 3202 result file is not a readable zip ({exc})") from None
    found = []
    for row in csv.reader(io.StringIO(text), delimiter="\t"):
        if len(row) >= 2 and row[1] in ("gateway_only", "kiosk_only", "amounts_differ"):
            found.append(Difference(row[0], row[1], row[2] if len(row) > 2 else ""))
    return found


@dataclass
class Reconciliation:
    day: str
    settlements: int = 0
    groups: list[dict[str, Any]] = field(default_factory=list)  # each 3201 group with its result
    differences: list[Difference] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return all(g["balanced"] for g in self.groups) and not self.differences

    def as_json(self) -> dict[str, Any]:
        return {"day": self.day, "balanced": self.balanced, "settlements": self.settlements, "groups": self.groups,
                "differences": [d.__dict__ for d in self.differences]}

    def audit_event(self) -> dict[str, Any]:
        """What the audit stream keeps: counts and settlement ids, no personal data."""
        return {"type": AUDIT_KIND, "event": "daily_reconciliation", "day": self.day, "balanced": self.balanced,
                "settlements": self.settlements, "groups": len(self.groups),
                "differences": [{"setl_id": d.setl_id, "kind": d.kind} for d in self.differences]}


def reconcile_day(gateway: InsuranceGateway, msgids: MsgIdSource, entries: list[JournalEntry], day: str,
                  institution: str) -> Reconciliation:
    """3201 per group; where a group disagrees, 9101 (the detail file), 3202, 9102 (the result file).
    Raises the gateway's errors (GatewayUnreachable when it is down: try again later)."""
    result = Reconciliation(day, settlements=len(entries))
    for group, totals in sorted(totals_by_group(entries).items()):
        out = gateway.call("3201", request_3201(group, totals, day), msgid=msgids.next_msgid(),
                           insuplc_admdvs=group[2])
        info = out.get("stmtinfo") if isinstance(out.get("stmtinfo"), Mapping) else {}
        result.groups.append({"insutype": group[0], "clr_type": group[1], "setl_optins": group[2],
                              "settlements": totals.count, "medfee_sumamt": f"{totals.medfee_sumamt:.2f}",
                              "balanced": str(info.get("stmt_rslt", "")) == BALANCED,
                              "gateway_says": str(info.get("stmt_rslt_dscr", ""))[:200]})
    unbalanced = [g for g in result.groups if not g["balanced"]]
    if not unbalanced:
        return result
    seen: set[tuple[str, str]] = set()
    for agency in sorted({g["setl_optins"] for g in unbalanced}):  # 3202 compares one clearing agency's rows
        rows = [e for e in entries if e.setl_optins == agency]
        upload = gateway.call("9101", {"fsUploadIn": {"in": base64.b64encode(detail_file(rows)).decode(),
                                                      "filename": f"stmt-{day}-{agency}.zip",
                                                      "fixmedins_code": institution}}, msgid=msgids.next_msgid())
        file_no = str(upload.get("file_qury_no") or "")
        totals = total(rows)
        compared = gateway.call("3202", {"data": {
            "setl_optins": agency, "file_qury_no": file_no, "stmt_begndate": day, "stmt_enddate": day,
            "medfee_sumamt": f"{totals.medfee_sumamt:.2f}", "fund_pay_sumamt": f"{totals.fund_pay_sumamt:.2f}",
            "cash_payamt": f"{totals.cash_payamt:.2f}", "fixmedins_setl_cnt": totals.count}},
            msgid=msgids.next_msgid(), insuplc_admdvs=agency)
        info = compared.get("fileinfo") if isinstance(compared.get("fileinfo"), Mapping) else compared
        download = gateway.call("9102", {"fsDownloadIn": {"file_qury_no": str(info.get("file_qury_no", "")),
                                                          "filename": str(info.get("filename", "")),
                                                          "fixmedins_code": institution}},
                                msgid=msgids.next_msgid())
        try:
            differences = read_result_file(base64.b64decode(str(download.get("file", "")), validate=True))
        except ValueError as exc:  # a hostile or broken answer: say so, never guess
            raise GatewayProtocolError(f"9102 gave no readable result file: {exc}") from None
        for difference in differences:
            if (difference.setl_id, difference.kind) not in seen:
                seen.add((difference.setl_id, difference.kind))
                result.differences.append(difference)
    return result


class DailyReconciler:
    """The running kiosk reconciles the day once, after closing time (``queue.reconcile_after``). When the
    gateway cannot be reached (or answers nothing usable) it tries again ``retry_s`` later, and a day it
    never managed is still tried the next morning (yesterday first). Thread: the outbox sender's."""

    def __init__(self, run: Callable[[str], Reconciliation], closing: dt.time, *, retry_s: float = 900.0) -> None:
        self._run, self._closing, self._retry_s = run, closing, retry_s
        self.done: set[str] = set()
        self._next_try = 0.0
        self.last: Reconciliation | None = None

    def _due_day(self, now: dt.datetime) -> str | None:
        yesterday = (now.date() - dt.timedelta(days=1)).isoformat()
        if yesterday not in self.done and now.time() < self._closing:
            return yesterday
        today = now.date().isoformat()
        return today if now.time() >= self._closing and today not in self.done else None

    def tick(self, now: dt.datetime) -> Reconciliation | None:
        day = self._due_day(now)
        if day is None or now.timestamp() < self._next_try:
            return None
        try:
            self.last = self._run(day)
        except GatewayError as exc:
            self._next_try = now.timestamp() + self._retry_s
            log.warning("reconciliation of %s not possible now (%s): trying again in %.0f min", day, exc,
                        self._retry_s / 60)
            return None
        self.done.add(day)
        return self.last
