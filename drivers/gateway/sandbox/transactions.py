"""The sandbox's transactions. ``handle(conn, raw_body)`` never raises: every
problem becomes ``infcode`` -1 with a clear ``err_msg``.

A msgid seen before with the same ``infno`` and ``input`` gets the stored
answer again (idempotent replay); with a different body it is refused.
"""

from __future__ import annotations

import datetime as dt
import time
import hashlib
import json
import logging
import secrets
import sqlite3
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from drivers.gateway.envelope import REQUIRED_REQUEST_FIELDS, dumps, loads
from drivers.gateway.sandbox.ledger import money, next_id

log = logging.getLogger(__name__)
FUND_RATIO = {"310": Decimal("0.70"), "390": Decimal("0.55")}
ACCOUNT_INSUTYPES = {"310"}


class Refused(Exception):
    """A business refusal: becomes infcode -1 with this message."""


def _now() -> dt.datetime:
    return dt.datetime.now()


def _answer(infcode: int, msgid: str, output: Any = None, err_msg: str = "") -> dict[str, Any]:
    stamp = _now().strftime("%Y%m%d%H%M%S%f")[:17]
    return {"infcode": infcode, "inf_refmsgid": msgid, "refmsg_time": stamp, "respond_time": stamp,
            "err_msg": err_msg, "warn_msg": "", "output": output}


def handle(conn: sqlite3.Connection, raw: bytes) -> bytes:
    try:
        envelope = loads(raw)
    except (ValueError, UnicodeDecodeError):
        return dumps(_answer(-1, "", err_msg="request body is not valid JSON"))
    if not isinstance(envelope, dict):
        return dumps(_answer(-1, "", err_msg="request body must be a JSON object (the envelope)"))
    msgid = str(envelope.get("msgid", ""))
    try:
        return dumps(_handle_envelope(conn, envelope))
    except Refused as exc:
        return dumps(_answer(-1, msgid, err_msg=str(exc)))
    except Exception as exc:  # noqa: BLE001 - the sandbox must never crash on input
        log.exception("sandbox failed on %s", envelope.get("infno"))
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return dumps(_answer(-1, msgid, err_msg=f"sandbox internal error: {type(exc).__name__}"))


def _check_envelope(env: dict[str, Any]) -> None:
    missing = [f for f in REQUIRED_REQUEST_FIELDS if f not in env or env[f] in (None, "")]
    if missing:
        raise Refused(f"envelope lacks required field {missing[0]}")
    msgid, code = str(env["msgid"]), str(env["fixmedins_code"])
    if len(msgid) != 30 or not msgid.startswith(code) or not msgid[12:].isdigit():
        raise Refused("msgid must be 30 chars: institution code (12) + yyyyMMddHHmmss + 4-digit sequence")
    if str(env["opter_type"]) not in {"1", "2", "3"}:
        raise Refused("opter_type must be 1, 2 or 3")
    if not isinstance(env["input"], dict):
        raise Refused("input must be an object")


def _handle_envelope(conn: sqlite3.Connection, env: dict[str, Any]) -> dict[str, Any]:
    _check_envelope(env)
    infno, msgid = str(env["infno"]), str(env["msgid"])
    handler = HANDLERS.get(infno)
    if handler is None:
        raise Refused(f"unknown transaction infno {infno}")
    if infno != "9001":
        row = conn.execute("SELECT 1 FROM sign_ins WHERE sign_no = ?", (str(env.get("sign_no", "")),)).fetchone()
        if row is None:
            raise Refused("sign_no invalid or expired: sign in (9001) again")
    digest = hashlib.sha256(dumps([infno, env["input"]])).hexdigest()
    conn.execute("BEGIN IMMEDIATE")
    try:
        seen = conn.execute("SELECT body_sha256, response FROM messages WHERE msgid = ?", (msgid,)).fetchone()
        if seen is not None:
            conn.execute("ROLLBACK")
            if seen["body_sha256"] != digest:
                raise Refused(f"msgid {msgid} was already used with a different body")
            return dict(json.loads(seen["response"]))
        output = handler(conn, env, env["input"])
        answer = _answer(0, msgid, output)
        conn.execute("INSERT INTO messages (msgid, infno, body_sha256, response, created, insuplc_admdvs, insutype,"
                     " request) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (msgid, infno, digest, dumps(answer).decode("utf-8"), _now().isoformat(),
                      str(env.get("insuplc_admdvs", "")), _insutype_of(env["input"]), dumps(env["input"]).decode()))
        conn.execute("COMMIT")
        return answer
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# ---- helpers -----------------------------------------------------------------------------------


def _insutype_of(inp: dict[str, Any]) -> str:
    data = inp.get("data")
    return str(data.get("insutype", "")) if isinstance(data, dict) else ""


def _records(conn: sqlite3.Connection, person: sqlite3.Row) -> list[dict[str, Any]]:
    """The person's insurance records: the person row's own, then any extra ones."""
    status = conn.execute("SELECT * FROM person_status WHERE psn_no = ?", (person["psn_no"],)).fetchone()
    paused = status["paus_insu_date"] if status is not None else ""
    first = {"insutype": person["insutype"], "balc": person["balc"], "insuplc_admdvs": person["insuplc_admdvs"],
             "emp_name": person["emp_name"], "paus_insu_date": paused}
    extra = [{**dict(r), "paus_insu_date": paused} for r in conn.execute(
        "SELECT insutype, balc, insuplc_admdvs, emp_name FROM extra_insurance WHERE psn_no = ? ORDER BY rowid",
        (person["psn_no"],))]
    return [first, *extra]


def _record(conn: sqlite3.Connection, person: sqlite3.Row, insutype: str, admdvs: str = "") -> dict[str, Any]:
    """The record a transaction names (insutype, and the header's insured region when it gives one)."""
    for record in _records(conn, person):
        if record["insutype"] == insutype and (not admdvs or record["insuplc_admdvs"] == admdvs):
            return record
    where = f" in region {admdvs}" if admdvs else ""
    raise Refused(f"person {person['psn_no']} is not insured under insutype {insutype}{where}")


def _set_balance(conn: sqlite3.Connection, psn_no: str, record: dict[str, Any], balance: Decimal) -> None:
    person = _person(conn, psn_no)
    if (record["insutype"], record["insuplc_admdvs"]) == (person["insutype"], person["insuplc_admdvs"]):
        conn.execute("UPDATE persons SET balc = ? WHERE psn_no = ?", (str(balance), psn_no))
    else:
        conn.execute("UPDATE extra_insurance SET balc = ? WHERE psn_no = ? AND insutype = ? AND insuplc_admdvs = ?",
                     (str(balance), psn_no, record["insutype"], record["insuplc_admdvs"]))


def _visit_record(conn: sqlite3.Connection, person: sqlite3.Row, mdtrt_id: str) -> dict[str, Any]:
    reg = conn.execute("SELECT insutype, insuplc_admdvs FROM registrations WHERE mdtrt_id = ?", (mdtrt_id,)).fetchone()
    return _record(conn, person, reg["insutype"], reg["insuplc_admdvs"] or "")


def _region(conn: sqlite3.Connection, admdvs: str) -> sqlite3.Row | None:
    """The insured region's policy row: the most specific of the 6-, 4- and 2-digit prefixes."""
    for prefix in (admdvs, admdvs[:4], admdvs[:2]):
        row = conn.execute("SELECT * FROM regions WHERE admdvs = ?", (prefix,)).fetchone()
        if row is not None:
            return row
    return None


def _data(inp: dict[str, Any]) -> dict[str, Any]:
    data = inp.get("data")
    if not isinstance(data, dict):
        raise Refused("input.data must be an object")
    return data


def _req(data: dict[str, Any], *names: str) -> list[str]:
    values = []
    for name in names:
        value = data.get(name)
        if value in (None, ""):
            raise Refused(f"input lacks required field {name}")
        values.append(str(value))
    return values


def _amount(data: dict[str, Any], name: str) -> Decimal:
    try:
        value = Decimal(str(data.get(name)))
    except InvalidOperation:
        raise Refused(f"{name} must be a number") from None
    if not value.is_finite() or value < 0:
        raise Refused(f"{name} must be a non-negative number")
    return money(value)


def _person(conn: sqlite3.Connection, psn_no: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM persons WHERE psn_no = ?", (psn_no,)).fetchone()
    if row is None:
        raise Refused(f"person {psn_no} not found")
    return row


def _registration(conn: sqlite3.Connection, mdtrt_id: str, psn_no: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM registrations WHERE mdtrt_id = ? AND psn_no = ?", (mdtrt_id, psn_no)).fetchone()
    if row is None:
        raise Refused(f"visit {mdtrt_id} not found for this person")
    if row["cancelled"]:
        raise Refused(f"visit {mdtrt_id} was cancelled")
    return row


OTHER_FUNDS = ("cvlserv_pay", "hifes_pay", "hifob_pay", "oth_pay", "acct_mulaid_pay")  # never paid here: 0


def split(conn: sqlite3.Connection, record: dict[str, Any], total: Decimal, use_account: bool,
          psn_no: str = "") -> dict[str, Decimal]:
    """A plausible split of the bill in the insured region's policy (the sandbox's own, not any province's):
    the pooled fund pays its ratio of what exceeds the deductible; critical-illness insurance a share of
    what exceeds its threshold; medical assistance a share of what is left for a low-income person; the
    personal account (employees) then cash the rest. Every fund is returned, zero or not."""
    region = _region(conn, record["insuplc_admdvs"])
    policy = dict(region) if region is not None else {}
    ratio = CHRONIC_RATIO if record.get("chronic") else \
        Decimal(policy.get("fund_ratio") or FUND_RATIO.get(record["insutype"], Decimal("0.50")))
    deductible = Decimal(policy.get("deductible") or "0")
    hifp = money(max(Decimal("0"), total - deductible) * ratio)
    hifmi = Decimal("0.00")
    if policy.get("mi_threshold"):
        hifmi = min(total - hifp, money(max(Decimal("0"), total - Decimal(policy["mi_threshold"]))
                                         * Decimal(policy.get("mi_ratio") or "0")))
    status = conn.execute("SELECT low_income FROM person_status WHERE psn_no = ?", (psn_no,)).fetchone()
    rest = total - hifp - hifmi
    maf = money(rest * Decimal(policy.get("maf_ratio") or "0")) if status and status["low_income"] else Decimal("0.00")
    balance = money(record["balc"])
    rest -= maf
    acct = min(balance, rest) if use_account and record["insutype"] in ACCOUNT_INSUTYPES else Decimal("0.00")
    return {"medfee_sumamt": total, "hifp_pay": hifp, "hifmi_pay": hifmi, "maf_pay": maf,
            **dict.fromkeys(OTHER_FUNDS, Decimal("0.00")), "fund_pay_sumamt": hifp + hifmi + maf, "acct_pay": acct,
            "psn_cash_pay": rest - acct, "balc": balance - acct}


# ---- transactions ------------------------------------------------------------------------------


def t9001(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    sign_no = f"S{_now():%Y%m%d}{secrets.token_hex(6).upper()}"
    sign_time = _now().strftime("%Y-%m-%d %H:%M:%S")
    conn.execute("INSERT INTO sign_ins VALUES (?, ?, ?)", (sign_no, str(env.get("opter", "")), sign_time))
    return {"signinoutb": {"sign_no": sign_no, "sign_time": sign_time}}


def t1101(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    cert_type, cert_no = _req(_data(inp), "mdtrt_cert_type", "mdtrt_cert_no")
    data = _data(inp)
    if cert_type == "03":
        row = conn.execute("SELECT * FROM persons WHERE card_no = ?", (cert_no,)).fetchone()
        if row is not None and data.get("card_sn") and str(data["card_sn"]) != row["card_sn"]:
            raise Refused("card_sn does not match the card number: the card may be forged or replaced")
    elif cert_type == "02":
        row = conn.execute("SELECT * FROM persons WHERE certno = ?", (cert_no,)).fetchone()
    elif cert_type == "01":  # electronic voucher: mdtrt_cert_no is the ecToken the platform issued
        token = conn.execute("SELECT psn_no, token_expires FROM vouchers WHERE ec_token = ?", (cert_no,)).fetchone()
        if token is None:
            raise Refused("ecToken unknown: resolve the voucher again")
        if token["token_expires"] < time.time():
            raise Refused("ecToken expired: ask the patient to show the code again")
        row = conn.execute("SELECT * FROM persons WHERE psn_no = ?", (token["psn_no"],)).fetchone()
    else:
        raise Refused(f"mdtrt_cert_type {cert_type} not supported by the sandbox")
    if row is None:
        raise Refused("person not found: no insured person holds this certificate")
    born = dt.date.fromisoformat(row["brdy"])
    age = _now().year - born.year - ((_now().month, _now().day) < (born.month, born.day))
    return {
        "baseinfo": {"psn_no": row["psn_no"], "psn_cert_type": "01", "certno": row["certno"],
                     "psn_name": row["psn_name"], "gend": row["gend"], "brdy": row["brdy"], "age": age},
        "insuinfo": [{"balc": money(r["balc"]), "insutype": r["insutype"], "psn_type": "11",
                      "psn_insu_stas": "2" if r["paus_insu_date"] else "1", "paus_insu_date": r["paus_insu_date"],
                      "insuplc_admdvs": r["insuplc_admdvs"], "emp_name": r["emp_name"]}
                     for r in _records(conn, row)],
        "idetinfo": [],
    }


MED_TYPE_EMERGENCY = "13"
MED_TYPE_CHRONIC = "14"
CHRONIC_RATIO = Decimal("0.85")  # the sandbox's chronic-disease outpatient ratio (any region)


def _chronic_on_file(conn: sqlite3.Connection, psn_no: str, dise_codg: str) -> sqlite3.Row:
    today = _now().strftime("%Y-%m-%d")
    row = conn.execute("SELECT * FROM chronic_filings WHERE psn_no = ? AND opsp_dise_code = ?",
                       (psn_no, dise_codg)).fetchone()
    if row is None or row["begndate"] > today or (row["enddate"] and row["enddate"] < today):
        raise Refused(f"chronic disease {dise_codg or '(none)'} is not on file for person {psn_no}: file it first (2503)")
    return row


def t5301(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    (psn_no,) = _req(_data(inp), "psn_no")
    _person(conn, psn_no)
    rows = conn.execute("SELECT opsp_dise_code, opsp_dise_name, begndate, enddate FROM chronic_filings"
                        " WHERE psn_no = ? ORDER BY opsp_dise_code", (psn_no,)).fetchall()
    return {"feedetail": [dict(r) for r in rows]}


def t2203(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    info = inp.get("mdtrtinfo")
    if not isinstance(info, dict):
        raise Refused("input.mdtrtinfo must be an object")
    mdtrt_id, psn_no, med_type = _req(info, "mdtrt_id", "psn_no", "med_type")
    reg = _registration(conn, mdtrt_id, psn_no)
    dise_codg = str(info.get("dise_codg") or "")
    if med_type == MED_TYPE_CHRONIC:
        _chronic_on_file(conn, psn_no, dise_codg)
    if med_type != reg["med_type"]:
        raise Refused(f"med_type {med_type} differs from the registration's {reg['med_type']}")
    conn.execute("UPDATE registrations SET dise_codg = ? WHERE mdtrt_id = ?", (dise_codg, mdtrt_id))
    return {}


def t2001(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    """Benefit check (待遇检查): the insurance paused, cross-province filing (emergencies count as filed), the
    insured region's cross-province general outpatient. ``trt_chk_type``: 01 insurance status, 02 filing,
    03 cross-province outpatient (the sandbox's codes)."""
    data = _data(inp)
    psn_no, insutype, med_type = _req(data, "psn_no", "insutype", "med_type")
    person = _person(conn, psn_no)
    record = _record(conn, person, insutype, str(env.get("insuplc_admdvs", "")))
    status = conn.execute("SELECT * FROM person_status WHERE psn_no = ?", (psn_no,)).fetchone()
    checks = []

    def check(kind: str, ok: bool, message: str) -> None:
        checks.append({"trt_chk_type": kind, "fund_pay_type": "310100", "trt_enjymnt_flag": "1" if ok else "0",
                       "begndate": "", "enddate": "", "trt_chk_rslt": "" if ok else message})

    paused = record["paus_insu_date"]
    check("01", not paused or paused > _now().strftime("%Y-%m-%d"), f"参保人自{paused}起暂停参保")
    cross = record["insuplc_admdvs"][:2] != str(env["mdtrtarea_admvs"])[:2]
    region = _region(conn, record["insuplc_admdvs"])
    if cross:
        filed = bool(status and status["filed"]) or med_type == MED_TYPE_EMERGENCY
        check("02", filed or not (region and region["requires_filing"]), "参保人未办理异地就医备案")
        check("03", not region or bool(region["cross_province_outpatient"]), "参保地未开通跨省普通门诊直接结算")
    return {"trtinfo": checks}


def t2201(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    psn_no, insutype = _req(_data(inp), "psn_no", "insutype")
    person = _person(conn, psn_no)
    record = _record(conn, person, insutype, str(env.get("insuplc_admdvs", "")))
    mdtrt_id = f"MD{_now():%Y%m%d}{next_id(conn, 'mdtrt'):08d}"
    med_type, dise_codg = str(_data(inp).get("med_type") or "11"), str(_data(inp).get("dise_codg") or "")
    if med_type == MED_TYPE_CHRONIC:
        _chronic_on_file(conn, psn_no, dise_codg)
    dept_code = str(_data(inp).get("dept_code") or "")
    if dept_code:  # a registration with a department names its doctor and specialty too
        _req(_data(inp), "dept_name", "caty", "atddr_no", "dr_name")
    conn.execute("INSERT INTO registrations (mdtrt_id, psn_no, ipt_otp_no, insutype, msgid, insuplc_admdvs, med_type,"
                 " dise_codg, dept_code, atddr_no) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (mdtrt_id, psn_no, str(_data(inp).get("ipt_otp_no", "")), insutype, env["msgid"],
                  record["insuplc_admdvs"], med_type, dise_codg, dept_code, str(_data(inp).get("atddr_no") or "")))
    return {"data": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "ipt_otp_no": _data(inp).get("ipt_otp_no", "")}}


def t2202(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    psn_no, mdtrt_id = _req(_data(inp), "psn_no", "mdtrt_id")
    _registration(conn, mdtrt_id, psn_no)
    if conn.execute("SELECT 1 FROM settlements WHERE mdtrt_id = ? AND refunded = 0 AND reversed = 0",
                    (mdtrt_id,)).fetchone():
        raise Refused(f"visit {mdtrt_id} has a settlement: refund it (2208) first")
    conn.execute("UPDATE registrations SET cancelled = 1 WHERE mdtrt_id = ?", (mdtrt_id,))
    return {}


def t2204(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    lines = inp.get("feedetail")
    if not isinstance(lines, list) or not lines:
        raise Refused("input.feedetail must be a non-empty list")
    result = []
    for line in lines:
        if not isinstance(line, dict):
            raise Refused("each feedetail line must be an object")
        sn, mdtrt_id, psn_no, bch = _req(line, "feedetl_sn", "mdtrt_id", "psn_no", "chrg_bchno")
        _registration(conn, mdtrt_id, psn_no)
        amount, cnt, pric = (_amount(line, n) for n in ("det_item_fee_sumamt", "cnt", "pric"))
        if abs(money(cnt * pric) - amount) > Decimal("0.01"):
            raise Refused(f"fee line {sn}: det_item_fee_sumamt {amount} differs from cnt x pric")
        conn.execute("INSERT OR REPLACE INTO fee_lines VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL)",
                     (mdtrt_id, sn, bch, psn_no, str(amount), str(cnt), str(pric)))
        result.append({"feedetl_sn": sn, "det_item_fee_sumamt": amount, "cnt": cnt, "pric": pric,
                       "fulamt_ownpay_amt": Decimal("0.00"), "selfpay_prop": Decimal("0.00"), "memo": ""})
    return {"result": result}


def t2205(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    bch, mdtrt_id, psn_no = _req(_data(inp), "chrg_bchno", "mdtrt_id", "psn_no")
    _registration(conn, mdtrt_id, psn_no)
    where = "" if bch == "0000" else " AND chrg_bchno = ?"
    conn.execute(f"UPDATE fee_lines SET deleted = 1 WHERE mdtrt_id = ? AND setl_id IS NULL{where}",
                 (mdtrt_id,) if bch == "0000" else (mdtrt_id, bch))
    return {}


def _trial(conn: sqlite3.Connection, inp: dict[str, Any]
           ) -> tuple[sqlite3.Row, dict[str, Decimal], str, str, dict[str, Any]]:
    """(person, split, mdtrt_id, chrg_bchno, the insurance record the visit was registered under)."""
    data = _data(inp)
    psn_no, mdtrt_id, bch = _req(data, "psn_no", "mdtrt_id", "chrg_bchno")
    person = _person(conn, psn_no)
    reg = _registration(conn, mdtrt_id, psn_no)
    total = _amount(data, "medfee_sumamt")
    rows = conn.execute("SELECT amount FROM fee_lines WHERE mdtrt_id = ? AND chrg_bchno = ? AND deleted = 0 AND"
                        " setl_id IS NULL", (mdtrt_id, bch)).fetchall()
    if not rows:
        raise Refused(f"no unsettled fees uploaded for visit {mdtrt_id} batch {bch}")
    uploaded = sum((money(r["amount"]) for r in rows), Decimal("0.00"))
    if uploaded != total:
        raise Refused(f"medfee_sumamt {total} differs from the uploaded fees {uploaded}")
    record = _record(conn, person, reg["insutype"], reg["insuplc_admdvs"] or "")
    med_type = str(data.get("med_type") or "11")
    if med_type != reg["med_type"] or str(data.get("dise_codg") or "") != reg["dise_codg"]:
        raise Refused(f"med_type {med_type} / dise_codg {data.get('dise_codg') or '(none)'} differ from the visit's "
                      f"{reg['med_type']} / {reg['dise_codg'] or '(none)'}")
    if med_type == MED_TYPE_CHRONIC:
        _chronic_on_file(conn, psn_no, reg["dise_codg"])
    use_account = str(data.get("acct_used_flag", "0")) == "1"
    chronic = {**record, "chronic": med_type == MED_TYPE_CHRONIC}
    return person, split(conn, chronic, total, use_account, psn_no), mdtrt_id, bch, record


def _clearing(record: dict[str, Any]) -> dict[str, str]:
    """Who clears the settlement: the insured region's agency, by item, as outpatient."""
    return {"clr_optins": record["insuplc_admdvs"], "clr_way": "1", "clr_type": "11"}


def t2206(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    person, amounts, mdtrt_id, _, record = _trial(conn, inp)
    return {"setlinfo": {"mdtrt_id": mdtrt_id, "psn_no": person["psn_no"], **amounts, **_clearing(record)},
            "setldetail": []}


def t2207(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    person, amounts, mdtrt_id, bch, record = _trial(conn, inp)
    setl_id = f"ST{_now():%Y%m%d}{next_id(conn, 'setl'):08d}"
    setl_time = _now().strftime("%Y-%m-%d %H:%M:%S")
    conn.execute("INSERT INTO settlements (setl_id, mdtrt_id, psn_no, msgid, medfee_sumamt, fund_pay_sumamt, hifp_pay,"
                 " acct_pay, psn_cash_pay, balc, setl_time, funds, insuplc_admdvs, insutype)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (setl_id, mdtrt_id, person["psn_no"], env["msgid"], *(str(amounts[k]) for k in (
                     "medfee_sumamt", "fund_pay_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay", "balc")), setl_time,
                  json.dumps({k: str(v) for k, v in amounts.items()}), record["insuplc_admdvs"], record["insutype"]))
    _set_balance(conn, person["psn_no"], record, amounts["balc"])
    sns = [r["feedetl_sn"] for r in conn.execute(
        "SELECT feedetl_sn FROM fee_lines WHERE mdtrt_id = ? AND chrg_bchno = ? AND deleted = 0 AND setl_id IS NULL",
        (mdtrt_id, bch))]
    conn.execute("UPDATE fee_lines SET setl_id = ? WHERE mdtrt_id = ? AND chrg_bchno = ? AND deleted = 0 AND"
                 " setl_id IS NULL", (setl_id, mdtrt_id, bch))
    conn.executemany("UPDATE his_fees SET paid_setl_id = ? WHERE certno = ? AND feedetl_sn = ?",
                     [(setl_id, person["certno"], sn) for sn in sns])
    setlinfo = {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": person["psn_no"], "setl_time": setl_time,
                "medins_setl_id": env["msgid"], **amounts}
    detail = [{"fund_pay_type": code, "fund_payamt": amounts[field], "fund_pay_type_name": name}
              for field, code, name in (("hifp_pay", "310100", "统筹基金"), ("hifmi_pay", "390200", "大病保险"),
                                        ("maf_pay", "610100", "医疗救助")) if amounts[field]]
    return {"setlinfo": {**setlinfo, "clr_optins": record["insuplc_admdvs"], "clr_way": "1",
                         "clr_type": "11"},  # clearing: the insured region, by item, outpatient
            "setldetail": detail}


def _undo_settlement(conn: sqlite3.Connection, setl: sqlite3.Row, column: str) -> dict[str, Any]:
    person = _person(conn, setl["psn_no"])
    record = _visit_record(conn, person, setl["mdtrt_id"])
    balance = money(record["balc"]) + money(setl["acct_pay"])
    _set_balance(conn, setl["psn_no"], record, balance)
    conn.execute(f"UPDATE settlements SET {column} = 1 WHERE setl_id = ?", (setl["setl_id"],))
    conn.execute("UPDATE fee_lines SET setl_id = NULL WHERE setl_id = ?", (setl["setl_id"],))
    conn.execute("UPDATE his_fees SET paid_setl_id = NULL WHERE paid_setl_id = ?", (setl["setl_id"],))
    return {"setl_id": setl["setl_id"], "balc": balance, **{
        k: -money(setl[k]) for k in ("medfee_sumamt", "fund_pay_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay")}}


def t2208(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    setl_id, mdtrt_id, psn_no = _req(_data(inp), "setl_id", "mdtrt_id", "psn_no")
    setl = conn.execute("SELECT * FROM settlements WHERE setl_id = ? AND mdtrt_id = ? AND psn_no = ?",
                        (setl_id, mdtrt_id, psn_no)).fetchone()
    if setl is None:
        raise Refused(f"settlement {setl_id} not found for this visit and person")
    if setl["refunded"] or setl["reversed"]:
        raise Refused(f"settlement {setl_id} was already refunded or reversed")
    return {"setlinfo": _undo_settlement(conn, setl, "refunded")}


def t2601(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    psn_no, omsgid, oinfno = _req(_data(inp), "psn_no", "omsgid", "oinfno")
    if oinfno == "2208":
        return _reverse_refund(conn, psn_no, omsgid)
    if oinfno != "2207":
        raise Refused(f"the sandbox reverses 2207 and 2208 only, not {oinfno}")
    setl = conn.execute("SELECT * FROM settlements WHERE msgid = ? AND psn_no = ?", (omsgid, psn_no)).fetchone()
    if setl is None:
        raise Refused(f"original transaction {omsgid} not found: nothing to reverse")
    if not setl["reversed"]:
        _refuse_late_cross_province_reversal(conn, env, setl)
        _undo_settlement(conn, setl, "reversed")
    return {}


def _refuse_late_cross_province_reversal(conn: sqlite3.Connection, env: dict[str, Any], setl: sqlite3.Row) -> None:
    """Cross-province settlements are reversed on the day they were made only (the safe reading of the
    rules), and, when the setting ``reversal_window_s`` is set (tests, bench/chaos.py), within that many
    seconds (0: closed at once)."""
    if setl["insuplc_admdvs"][:2] == str(env.get("mdtrtarea_admvs", ""))[:2]:
        return
    made = dt.datetime.strptime(setl["setl_time"], "%Y-%m-%d %H:%M:%S")
    row = conn.execute("SELECT value FROM settings WHERE name = 'reversal_window_s'").fetchone()
    late = made.date() != _now().date() or (row is not None and (_now() - made).total_seconds() >= float(row[0]))
    if late:
        raise Refused(f"跨省异地结算 {setl['setl_id']} 已超过冲正时限 (cross-province reversal window closed)")


def _reverse_refund(conn: sqlite3.Connection, psn_no: str, omsgid: str) -> dict[str, Any]:
    """Undo a refund: the settlement stands again, its account share and its fees with it."""
    seen = conn.execute("SELECT response FROM messages WHERE msgid = ? AND infno = '2208'", (omsgid,)).fetchone()
    if seen is None:
        raise Refused(f"original transaction {omsgid} not found: nothing to reverse")
    setl_id = json.loads(seen["response"])["output"]["setlinfo"]["setl_id"]
    setl = conn.execute("SELECT * FROM settlements WHERE setl_id = ? AND psn_no = ?", (setl_id, psn_no)).fetchone()
    if setl is None:
        raise Refused(f"refund {omsgid} is not this person's")
    if setl["refunded"]:
        person = _person(conn, psn_no)
        record = _visit_record(conn, person, setl["mdtrt_id"])
        _set_balance(conn, psn_no, record, money(record["balc"]) - money(setl["acct_pay"]))
        conn.execute("UPDATE settlements SET refunded = 0 WHERE setl_id = ?", (setl_id,))
        conn.execute("UPDATE fee_lines SET setl_id = ? WHERE mdtrt_id = ? AND deleted = 0 AND setl_id IS NULL",
                     (setl_id, setl["mdtrt_id"]))
        conn.execute("UPDATE his_fees SET paid_setl_id = ? WHERE certno = ? AND paid_setl_id IS NULL AND feedetl_sn IN"
                     " (SELECT feedetl_sn FROM fee_lines WHERE setl_id = ?)", (setl_id, person["certno"], setl_id))
    return {}


def t5203(conn: sqlite3.Connection, env: dict[str, Any], inp: dict[str, Any]) -> dict[str, Any]:
    psn_no, setl_id = _req(_data(inp), "psn_no", "setl_id")
    setl = conn.execute("SELECT * FROM settlements WHERE setl_id = ? AND psn_no = ?", (setl_id, psn_no)).fetchone()
    if setl is None:
        raise Refused(f"settlement {setl_id} not found for this person")
    info = {k: setl[k] for k in ("setl_id", "mdtrt_id", "psn_no", "setl_time")}
    info.update({k: money(setl[k]) for k in ("medfee_sumamt", "fund_pay_sumamt", "hifp_pay", "acct_pay",
                                             "psn_cash_pay", "balc")})
    info.update({k: money(v) for k, v in json.loads(setl["funds"] or "{}").items() if k not in info})
    info["refd_setl_flag"] = "1" if setl["refunded"] or setl["reversed"] else "0"
    return {"setlinfo": info}


Handler = Callable[[sqlite3.Connection, dict[str, Any], dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {
    "9001": t9001, "1101": t1101, "2001": t2001, "2201": t2201, "2203": t2203, "5301": t5301, "2202": t2202, "2204": t2204, "2205": t2205,
    "2206": t2206, "2207": t2207, "2208": t2208, "2601": t2601, "5203": t5203,
}

# the pre-audit and daily-reconciliation transactions live beside these (statements.py uses the helpers above)
from drivers.gateway.sandbox import statements  # noqa: E402

HANDLERS.update(statements.HANDLERS)
