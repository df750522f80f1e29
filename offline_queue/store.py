"""Opening the outbox database: durability pragmas and named, recorded migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from kiosk.errors import QueueError


def _m0001_initial(db: sqlite_utils.Database) -> None:
    db["items"].create({
        "id": int, "reference": str, "visit_id": str, "kind": str, "payload": bytes, "state": str,
        "attempts": int, "next_attempt_at": float, "lease_until": float, "error": str, "result": bytes,
        "created_at": float, "updated_at": float,
    }, pk="id", not_null={"reference", "visit_id", "kind", "payload", "state"}, defaults={"attempts": 0})
    db["items"].create_index(["reference"], unique=True)
    db["items"].create_index(["state", "next_attempt_at"])
    db["items"].create_index(["visit_id", "id"])
    db["msgid_seq"].create({"day": str, "value": int}, pk="day")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_initial", _m0001_initial),
]


class Store:
    """A sqlite-utils database plus the lock that serialises its use across worker threads."""

    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self.db = db
        self.path = path
        self.lock = threading.RLock()

    def close(self) -> None:
        with self.lock:
            self.db.conn.close()


def open_store(path: Path | str) -> Store:
    """Open or create the outbox file with WAL and ``synchronous=FULL``, then migrate."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        _migrate(db)
    except sqlite3.DatabaseError as exc:
        raise QueueError(f"outbox database {path} cannot be opened: {exc}") from None
    return Store(db, path)


def _migrate(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    applied = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    for name, migrate in MIGRATIONS:
        if name in applied:
            continue
        with db.conn:  # one transaction per migration, recorded with it
            db.execute("BEGIN")
            migrate(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
