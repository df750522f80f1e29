"""The sandbox's payment platform: orders, payment codes, QR payments, refunds and notifications with
the real states and faults, served by the sandbox gateway under ``/pay/`` (loopback only).

States: NOTPAY -> USERPAYING (the patient confirms in the app) -> SUCCESS -> REFUND; NOTPAY or
USERPAYING -> CLOSED (closed by the kiosk, or cancelled by the patient in the app).
Faults (``/admin/pay/faults``, queued or at random, like the gateway's):
- ``late``: the payment waits in USERPAYING for ``delay_s``, then succeeds (late confirmation);
- ``user_cancel``: USERPAYING, then the patient cancels in the app: CLOSED, nothing taken;
- ``lost_notify`` / ``dup_notify``: the payment's notification is never sent / sent twice;
- ``timeout``: the request is processed and its answer lost (the connection is dropped);
- ``unavailable``: HTTP 503, nothing processed;
- ``refund_refused``: the next refund is refused once (a later try with the same number succeeds);
- ``refund_pending``: the next refund is accepted as PROCESSING and completes on the next call with its number.
Every request and answer is signed (``signing.py``); a request with a wrong signature is refused.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from drivers.payment.signing import signed, verify
from kiosk.payment import CLOSED, NOT_PAID, PAID, PAYING, REFUNDED, payment_code_wallet

SCHEMA = """
CREATE TABLE IF NOT EXISTS pay_orders (
    order_no TEXT PRIMARY KEY, amount TEXT NOT NULL, subject TEXT, state TEXT NOT NULL, trade_no TEXT,
    method TEXT, created REAL NOT NULL, day TEXT NOT NULL, changes_at REAL, changes_to TEXT, notify TEXT);
CREATE TABLE IF NOT EXISTS pay_refunds (
    refund_no TEXT PRIMARY KEY, order_no TEXT NOT NULL, amount TEXT NOT NULL, created REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'SUCCESS');
CREATE TABLE IF NOT EXISTS pay_notifications (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pay_refusals (refund_no TEXT PRIMARY KEY);
"""

KINDS = ("late", "user_cancel", "lost_notify", "dup_notify", "timeout", "unavailable", "refund_refused",
         "refund_pending")
_APPLIES = {  # which faults each operation can meet
    "micropay": {"late", "user_cancel", "lost_notify", "dup_notify", "timeout", "unavailable"},
    "scan": {"late", "user_cancel", "lost_notify", "dup_notify"},
    "refund": {"refund_refused", "refund_pending", "timeout", "unavailable"},
    "create": {"timeout", "unavailable"},
    "query": {"timeout", "unavailable"},
    "close": {"timeout", "unavailable"},
}


class PaymentFaults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[tuple[str, float]] = deque()
        self._rate, self._kinds, self._delay = 0.0, KINDS, 2.0
        self._rng = random.Random(0)
        self.injected: dict[str, int] = {}

    def push(self, kind: str, delay_s: float = 2.0) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown payment fault {kind!r}; known: {', '.join(KINDS)}")
        with self._lock:
            self._queue.append((kind, delay_s))

    def set_random(self, rate: float, kinds: tuple[str, ...] = KINDS, seed: int = 0, delay_s: float = 2.0) -> None:
        if set(kinds) - set(KINDS) or not 0 <= rate <= 1:
            raise ValueError(f"bad random payment faults: rate {rate}, kinds {kinds}")
        with self._lock:
            self._rate, self._kinds, self._rng, self._delay = rate, tuple(kinds), random.Random(seed), delay_s

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._rate = 0.0

    def take(self, op: str) -> tuple[str, float] | None:
        applicable = _APPLIES.get(op, set())
        with self._lock:
            for fault in list(self._queue):
                if fault[0] in applicable:
                    self._queue.remove(fault)
                    return self._count(fault)
            usable = [k for k in self._kinds if k in applicable]
            if self._rate and usable and self._rng.random() < self._rate:
                return self._count((self._rng.choice(usable), self._delay))
        return None

    def _count(self, fault: tuple[str, float]) -> tuple[str, float]:
        self.injected[fault[0]] = self.injected.get(fault[0], 0) + 1
        return fault


class Declined(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def _money(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise Declined("PARAM_ERROR", f"amount {value!r} is not a number") from None
    if amount <= 0:
        raise Declined("PARAM_ERROR", "amount must be positive")
    return amount


class SandboxPaymentProvider:
    """One merchant. Called by the sandbox's HTTP handler (``handle``) and by tests (the other methods)."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock, key: bytes, merchant_id: str = "1900000109",
                 clock: Callable[[], float] = time.time) -> None:
        self._conn, self._lock, self.key, self.merchant_id, self._clock = conn, lock, key, merchant_id, clock
        conn.executescript(SCHEMA)
        self.faults = PaymentFaults()

    # -- HTTP ----------------------------------------------------------------------------------------

    def handle(self, op: str, body: bytes) -> tuple[int, bytes, bool]:
        """(HTTP status, body, drop the connection instead of answering)."""
        try:
            request = json.loads(body)
            if not isinstance(request, dict) or not verify(request, self.key):
                return 200, self._answer({"return_code": "FAIL", "return_msg": "sign error"}), False
            if request.get("mch_id") != self.merchant_id:
                return 200, self._answer({"return_code": "FAIL", "return_msg": "unknown mch_id"}), False
        except ValueError:
            return 400, b'{"return_code":"FAIL","return_msg":"not JSON"}', False
        fault = self.faults.take(op)
        if fault and fault[0] == "unavailable":
            return 503, b"<html>payment platform unavailable</html>", False
        try:
            fields = self._operation(op, request, fault)
            answer = {"return_code": "SUCCESS", "result_code": "SUCCESS", **fields}
        except Declined as exc:
            answer = {"return_code": "SUCCESS", "result_code": "FAIL", "err_code": exc.code, "err_code_des": exc.text}
        except KeyError as exc:
            answer = {"return_code": "FAIL", "return_msg": f"missing field {exc}"}
        return 200, self._answer(answer), bool(fault and fault[0] == "timeout")

    def _answer(self, fields: dict[str, Any]) -> bytes:
        fields = {k: str(v) for k, v in fields.items()}
        fields["nonce_str"] = secrets.token_hex(8)
        return json.dumps(signed(fields, self.key), ensure_ascii=False).encode("utf-8")

    def _operation(self, op: str, req: dict[str, Any], fault: tuple[str, float] | None) -> dict[str, Any]:
        if op == "create":
            return self.create(req["out_trade_no"], _money(req["total_fee"]), req.get("body", ""))
        if op == "micropay":
            return self.pay(req["out_trade_no"], _money(req["total_fee"]), auth_code=req["auth_code"], fault=fault)
        if op == "query":
            return self.query(req["out_trade_no"])
        if op == "close":
            return self.close(req["out_trade_no"])
        if op == "refund":
            return self.refund(req["out_trade_no"], req["out_refund_no"], _money(req["refund_fee"]), fault=fault)
        if op == "notifications":
            return {"items": json.dumps(self.notifications(int(req.get("after", 0))))}
        if op == "bill":
            return {"items": json.dumps(self.bill(req["bill_date"]))}
        raise Declined("NOT_FOUND", f"no operation {op}")

    # -- operations ------------------------------------------------------------------------------------

    def create(self, order_no: str, amount: Decimal, subject: str) -> dict[str, Any]:
        with self._lock:
            self._create(order_no, amount, subject)
        return {"out_trade_no": order_no, "code_url": f"weixin://wxpay/bizpayurl?pr={order_no[-12:]}{secrets.token_hex(3)}"}

    def pay(self, order_no: str, amount: Decimal, *, auth_code: str = "", wallet: str = "",
            fault: tuple[str, float] | None = None) -> dict[str, Any]:
        """A payment code charged by the kiosk (``auth_code``) or the patient's phone scanning the QR code."""
        if auth_code:
            wallet = payment_code_wallet(auth_code) or ""
            if not wallet:
                raise Declined("AUTH_CODE_INVALID", "not a payment code")
            if auth_code.endswith("0000"):
                raise Declined("NOTENOUGH", "the balance is not enough")
            if auth_code.endswith("0001"):
                raise Declined("AUTH_CODE_EXPIRE", "the payment code has expired; refresh it")
        with self._lock:
            row = self._advance(order_no)
            if row is None:  # an aggregator creates the order with its first payment
                row = self._create(order_no, amount, "")
            if Decimal(row["amount"]) != amount:
                raise Declined("INVALID_REQUEST", "the amount differs from the order's")
            if row["state"] in (PAID, PAYING, REFUNDED):
                return self._status(row)
            if row["state"] == CLOSED:
                raise Declined("ORDERCLOSED", f"order {order_no} is closed")
            kind = fault[0] if fault else ""
            notify = {"lost_notify": "lost", "dup_notify": "twice"}.get(kind, "once")
            trade_no = "4200" + time.strftime("%Y%m%d") + f"{secrets.randbelow(10**16):016d}"
            if kind in ("late", "user_cancel"):
                self._conn.execute("UPDATE pay_orders SET state = ?, method = ?, trade_no = ?, changes_at = ?,"
                                   " changes_to = ?, notify = ? WHERE order_no = ?",
                                   (PAYING, wallet, trade_no, self._clock() + fault[1],  # type: ignore[index]
                                    PAID if kind == "late" else CLOSED, notify, order_no))
            else:
                self._conn.execute("UPDATE pay_orders SET state = ?, method = ?, trade_no = ?, notify = ?"
                                   " WHERE order_no = ?", (PAID, wallet, trade_no, notify, order_no))
                self._notify(order_no)
            return self._status(self._row(order_no))

    def scan(self, order_no: str, wallet: str = "wechat") -> dict[str, Any]:
        """The patient's phone scans the order's QR code and pays it (the demo's and the tests' patient)."""
        with self._lock:
            row = self._row(order_no)
        if row is None:
            raise Declined("ORDERNOTEXIST", f"no order {order_no}")
        return self.pay(order_no, Decimal(row["amount"]), wallet=wallet, fault=self.faults.take("scan"))

    def query(self, order_no: str) -> dict[str, Any]:
        with self._lock:
            row = self._advance(order_no)
            if row is None:
                raise Declined("ORDERNOTEXIST", f"no order {order_no}")
            return self._status(row)

    def close(self, order_no: str) -> dict[str, Any]:
        with self._lock:
            row = self._advance(order_no)
            if row is None:  # a tombstone: a late create with this number is refused
                self._conn.execute("INSERT INTO pay_orders (order_no, amount, state, created, day) VALUES (?, '0', ?, ?, ?)",
                                   (order_no, CLOSED, self._clock(), time.strftime("%Y-%m-%d")))
            elif row["state"] in (NOT_PAID, PAYING):
                self._conn.execute("UPDATE pay_orders SET state = ?, changes_at = NULL WHERE order_no = ?",
                                   (CLOSED, order_no))
            return self._status(self._row(order_no))

    def refund(self, order_no: str, refund_no: str, amount: Decimal, fault: tuple[str, float] | None = None
               ) -> dict[str, Any]:
        with self._lock:
            done = self._conn.execute("SELECT * FROM pay_refunds WHERE refund_no = ?", (refund_no,)).fetchone()
            if done is not None:  # the same refund number again: no second refund; a pending one completes
                if done["state"] == "PROCESSING":
                    self._conn.execute("UPDATE pay_refunds SET state = 'SUCCESS' WHERE refund_no = ?", (refund_no,))
                    self._conn.execute("UPDATE pay_orders SET state = ? WHERE order_no = ?", (REFUNDED, order_no))
                return {"out_refund_no": refund_no, "refund_status": "SUCCESS", "refund_fee": done["amount"]}
            row = self._advance(order_no)
            if row is None or row["state"] != PAID:
                raise Declined("ORDER_NOT_PAID", f"order {order_no} is {row['state'] if row else 'unknown'}: "
                                                 "nothing to refund")
            if Decimal(row["amount"]) < amount:
                raise Declined("INVALID_REQUEST", "refund larger than the payment")
            if fault and fault[0] == "refund_refused" or self._refuse_once(refund_no):
                raise Declined("SYSTEMERROR", "refund refused, please try again later")
            pending = bool(fault and fault[0] == "refund_pending")
            state = "PROCESSING" if pending else "SUCCESS"
            self._conn.execute("INSERT INTO pay_refunds VALUES (?, ?, ?, ?, ?)", (refund_no, order_no, str(amount),
                                                                                 self._clock(), state))
            if not pending:
                self._conn.execute("UPDATE pay_orders SET state = ? WHERE order_no = ?", (REFUNDED, order_no))
            return {"out_refund_no": refund_no, "refund_status": state, "refund_fee": str(amount)}

    def refuse_next_refund(self, refund_no: str) -> None:
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO pay_refusals VALUES (?)", (refund_no,))

    def notifications(self, after: int) -> list[dict[str, Any]]:
        with self._lock:
            for row in self._conn.execute("SELECT order_no FROM pay_orders WHERE state = ? AND changes_at <= ?",
                                          (PAYING, self._clock())).fetchall():
                self._advance(row["order_no"])
            rows = self._conn.execute("SELECT seq, body FROM pay_notifications WHERE seq > ? ORDER BY seq LIMIT 100",
                                      (after,)).fetchall()
        return [{"seq": r["seq"], **json.loads(r["body"])} for r in rows]

    def bill(self, day: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT order_no FROM pay_orders WHERE day = ? ORDER BY created", (day,)).fetchall()
            return [self._status(self._advance(r["order_no"])) for r in rows]

    def orders(self) -> list[dict[str, Any]]:
        """The ledger for tests and the chaos bench: every order with its refunds."""
        with self._lock:
            rows = [dict(r) for r in self._conn.execute("SELECT * FROM pay_orders ORDER BY created")]
            refunds = [dict(r) for r in self._conn.execute("SELECT * FROM pay_refunds")]
        for row in rows:
            row["refunds"] = [r for r in refunds if r["order_no"] == row["order_no"]]
        return rows

    # -- internals (under the lock) ---------------------------------------------------------------------

    def _create(self, order_no: str, amount: Decimal, subject: str) -> sqlite3.Row:
        row = self._row(order_no)
        if row is None:
            now = self._clock()
            self._conn.execute("INSERT INTO pay_orders (order_no, amount, subject, state, created, day)"
                               " VALUES (?, ?, ?, ?, ?, ?)", (order_no, str(amount), subject, NOT_PAID, now,
                                                              time.strftime("%Y-%m-%d", time.localtime(now))))
            return self._row(order_no)
        if row["state"] == CLOSED:
            raise Declined("ORDERCLOSED", f"order {order_no} is closed")
        if Decimal(row["amount"]) != amount:
            raise Declined("INVALID_REQUEST", f"order {order_no} exists with another amount")
        return row

    def _row(self, order_no: str) -> sqlite3.Row | None:
        return self._conn.execute("SELECT * FROM pay_orders WHERE order_no = ?", (order_no,)).fetchone()

    def _advance(self, order_no: str) -> sqlite3.Row | None:
        """Apply a pending change (late confirmation, cancel in the app) whose time has come."""
        row = self._row(order_no)
        if row is not None and row["state"] == PAYING and row["changes_at"] is not None and \
                row["changes_at"] <= self._clock():
            self._conn.execute("UPDATE pay_orders SET state = changes_to, changes_at = NULL WHERE order_no = ?",
                               (order_no,))
            if row["changes_to"] == PAID:
                self._notify(order_no)
            row = self._row(order_no)
        return row

    def _notify(self, order_no: str) -> None:
        row = self._row(order_no)
        if row["notify"] == "lost":
            return
        body = json.dumps(signed({k: str(v) for k, v in self._status(row).items()}, self.key))
        for _ in range(2 if row["notify"] == "twice" else 1):
            self._conn.execute("INSERT INTO pay_notifications (body) VALUES (?)", (body,))

    def _refuse_once(self, refund_no: str) -> bool:
        return self._conn.execute("DELETE FROM pay_refusals WHERE refund_no = ?", (refund_no,)).rowcount > 0

    @staticmethod
    def _status(row: sqlite3.Row) -> dict[str, Any]:
        return {"out_trade_no": row["order_no"], "trade_state": row["state"], "total_fee": row["amount"],
                "transaction_id": row["trade_no"] or "", "trade_type": row["method"] or ""}
