"""The outbox: enqueue (committed before acknowledged), leased delivery, retries with backoff.

States: ``pending`` -> ``in_flight`` (with a lease) -> ``done`` | ``pending`` (nothing
reached the gateway: retry later with the same msgids) | ``ambiguous`` (sent, no
answer: delivered again later through the handler, which resolves the unanswered
step before anything else, never by a blind resend) | ``failed`` (business
refusal: not retried) | ``needs_staff`` (a settlement sent without an answer that the gateway
will no longer reverse: staff look it up and record what they found, :meth:`SqliteOutbox.staff_finding`;
it still counts as open) | ``cancelled`` (the plan ended without settling and kept no
money: an unpaid order closed) | ``dead`` (the item cannot be read: staff must look).
A plan waiting on the patient's payment is held (``not_before``) until its deadline,
and goes back to ``pending`` with backoff while its payment is not known.
On open, an ``in_flight`` row whose lease expired (a crash mid-send) becomes
``ambiguous``. Items of one visit are delivered in order; visits do not block
each other. Payloads and results are encrypted at rest.

Thread-safety: every method may be called from any worker thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kiosk.errors import (
    GatewayBusinessError,
    GatewayNoAnswer,
    GatewayProtocolError,
    GatewayUnreachable,
    KioskError,
    ReversalRefused,
    PaymentPending,
    PlanCancelled,
    QueueError,
)
from kiosk.audit_chain import GENESIS, link
from kiosk.ports import Delivery

from offline_queue.crypto import PayloadCipher
from offline_queue.store import Store

log = logging.getLogger(__name__)

SaveProgress = Callable[[dict[str, Any]], None]
Handler = Callable[[dict[str, Any], SaveProgress], Mapping[str, Any]]
OPEN_STATES = ("pending", "in_flight", "ambiguous", "needs_staff")  # not finished (needs_staff waits on staff)
_OPEN_SQL = "(" + ", ".join(f"'{state}'" for state in OPEN_STATES) + ")"  # the same, inside SQL


def _item_id(reference: str) -> int:
    """``Q20261122000042`` -> 42 (the id follows the date); a malformed reference matches no item."""
    digits = reference[9:]
    return int(digits) if reference.startswith("Q") and digits.isdigit() else -1


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":")).encode("utf-8")


class SqliteOutbox:
    def __init__(
        self,
        store: Store,
        cipher: PayloadCipher,
        handler: Handler,
        *,
        lease_s: float = 120.0,
        max_open_items: int = 5000,
        retry_base_s: float = 2.0,
        retry_max_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        audit_signer: Callable[[bytes], str] | None = None,
    ) -> None:
        self._audit_signer = audit_signer  # the device key: signs each audit event's hash
        self._store, self._cipher, self._handler = store, cipher, handler
        self._lease_s, self._base, self._max = lease_s, retry_base_s, retry_max_s
        self._clock = clock
        self._max_open = max_open_items
        self._open_items = 0  # kept exact in this process; read from the file again at every drain
        self._next_id: int | None = None  # the next item id, read from the file on first use
        self._rng = rng or random.Random()
        self._recover()

    @property
    def _db(self) -> Any:
        return self._store.db

    def enqueue(self, *, visit_id: str, kind: str, payload: Mapping[str, Any], not_before: float | None = None,
                holds_visit: bool = False) -> str:
        """Commit the item (fsync'd: WAL + synchronous=FULL) and return its reference. ``not_before``: the
        drain leaves it alone until then (``deliver`` does not wait). ``holds_visit``: the settlement of
        the visit on screen, remembered in the same transaction until :meth:`visit_closed`."""
        now = self._clock()
        sealed = self._cipher.seal(_encode(dict(payload)))
        day = time.strftime("Q%Y%m%d", time.localtime(now))
        with self._new_item() as conn:
            if not holds_visit:
                # one statement, hence one transaction (autocommit), committed and fsync'd (WAL,
                # synchronous=FULL) when it returns; the id is the next after the file's largest
                reference = self._insert(conn, day, visit_id, kind, sealed, now, due=not_before)
            else:
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    reference = self._insert(conn, day, visit_id, kind, sealed, now, due=not_before)
                    conn.execute("INSERT OR REPLACE INTO open_visit VALUES (1, ?, ?, ?)", (visit_id, reference, now))
        log.info("outbox: committed %s (%s)", reference, kind)
        return reference

    def visit_closed(self, visit_id: str) -> None:
        with self._store.lock:
            self._db.execute("DELETE FROM open_visit WHERE visit_id = ?", (visit_id,))

    def interrupted_visit(self) -> tuple[str, str] | None:
        with self._store.lock:
            row = self._db.execute("SELECT visit_id, reference FROM open_visit WHERE id = 1").fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def item_state(self, reference: str) -> tuple[str, Mapping[str, Any] | None]:
        current = self._current(reference)
        return current.state, current.result

    @contextlib.contextmanager
    def _new_item(self) -> Iterator[Any]:
        """Around committing one new item: the store lock, the size bound (never grow without end while
        offline), database errors as QueueError (nothing was acknowledged), and the open-item count."""
        try:
            with self._store.lock:
                if self._open_items >= self._max_open:
                    raise QueueError(f"outbox full: {self._max_open} items not yet delivered")
                yield self._db.conn
        except QueueError:
            raise
        except Exception as exc:  # sqlite3.Error (disk full, I/O)
            raise QueueError(f"could not commit to the outbox: {exc}") from None
        self._open_items += 1

    def _insert(self, conn: Any, day: str, visit_id: str, kind: str, sealed: bytes, now: float,
                due: float | None = None) -> str:
        for _attempt in range(2):
            if self._next_id is None:
                self._next_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM items").fetchone()[0])
            item_id = self._next_id
            reference = f"{day}{item_id:06d}"
            try:
                conn.execute("INSERT INTO items (id, reference, visit_id, kind, payload, state, attempts,"
                             " next_attempt_at, created_at, updated_at, size_bytes)"
                             " VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)",
                             (item_id, reference, visit_id, kind, sealed, now if due is None else due, now, now,
                              len(sealed)))
            except sqlite3.IntegrityError:
                self._next_id = None  # another process wrote to this file: read the largest id again
                continue
            self._next_id = item_id + 1
            return reference
        raise QueueError("could not allocate an outbox id")

    def enqueue_chained(self, *, visit_id: str, kind: str, event: Mapping[str, Any]) -> str:
        """Commit an audit event linked into the hash chain; the chain head moves in the same transaction."""
        now = self._clock()
        day = time.strftime("Q%Y%m%d", time.localtime(now))
        with self._new_item() as conn, conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT seq, head FROM audit_chain WHERE id = 1").fetchone()
            seq, head = (row[0], row[1]) if row else (0, GENESIS)
            chained = link(event, head, seq + 1, self._audit_signer)
            reference = self._insert(conn, day, visit_id, kind, self._cipher.seal(_encode(chained)), now)
            conn.execute("INSERT INTO audit_chain (id, seq, head) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE"
                         " SET seq = excluded.seq, head = excluded.head", (seq + 1, chained["hash"]))
        return reference

    def deliver(self, reference: str) -> Delivery:
        row = self._claim(reference)
        if row is None:
            return self._current(reference)
        return self._attempt(row)

    def drain(self, limit: int = 50) -> list[Delivery]:
        """Deliver the items that are due, oldest first, one per visit at a time.

        Leases that expired since the last round (a delivering process died) become ambiguous first."""
        self._recover()
        now = self._clock()
        with self._store.lock:
            rows = self._db.execute(
                "SELECT reference FROM items i WHERE state IN ('pending', 'in_flight', 'ambiguous')"
                " AND state <> 'in_flight' AND next_attempt_at <= ? AND NOT EXISTS ("
                " SELECT 1 FROM items e WHERE e.visit_id = i.visit_id AND e.id < i.id AND e.state IN"
                " ('pending', 'in_flight', 'ambiguous')) ORDER BY id LIMIT ?", (now, limit)).fetchall()
        return [self.deliver(r[0]) for r in rows]

    def pending_count(self) -> int:
        """Items not yet settled (pending, in flight, ambiguous, or waiting on staff)."""
        with self._store.lock:
            return int(self._db.execute(
                f"SELECT COUNT(*) FROM items WHERE state IN {_OPEN_SQL}"
            ).fetchone()[0])

    def prune(self, keep_days: float) -> int:
        """Delete finished items (done, failed, cancelled) older than ``keep_days``; returns how many."""
        cutoff = self._clock() - keep_days * 86400
        with self._store.lock, self._db.conn:
            self._db.execute("BEGIN IMMEDIATE")
            cursor = self._db.execute("DELETE FROM items WHERE state IN ('done', 'failed', 'cancelled')"
                                      " AND finished_at < ?", (cutoff,))
        return int(cursor.rowcount)

    def items(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest items for the technician's view: state, attempts, last error; never the payload."""
        with self._store.lock:
            rows = self._db.execute(
                "SELECT reference, visit_id, kind, state, attempts, error, created_at, updated_at FROM items"
                " ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        keys = ("reference", "visit_id", "kind", "state", "attempts", "error", "created_at", "updated_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def retry_now(self, reference: str) -> str:
        """Make a pending or ambiguous item due at once (a technician's retry); returns its state."""
        with self._store.lock, self._db.conn:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT state FROM items WHERE id = ? AND reference = ?",
                                   (_item_id(reference), reference)).fetchone()
            if row is None:
                raise QueueError(f"no outbox item {reference}")
            if row[0] not in ("pending", "ambiguous"):
                raise QueueError(f"{reference} is {row[0]}: only pending or ambiguous items are retried")
            self._db.execute("UPDATE items SET next_attempt_at = ? WHERE id = ?", (self._clock(), _item_id(reference)))
        return str(row[0])

    def staff_finding(self, reference: str, record: Callable[[dict[str, Any]], str]) -> str:
        """Staff's answer for an item that ``needs_staff``: ``record(plan)`` writes what they found into the
        plan (raising KioskError when it does not hold) and returns a line for the log; the plan is saved and
        the item made due at once, so the next delivery finishes it through its handler."""
        with self._store.lock:
            row = self._db.execute("SELECT state, payload FROM items WHERE id = ? AND reference = ?",
                                   (_item_id(reference), reference)).fetchone()
        if row is None:
            raise QueueError(f"no outbox item {reference}")
        if row[0] != "needs_staff":
            raise QueueError(f"{reference} is {row[0]}: only items waiting on staff take a staff finding")
        plan = json.loads(self._cipher.open(row[1]))
        line = record(plan)
        sealed = self._cipher.seal(_encode(plan))
        with self._store.lock, self._db.conn:
            self._db.execute("BEGIN IMMEDIATE")
            changed = self._db.execute(
                "UPDATE items SET payload = ?, size_bytes = ?, state = 'pending', next_attempt_at = ?, error = ?,"
                " updated_at = ? WHERE id = ? AND state = 'needs_staff'",
                (sealed, len(sealed), self._clock(), f"staff: {line}", self._clock(), _item_id(reference))).rowcount
        if changed != 1:
            raise QueueError(f"{reference} changed while staff's finding was recorded: look again")
        log.warning("outbox: %s staff finding recorded: %s", reference, line)
        return line

    def oldest_open(self) -> dict[str, float]:
        """Creation time of the oldest item in each open state (for the metrics: how long things wait)."""
        with self._store.lock:
            return {r[0]: float(r[1]) for r in self._db.execute(
                f"SELECT state, MIN(created_at) FROM items WHERE state IN {_OPEN_SQL} GROUP BY state")}

    def counts(self) -> dict[str, int]:
        with self._store.lock:
            return {r[0]: r[1] for r in self._db.execute("SELECT state, COUNT(*) FROM items GROUP BY state")}

    def plans_between(self, since: float, until: float) -> list[tuple[str, str, dict[str, Any], Any]]:
        """(reference, state, plan, result) of every settlement plan committed in [since, until), for
        reconciliation; decrypted in memory, never written out."""
        with self._store.lock:
            rows = self._db.execute("SELECT reference, state, payload, result FROM items WHERE kind = 'settlement_plan'"
                                    " AND created_at >= ? AND created_at < ? ORDER BY id", (since, until)).fetchall()
        return [(r[0], r[1], json.loads(self._cipher.open(r[2])), json.loads(self._cipher.open(r[3])) if r[3] else None)
                for r in rows]

    def payload(self, reference: str) -> dict[str, Any]:
        with self._store.lock:
            row = self._db.execute("SELECT payload FROM items WHERE id = ? AND reference = ?",
                                   (_item_id(reference), reference)).fetchone()
        if row is None:
            raise QueueError(f"no outbox item {reference}")
        return dict(json.loads(self._cipher.open(row[0])))

    # -- internals ---------------------------------------------------------------------------------

    def reclaim_in_flight(self) -> int:
        """For the process holding the data folder's instance lock, at its start: only one kiosk runs on a
        folder, so every ``in_flight`` row was leased by a process that is gone (a crash, a power cut) and
        becomes ambiguous now, resolved by the sender at once, not when its lease would have run out (the
        patient of that visit may be standing at the kiosk). Other openers (provisioning commands) must not
        call it: a running kiosk's delivery would be taken from under it."""
        return self._recover(expired_only=False)

    def _recover(self, *, expired_only: bool = True) -> int:
        """Expired leases (or all, see :meth:`reclaim_in_flight`) become ambiguous; the count of open items
        (the size bound) is read afresh."""
        with self._store.lock, self._db.conn:
            self._db.execute("BEGIN IMMEDIATE")
            now = self._clock()
            leased_before = now if expired_only else float("inf")
            # reclaimed at the start: due now, also a plan held until its payment's deadline (delivering
            # it early only asks the payment provider; an order the patient may still pay stays open)
            due_by = float("inf") if expired_only else now
            cursor = self._db.execute(
                "UPDATE items SET state = 'ambiguous', error = 'interrupted while in flight', updated_at = ?,"
                " next_attempt_at = MIN(next_attempt_at, ?) WHERE state = 'in_flight' AND lease_until < ?",
                (now, due_by, leased_before))
            self._open_items = int(self._db.execute(
                f"SELECT COUNT(*) FROM items WHERE state IN {_OPEN_SQL}"
            ).fetchone()[0])
        if cursor.rowcount:
            log.warning("outbox: %d item(s) interrupted in flight are now ambiguous", cursor.rowcount)
        return int(cursor.rowcount)

    def _claim(self, reference: str) -> tuple[int, str, bytes] | None:
        now = self._clock()
        with self._store.lock, self._db.conn:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT id, reference, payload FROM items i WHERE id = ? AND reference = ?"
                " AND state IN ('pending', 'ambiguous') AND NOT EXISTS"
                " (SELECT 1 FROM items e WHERE e.visit_id = i.visit_id AND e.id < i.id AND e.state IN"
                " ('pending', 'in_flight', 'ambiguous'))", (_item_id(reference), reference)).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE items SET state = 'in_flight', lease_until = ?, attempts = attempts + 1,"
                             " updated_at = ? WHERE id = ?", (now + self._lease_s, now, row[0]))
        return row[0], row[1], row[2]

    def _attempt(self, row: tuple[int, str, bytes]) -> Delivery:
        item_id, reference, sealed = row
        try:
            payload = json.loads(self._cipher.open(sealed))
        except (QueueError, ValueError) as exc:
            self._update(item_id, state="dead", error=f"unreadable item: {exc}")
            return Delivery(reference, "dead", error=str(exc))

        def save_progress(updated: dict[str, Any]) -> None:
            sealed_update = self._cipher.seal(_encode(updated))
            self._update(item_id, payload=sealed_update, size_bytes=len(sealed_update))

        try:
            result = self._handler(payload, save_progress)
        except (GatewayUnreachable, PaymentPending) as exc:
            delay = self._backoff(item_id)
            self._update(item_id, state="pending", error=str(exc), next_attempt_at=self._clock() + delay)
            return Delivery(reference, "pending", error=str(exc))
        except ReversalRefused as exc:
            self._update(item_id, state="needs_staff", error=str(exc))
            log.error("outbox: %s handed to staff: %s", reference, exc)
            return Delivery(reference, "needs_staff", error=str(exc))
        except (GatewayNoAnswer, GatewayProtocolError) as exc:
            delay = self._backoff(item_id)
            self._update(item_id, state="ambiguous", error=str(exc), next_attempt_at=self._clock() + delay)
            return Delivery(reference, "ambiguous", error=str(exc))
        except PlanCancelled as exc:
            self._update(item_id, state="cancelled", error=str(exc), finished_at=self._clock())
            return Delivery(reference, "cancelled", error=str(exc))
        except GatewayBusinessError as exc:
            self._update(item_id, state="failed", error=exc.err_msg or str(exc), finished_at=self._clock())
            return Delivery(reference, "failed", error=exc.err_msg or str(exc))
        except KioskError as exc:
            self._update(item_id, state="pending", error=str(exc), next_attempt_at=self._clock() + self._max)
            return Delivery(reference, "pending", error=str(exc))
        self._update(item_id, state="done", error="", result=self._cipher.seal(_encode(dict(result))),
                     finished_at=self._clock())
        return Delivery(reference, "done", result=result)

    def _backoff(self, item_id: int) -> float:
        with self._store.lock:
            attempts = int(self._db.execute("SELECT attempts FROM items WHERE id = ?", (item_id,)).fetchone()[0])
        delay = min(self._max, self._base * 2 ** max(0, attempts - 1))
        return float(delay * (0.5 + self._rng.random() / 2))  # "equal jitter"

    def _update(self, item_id: int, **changes: Any) -> None:
        if changes.get("state") in ("done", "failed", "cancelled", "dead"):
            self._open_items -= 1  # only open (claimed) items reach these states
        changes["updated_at"] = self._clock()
        columns = ", ".join(f"{k} = ?" for k in changes)
        with self._store.lock, self._db.conn:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(f"UPDATE items SET {columns} WHERE id = ?", (*changes.values(), item_id))

    def _current(self, reference: str) -> Delivery:
        with self._store.lock:
            row = self._db.execute("SELECT state, error, result FROM items WHERE id = ? AND reference = ?",
                                   (_item_id(reference), reference)).fetchone()
        if row is None:
            raise QueueError(f"no outbox item {reference}")
        result = json.loads(self._cipher.open(row[2])) if row[2] else None
        return Delivery(reference, row[0], result=result, error=row[1] or "")
