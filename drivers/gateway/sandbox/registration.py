"""Same-day registration (挂号) on the hospital-system side of the sandbox: departments, doctors and their
remaining slots, slot locks that expire, confirmation with a queue number, and the staff's view of locks
never released. Behind the same access layer as ``/his/``:

- ``GET /his/departments`` -> ``{"departments": [{"dept_code", "dept_name", "caty", "place", "remaining"}]}``
- ``GET /his/slots?dept_code=`` -> ``{"slots": [{"slot_id", "dept_code", "dept_name", "caty", "atddr_no",
  "dr_name", "title", "period", "fee", "med_list_codg", "remaining"}]}``
- ``POST /his/slots/lock`` ``{"slot_id", "psn_no", "terminal_no"}`` -> ``{"code": "0", "lock_id", "expires_in"}``;
  409 ``full`` (nothing left, counting live locks), 404 ``unknown_slot``.
- ``POST /his/slots/release`` ``{"lock_id"}``: the patient did not register (abandoned, failed).
- ``POST /his/registrations/confirm`` ``{"lock_id", "mdtrt_id", "setl_id"}`` -> ``{"code": "0", "queue_no",
  "place"}``; 409 ``expired`` (the lock ran out or was released).
- ``GET /his/slot-locks?state=locked`` -> the locks not released nor confirmed (staff look at these).
- ``POST /admin/slots/lock-ttl`` ``{"seconds"}``: how long a lock holds (default ``LOCK_TTL_S``).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from typing import Any

from drivers.gateway.envelope import dumps

LOCK_TTL_S = 600.0  # ten minutes to pay; then the slot goes back to the pool

SCHEMA = """
CREATE TABLE IF NOT EXISTS his_departments (dept_code TEXT PRIMARY KEY, dept_name TEXT, caty TEXT, place TEXT);
CREATE TABLE IF NOT EXISTS his_slots (slot_id TEXT PRIMARY KEY, dept_code TEXT, atddr_no TEXT, dr_name TEXT,
    title TEXT, period TEXT, fee TEXT, med_list_codg TEXT, capacity INTEGER, taken INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS his_slot_locks (lock_id TEXT PRIMARY KEY, slot_id TEXT, psn_no TEXT, terminal_no TEXT,
    created REAL, expires REAL, state TEXT, queue_no TEXT DEFAULT '', mdtrt_id TEXT DEFAULT '', setl_id TEXT DEFAULT '');
"""


def seed_registration(conn: sqlite3.Connection, data: dict[str, Any]) -> None:
    """Departments and doctors' slots from seed.toml (``[[department]]`` with ``[[department.doctor]]``), inside
    the seed's transaction (the tables are made with the ledger's schema)."""
    for dept in data.get("department", []):
        conn.execute("INSERT OR REPLACE INTO his_departments VALUES (?, ?, ?, ?)",
                     (dept["code"], dept["name"], dept["caty"], dept["place"]))
        for n, doctor in enumerate(dept.get("doctor", []), start=1):
            conn.execute("INSERT OR REPLACE INTO his_slots (slot_id, dept_code, atddr_no, dr_name, title, period,"
                         " fee, med_list_codg, capacity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (f"{dept['code']}-{n}", dept["code"], doctor["atddr_no"], doctor["name"], doctor["title"],
                          doctor.get("period", "上午"), doctor["fee"], doctor["med_list_codg"], doctor["slots"]))


class SandboxRegistration:
    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock, clock: Any = time.time) -> None:
        self._conn, self._lock, self._clock = conn, lock, clock
        self.lock_ttl_s = LOCK_TTL_S

    def _expire(self) -> None:
        self._conn.execute("UPDATE his_slot_locks SET state = 'expired' WHERE state = 'locked' AND expires < ?",
                           (self._clock(),))

    def _remaining(self, slot_id: str) -> int:
        row = self._conn.execute(
            "SELECT capacity - taken - (SELECT COUNT(*) FROM his_slot_locks l WHERE l.slot_id = s.slot_id AND"
            " l.state = 'locked') FROM his_slots s WHERE slot_id = ?", (slot_id,)).fetchone()
        return -1 if row is None else int(row[0])

    def departments(self) -> list[dict[str, Any]]:
        with self._lock:
            self._expire()
            rows = self._conn.execute("SELECT * FROM his_departments ORDER BY dept_code").fetchall()
            return [{**dict(r), "remaining": sum(max(0, self._remaining(s[0])) for s in self._conn.execute(
                "SELECT slot_id FROM his_slots WHERE dept_code = ?", (r["dept_code"],)))} for r in rows]

    def slots(self, dept_code: str) -> list[dict[str, Any]]:
        with self._lock:
            self._expire()
            rows = self._conn.execute("SELECT s.*, d.dept_name, d.caty FROM his_slots s JOIN his_departments d"
                                      " USING (dept_code) WHERE dept_code = ? ORDER BY slot_id", (dept_code,)).fetchall()
            return [{k: r[k] for k in ("slot_id", "dept_code", "dept_name", "caty", "atddr_no", "dr_name", "title",
                                       "period", "fee", "med_list_codg")} | {"remaining": max(0, self._remaining(r["slot_id"]))}
                    for r in rows]

    def lock_slot(self, slot_id: str, psn_no: str, terminal_no: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._expire()
            remaining = self._remaining(slot_id)
            if remaining < 0:
                return 404, {"code": "unknown_slot", "message": "no such slot"}
            if remaining == 0:
                return 409, {"code": "full", "message": "no slot left with this doctor today"}
            lock_id, now = f"L{secrets.token_hex(8)}", self._clock()
            self._conn.execute("INSERT INTO his_slot_locks (lock_id, slot_id, psn_no, terminal_no, created, expires,"
                               " state) VALUES (?, ?, ?, ?, ?, ?, 'locked')",
                               (lock_id, slot_id, psn_no, terminal_no, now, now + self.lock_ttl_s))
        return 200, {"code": "0", "lock_id": lock_id, "expires_in": self.lock_ttl_s}

    def release(self, lock_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            changed = self._conn.execute("UPDATE his_slot_locks SET state = 'released' WHERE lock_id = ? AND"
                                         " state IN ('locked', 'expired')", (lock_id,)).rowcount
        return (200, {"code": "0", "status": "released"}) if changed else (
            409, {"code": "not_locked", "message": "no such lock, or it was confirmed"})

    def confirm(self, lock_id: str, mdtrt_id: str, setl_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._expire()
            row = self._conn.execute("SELECT l.*, d.place FROM his_slot_locks l JOIN his_slots s USING (slot_id)"
                                     " JOIN his_departments d USING (dept_code) WHERE lock_id = ?", (lock_id,)).fetchone()
            if row is None or row["state"] not in ("locked", "confirmed"):
                return 409, {"code": "expired", "message": "the slot's lock ran out or was released"}
            if row["state"] == "confirmed":  # the same confirmation again (a retry): the same answer
                return 200, {"code": "0", "queue_no": row["queue_no"], "place": row["place"]}
            self._conn.execute("UPDATE his_slots SET taken = taken + 1 WHERE slot_id = ?", (row["slot_id"],))
            taken = self._conn.execute("SELECT taken FROM his_slots WHERE slot_id = ?", (row["slot_id"],)).fetchone()[0]
            queue_no = f"{row['slot_id'].split('-')[0][-2:]}{taken:03d}"
            self._conn.execute("UPDATE his_slot_locks SET state = 'confirmed', queue_no = ?, mdtrt_id = ?, setl_id = ?"
                               " WHERE lock_id = ?", (queue_no, mdtrt_id, setl_id, lock_id))
        return 200, {"code": "0", "queue_no": queue_no, "place": row["place"]}

    def locks(self, state: str = "") -> list[dict[str, Any]]:
        with self._lock:
            self._expire()
            rows = self._conn.execute("SELECT lock_id, slot_id, terminal_no, created, expires, state, queue_no FROM"
                                      " his_slot_locks WHERE ? = '' OR state = ? ORDER BY created", (state, state))
            return [dict(r) for r in rows]

    def confirmed_registrations(self) -> list[dict[str, Any]]:
        return self.locks("confirmed")

    # -- HTTP -------------------------------------------------------------------------------------------
    def handle_get(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
        if path == "/his/departments":
            return 200, dumps({"departments": self.departments()})
        if path == "/his/slots":
            return 200, dumps({"slots": self.slots(query.get("dept_code", ""))})
        if path == "/his/slot-locks":
            return 200, dumps({"locks": self.locks(query.get("state", ""))})
        return 404, b'{"error":"not found"}'

    def handle_post(self, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            req = json.loads(body)
            if not isinstance(req, dict):
                raise TypeError("a JSON object is expected")
            if path == "/his/slots/lock":
                status, answer = self.lock_slot(str(req["slot_id"]), str(req["psn_no"]), str(req.get("terminal_no", "")))
            elif path == "/his/slots/release":
                status, answer = self.release(str(req["lock_id"]))
            elif path == "/his/registrations/confirm":
                status, answer = self.confirm(str(req["lock_id"]), str(req.get("mdtrt_id", "")),
                                              str(req.get("setl_id", "")))
            elif path == "/admin/slots/lock-ttl":
                self.lock_ttl_s = float(req["seconds"])
                status, answer = 200, {"status": "set"}
            else:
                status, answer = 404, {"error": "not found"}
        except (ValueError, KeyError, TypeError) as exc:
            status, answer = 400, {"code": "bad_request", "message": str(exc)}
        return status, dumps(answer)
