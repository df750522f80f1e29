"""The sandbox's SQLite ledger: schema, seed data and small queries.

One connection, used under the server's lock; each transaction commits its
ledger changes and its message record together (see ``transactions.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path

from drivers.gateway.sandbox.registration import SCHEMA as REGISTRATION_SCHEMA
from drivers.gateway.sandbox.registration import seed_registration

SCHEMA = """
CREATE TABLE IF NOT EXISTS persons (
    psn_no TEXT PRIMARY KEY, certno TEXT UNIQUE, psn_name TEXT, gend TEXT, brdy TEXT,
    card_no TEXT UNIQUE, card_sn TEXT, insutype TEXT, balc TEXT, insuplc_admdvs TEXT, emp_name TEXT);
CREATE TABLE IF NOT EXISTS extra_insurance (
    psn_no TEXT, insutype TEXT, balc TEXT, insuplc_admdvs TEXT, emp_name TEXT,
    PRIMARY KEY (psn_no, insutype, insuplc_admdvs));
CREATE TABLE IF NOT EXISTS person_status (
    psn_no TEXT PRIMARY KEY, paus_insu_date TEXT DEFAULT '', filed INTEGER DEFAULT 0, low_income INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS regions (
    admdvs TEXT PRIMARY KEY, requires_filing INTEGER DEFAULT 0, cross_province_outpatient INTEGER DEFAULT 1,
    deductible TEXT DEFAULT '0', fund_ratio TEXT DEFAULT '', mi_threshold TEXT DEFAULT '', mi_ratio TEXT DEFAULT '0',
    maf_ratio TEXT DEFAULT '0');
CREATE TABLE IF NOT EXISTS chronic_filings (
    psn_no TEXT, opsp_dise_code TEXT, opsp_dise_name TEXT, begndate TEXT, enddate TEXT,
    PRIMARY KEY (psn_no, opsp_dise_code));
CREATE TABLE IF NOT EXISTS pre_audits (
    warn_rslt_id TEXT PRIMARY KEY, mdtrt_id TEXT, rule_name TEXT, out_setl_flag TEXT, dspo_way TEXT DEFAULT '');
CREATE TABLE IF NOT EXISTS files (file_qury_no TEXT PRIMARY KEY, filename TEXT, content BLOB);
CREATE TABLE IF NOT EXISTS face_templates (psn_no TEXT PRIMARY KEY, template TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS terminals (
    registration_id TEXT PRIMARY KEY, terminal_no TEXT NOT NULL, institution TEXT NOT NULL,
    public_key TEXT NOT NULL, status TEXT NOT NULL, registered TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vouchers (
    payload TEXT PRIMARY KEY, psn_no TEXT NOT NULL, ec_token TEXT UNIQUE NOT NULL,
    code_expires REAL NOT NULL, token_expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS his_fees (
    certno TEXT, feedetl_sn TEXT, name TEXT, med_list_codg TEXT, medins_list_codg TEXT, cnt TEXT, pric TEXT,
    paid_setl_id TEXT, PRIMARY KEY (certno, feedetl_sn));
CREATE TABLE IF NOT EXISTS sign_ins (sign_no TEXT PRIMARY KEY, opter_no TEXT, sign_time TEXT);
CREATE TABLE IF NOT EXISTS registrations (
    mdtrt_id TEXT PRIMARY KEY, psn_no TEXT, ipt_otp_no TEXT, insutype TEXT, msgid TEXT, cancelled INTEGER DEFAULT 0,
    insuplc_admdvs TEXT DEFAULT '', med_type TEXT DEFAULT '11', dise_codg TEXT DEFAULT '', dept_code TEXT DEFAULT '',
    atddr_no TEXT DEFAULT '');
CREATE TABLE IF NOT EXISTS fee_lines (
    mdtrt_id TEXT, feedetl_sn TEXT, chrg_bchno TEXT, psn_no TEXT, amount TEXT, cnt TEXT, pric TEXT,
    deleted INTEGER DEFAULT 0, setl_id TEXT, PRIMARY KEY (mdtrt_id, feedetl_sn));
CREATE TABLE IF NOT EXISTS settlements (
    setl_id TEXT PRIMARY KEY, mdtrt_id TEXT, psn_no TEXT, msgid TEXT UNIQUE, medfee_sumamt TEXT,
    fund_pay_sumamt TEXT, hifp_pay TEXT, acct_pay TEXT, psn_cash_pay TEXT, balc TEXT, setl_time TEXT,
    refunded INTEGER DEFAULT 0, reversed INTEGER DEFAULT 0, funds TEXT DEFAULT '{}', insuplc_admdvs TEXT DEFAULT '',
    insutype TEXT DEFAULT '');
CREATE TABLE IF NOT EXISTS messages (
    msgid TEXT PRIMARY KEY, infno TEXT, body_sha256 TEXT, response TEXT, created TEXT, insuplc_admdvs TEXT DEFAULT '',
    insutype TEXT DEFAULT '', request TEXT DEFAULT '');
CREATE TABLE IF NOT EXISTS audit_events (id INTEGER PRIMARY KEY, event_id TEXT UNIQUE, received TEXT, event TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS einvoices (invoice_no TEXT PRIMARY KEY, psn_no TEXT NOT NULL, setl_id TEXT UNIQUE,
    issued TEXT NOT NULL, amount TEXT NOT NULL, items TEXT NOT NULL, printed_at TEXT DEFAULT '', printed_by TEXT DEFAULT '');
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS family_bindings (member_psn_no TEXT, patient_psn_no TEXT, relation TEXT,
    PRIMARY KEY (member_psn_no, patient_psn_no));
CREATE TABLE IF NOT EXISTS face_locks (certno TEXT PRIMARY KEY, failures INTEGER NOT NULL, locked_until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS face_attempts (device TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS face_auths (auth_no TEXT PRIMARY KEY, psn_no TEXT NOT NULL, expires REAL NOT NULL,
    used INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS voucher_passwords (psn_no TEXT PRIMARY KEY, salt BLOB NOT NULL, hash BLOB NOT NULL,
    failures INTEGER DEFAULT 0, locked_day TEXT DEFAULT '');
"""


def open_ledger(path: Path | str) -> sqlite3.Connection:
    """Open (creating and seeding if new) the ledger at ``path``."""
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SCHEMA + REGISTRATION_SCHEMA)
    if conn.execute("SELECT COUNT(*) FROM persons").fetchone()[0] == 0:
        seed(conn)
    return conn


def seed(conn: sqlite3.Connection, text: str | None = None) -> None:
    if text is None:
        text = resources.files("drivers.gateway.sandbox").joinpath("seed.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    conn.execute("BEGIN")
    for p in data.get("person", []):
        conn.execute(
            "INSERT OR REPLACE INTO persons VALUES (:psn_no, :certno, :psn_name, :gend, :brdy, :card_no, :card_sn,"
            " :insutype, :balc, :insuplc_admdvs, :emp_name)", p)
    for p in data.get("person", []):
        conn.execute("INSERT OR REPLACE INTO person_status VALUES (?, ?, ?, ?)",
                     (p["psn_no"], p.get("paus_insu_date", ""), int(p.get("filed", False)),
                      int(p.get("low_income", False))))
        for filing in p.get("chronic", []):  # chronic or special diseases on file (5301)
            conn.execute("INSERT OR REPLACE INTO chronic_filings VALUES (?, ?, ?, ?, ?)",
                         (p["psn_no"], filing["code"], filing["name"], filing["begndate"], filing.get("enddate", "")))
        for record in p.get("insurance", []):  # a second (third...) insurance record
            conn.execute("INSERT OR REPLACE INTO extra_insurance VALUES (?, ?, ?, ?, ?)",
                         (p["psn_no"], record["insutype"], record["balc"], record["insuplc_admdvs"],
                          record.get("emp_name", "")))
    for r in data.get("region", []):
        conn.execute("INSERT OR REPLACE INTO regions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (r["admdvs"], int(r.get("requires_filing", False)), int(r.get("cross_province_outpatient", True)),
                      r.get("deductible", "0"), r.get("fund_ratio", ""), r.get("mi_threshold", ""),
                      r.get("mi_ratio", "0"), r.get("maf_ratio", "0")))
    for b in data.get("family", []):  # a family account: the member's voucher may authorise for the patient
        conn.execute("INSERT OR REPLACE INTO family_bindings SELECT m.psn_no, p.psn_no, ? FROM persons m, persons p"
                      " WHERE m.certno = ? AND p.certno = ?", (b.get("relation", ""), b["member"], b["patient"]))
    for f in data.get("fee", []):
        conn.execute(
            "INSERT OR REPLACE INTO his_fees VALUES (:certno, :feedetl_sn, :name, :med_list_codg,"
            " :medins_list_codg, :cnt, :pric, NULL)", f)
    for n, inv in enumerate(data.get("invoice", []), start=1):  # e-invoices of earlier visits (no settlement here)
        issued = (dt.date.today() - dt.timedelta(days=int(inv["days_ago"]))).isoformat() + " 10:00:00"
        conn.execute("INSERT OR REPLACE INTO einvoices SELECT ?, psn_no, NULL, ?, ?, ?, ?, ? FROM persons WHERE certno = ?",
                     (f"{inv['bill_code']}{n:010d}", issued, inv["amount"], json.dumps(inv["items"], ensure_ascii=False),
                      issued if inv.get("printed") else "", "counter" if inv.get("printed") else "", inv["certno"]))
    seed_registration(conn, data)
    conn.execute("COMMIT")


def next_id(conn: sqlite3.Connection, name: str) -> int:
    conn.execute("INSERT OR IGNORE INTO counters VALUES (?, 0)", (name,))
    conn.execute("UPDATE counters SET value = value + 1 WHERE name = ?", (name,))
    return int(conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0])


def money(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))
