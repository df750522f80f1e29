"""The sandbox's pre-audit (3101, 3103), daily reconciliation (3201 totals, 9101 upload, 3202 detail,
9102 download) and cumulative-amount (5206) transactions, on the same ledger and helpers as
``transactions.py``."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import sqlite3
import zipfile
from decimal import Decimal
from typing import Any

from drivers.gateway.sandbox.ledger import money, next_id
from drivers.gateway.sandbox.transactions import Handler, Refused, _amount, _data, _now, _registration, _req


# ---- pre-audit (事前事中) and its feedback ------------------------------------------------------------

MAX_DRUG_UNITS = Decimal("6")  # the sandbox's one rule: more than this many units of one drug is flagged


def t3101(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    data = _data(inp)
    psn_no, mdtrt_id, flag = _req(data, "psn_no", "mdtrt_id", "out_setl_flag")
    _registration(conn, mdtrt_id, psn_no)
    lines = data.get("fsi_order_dtos")
    if not isinstance(lines, list):
        raise Refused("input.data.fsi_order_dtos must be the visit's fee lines")
    result = []
    for line in lines:
        if isinstance(line, dict) and str(line.get("med_list_codg", "")).startswith("X") \
                and _amount(line, "cnt") > MAX_DRUG_UNITS:
            warn = f"W{_now():%Y%m%d}{next_id(conn, 'warn'):08d}"
            message = f"药品 {line.get('medins_list_codg', '')} 数量 {_amount(line, 'cnt')} 超过单次处方限量"
            conn.execute("INSERT INTO pre_audits (warn_rslt_id, mdtrt_id, rule_name, out_setl_flag) VALUES (?, ?, ?, ?)",
                         (warn, mdtrt_id, "超量开药", flag))
            result.append({"warn_rslt_id": warn, "rule_name": "超量开药", "sev_deg": "2", "vola_dscr": message})
    return {"result": result}


def t3103(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    warns = inp.get("warns")
    if not isinstance(warns, list) or not warns:
        raise Refused("input.warns must be a non-empty list")
    for warn in warns:
        warn_id, way = _req(warn if isinstance(warn, dict) else {}, "warn_rslt_id", "dspo_way")
        if conn.execute("UPDATE pre_audits SET dspo_way = ? WHERE warn_rslt_id = ?", (way, warn_id)).rowcount != 1:
            raise Refused(f"warning {warn_id} unknown")
    return {}


# ---- daily reconciliation: 3201 totals, 9101 upload, 3202 detail, 9102 download -----------------------


def _day_settlements(conn: sqlite3.Connection, data: dict[str, Any]) -> list[sqlite3.Row]:
    begin, end, optins = _req(data, "stmt_begndate", "stmt_enddate", "setl_optins")
    return conn.execute("SELECT * FROM settlements WHERE substr(setl_time, 1, 10) BETWEEN ? AND ? AND"
                        " insuplc_admdvs = ? AND reversed = 0", (begin[:10], end[:10], optins)).fetchall()


def t3201(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    data = _data(inp)
    insutype, clr_type = _req(data, "insutype", "clr_type")
    rows = [r for r in _day_settlements(conn, data) if r["insutype"] == insutype and clr_type == "11"
            and not r["refunded"]]
    ours = {name: sum((money(r[name]) for r in rows), Decimal("0.00"))
            for name in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")}
    theirs = {name: _amount(data, name) for name in ours}
    count = int(str(data.get("fixmedins_setl_cnt", "0")) or 0)
    balanced = ours == theirs and count == len(rows)
    described = "平" if balanced else (f"不平：中心 {len(rows)} 笔 {ours['medfee_sumamt']}，"
                                      f"机构 {count} 笔 {theirs['medfee_sumamt']}")
    return {"stmtinfo": {"setl_optins": data["setl_optins"], "stmt_rslt": "0" if balanced else "1",
                         "stmt_rslt_dscr": described}}


def t9101(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    upload = inp.get("fsUploadIn")
    if not isinstance(upload, dict):
        raise Refused("input.fsUploadIn must be an object")
    try:
        content = base64.b64decode(str(upload.get("in", "")), validate=True)
    except ValueError:
        raise Refused("fsUploadIn.in must be the file in base64") from None
    number = f"F{_now():%Y%m%d}{next_id(conn, 'file'):08d}"
    conn.execute("INSERT INTO files VALUES (?, ?, ?)", (number, str(upload.get("filename", "")), content))
    return {"file_qury_no": number, "filename": str(upload.get("filename", ""))}


def t3202(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    data = _data(inp)
    (file_no,) = _req(data, "file_qury_no")
    row = conn.execute("SELECT content FROM files WHERE file_qury_no = ?", (file_no,)).fetchone()
    if row is None:
        raise Refused(f"file {file_no} was never uploaded (9101)")
    try:
        with zipfile.ZipFile(io.BytesIO(row["content"])) as archive:
            text = archive.read(archive.namelist()[0]).decode("utf-8")
    except (zipfile.BadZipFile, IndexError, UnicodeDecodeError):
        raise Refused(f"file {file_no} is not a zip of tab-separated rows") from None
    theirs = {cols[0]: cols for cols in csv.reader(io.StringIO(text), delimiter="\t") if cols}
    ours = {r["setl_id"]: r for r in _day_settlements(conn, data)}
    out = io.StringIO()
    for setl_id in sorted(set(ours) | set(theirs)):
        if setl_id not in theirs:
            out.write(f"{setl_id}\tgateway_only\t\n")
        elif setl_id not in ours:
            out.write(f"{setl_id}\tkiosk_only\t\n")
        else:
            mine, sent = ours[setl_id], theirs[setl_id]
            flag = "1" if mine["refunded"] else "0"
            if money(mine["medfee_sumamt"]) != money(sent[3]) or flag != sent[7]:
                out.write(f"{setl_id}\tamounts_differ\tgateway {money(mine['medfee_sumamt'])} refunded {flag}, "
                          f"institution {sent[3]} refunded {sent[7]}\n")
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("result.txt", out.getvalue())
    number = f"R{_now():%Y%m%d}{next_id(conn, 'file'):08d}"
    conn.execute("INSERT INTO files VALUES (?, ?, ?)", (number, f"result-{file_no}.zip", result.getvalue()))
    return {"fileinfo": {"file_qury_no": number, "filename": f"result-{file_no}.zip",
                         "dld_endtime": (_now() + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")}}


def t9102(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    download = inp.get("fsDownloadIn")
    if not isinstance(download, dict):
        raise Refused("input.fsDownloadIn must be an object")
    (file_no,) = _req(download, "file_qury_no")
    row = conn.execute("SELECT content FROM files WHERE file_qury_no = ?", (file_no,)).fetchone()
    if row is None:
        raise Refused(f"file {file_no} not found")
    return {"file": base64.b64encode(row["content"]).decode()}


# ---- the person's cumulative amounts this year (人员累计信息查询) ------------------------------------------

CUMULATIVE = ("medfee_sumamt", "fund_pay_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay")


def t5206(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    """This year's totals of the person's settlements (neither refunded nor reversed), per insurance type:
    ``cumlis`` rows of ``insutype``, ``year``, ``cum_type_code`` (in the sandbox the amount's own field
    name; a province's code table differs) and ``cum``."""
    (psn_no,) = _req(_data(inp), "psn_no")
    if conn.execute("SELECT 1 FROM persons WHERE psn_no = ?", (psn_no,)).fetchone() is None:
        raise Refused(f"person {psn_no} not found")
    year = str(_data(inp).get("year") or _now().year)
    rows = conn.execute("SELECT * FROM settlements WHERE psn_no = ? AND substr(setl_time, 1, 4) = ? AND refunded = 0"
                        " AND reversed = 0", (psn_no, year)).fetchall()
    totals: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        sums = totals.setdefault(row["insutype"] or "", dict.fromkeys(CUMULATIVE, Decimal("0")))
        for name in CUMULATIVE:
            sums[name] += money(row[name])
    return {"cumlis": [{"insutype": insutype, "year": year, "cum_type_code": name, "cum": money(value)}
                       for insutype, sums in sorted(totals.items()) for name, value in sums.items()]}


HANDLERS: dict[str, Handler] = {"3101": t3101, "3103": t3103, "3201": t3201, "3202": t3202, "9101": t9101,
                                "9102": t9102, "5206": t5206}
