"""Opening the outbox database: durability pragmas and named, recorded migrations."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from kiosk.errors import QueueError

log = logging.getLogger(__name__)


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


def _m0002_retention(db: sqlite_utils.Database) -> None:
    """When an item finished (for retention) and how large its payload is (for the size bound)."""
    db["items"].add_column("finished_at", float)
    db["items"].add_column("size_bytes", int)
    db.execute("UPDATE items SET size_bytes = length(payload)")
    db.execute("UPDATE items SET finished_at = updated_at WHERE state IN ('done', 'failed')")
    db["items"].create_index(["finished_at"])


def _m0003_lean_indexes(db: sqlite_utils.Database) -> None:
    """Fewer pages written per commit: the drain's indexes hold open items only; pruning (hourly) scans."""
    db.execute("DROP INDEX IF EXISTS idx_items_finished_at")
    db.execute("DROP INDEX IF EXISTS idx_items_state_next_attempt_at")
    db.execute("DROP INDEX IF EXISTS idx_items_visit_id_id")
    db.execute("CREATE INDEX idx_items_due ON items (next_attempt_at) WHERE state IN ('pending', 'ambiguous')")
    db.execute("CREATE INDEX idx_items_open_visit ON items (visit_id, id)"
               " WHERE state IN ('pending', 'in_flight', 'ambiguous')")


def _m0004_lookup_by_id(db: sqlite_utils.Database) -> None:
    """A reference is ``Q<yyyymmdd><id>``: look items up by the id it carries, drain through the open index."""
    db.execute("DROP INDEX IF EXISTS idx_items_reference")
    db.execute("DROP INDEX IF EXISTS idx_items_due")


def _m0005_audit_chain(db: sqlite_utils.Database) -> None:
    """The audit hash chain's head (kiosk/audit_chain.py), moved in the same transaction as each event."""
    db.execute("CREATE TABLE audit_chain (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, head TEXT NOT NULL)")


def _m0006_open_visit(db: sqlite_utils.Database) -> None:
    """The visit on screen whose settlement is committed: kept until the patient has seen how it ended."""
    db.execute("CREATE TABLE open_visit (id INTEGER PRIMARY KEY CHECK (id = 1), visit_id TEXT NOT NULL,"
               " reference TEXT NOT NULL, at REAL NOT NULL)")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_initial", _m0001_initial),
    ("0002_retention", _m0002_retention),
    ("0003_lean_indexes", _m0003_lean_indexes),
    ("0004_lookup_by_id", _m0004_lookup_by_id),
    ("0005_audit_chain", _m0005_audit_chain),
    ("0006_open_visit", _m0006_open_visit),
]


class Store:
    """A sqlite-utils database plus the lock that serialises its use across worker threads.

    ``recovered_from`` names the corrupt file that was moved aside when this one was opened (staff must
    look at it: it may hold unsent settlements)."""

    def __init__(self, db: sqlite_utils.Database, path: Path, recovered_from: Path | None = None) -> None:
        self.db = db
        self.path = path
        self.lock = threading.RLock()
        self.recovered_from = recovered_from

    def close(self) -> None:
        with self.lock:
            self.db.conn.close()


BUSY_TIMEOUT_MS = 10_000  # how long a statement waits for another process's lock


def _open(path: Path) -> sqlite_utils.Database:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        db = sqlite_utils.Database(conn)
        # new files only (an existing file keeps its size): each commit appends whole pages to the WAL
        # and fsyncs them; with ~600-byte rows, 2 KiB pages halve the bytes per commit (measured +15 %)
        db.execute("PRAGMA page_size=2048")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("quick_check failed")
        _migrate(db)
        _extend_wal(db, path)
    except BaseException:
        conn.close()
        raise
    return db


WAL_EXTENT = 4 * 1024 * 1024  # about twice what the WAL reaches between auto-checkpoints (1000 pages of 2 KiB)


def _extend_wal(db: sqlite_utils.Database, path: Path) -> None:
    """Give the WAL file real, written blocks beyond its end, so that each commit's fdatasync overwrites
    allocated space instead of growing the file.

    On ext4 a commit that appends to the WAL also has to commit the journal (the file's new size and
    blocks): measured here 250-280 us per fdatasync against 120-170 us for an overwrite. SQLite deletes
    the WAL when the last connection closes, so a restarted kiosk paid the appending price for its first
    few hundred commits, i.e. for most commits of a normal day. The zeros are never read as frames
    (SQLite validates each frame's salt and checksum), and they are written under the write lock, past
    the file's end, so no other process's frames can be touched.

    Only a speed-up: when another process holds the write lock, or the disk has no room for the zeros,
    the store opens as it is (a busy lock must never look like a corrupt file to ``open_store``)."""
    wal = Path(str(path) + "-wal")
    if not wal.exists() or wal.stat().st_size >= WAL_EXTENT:
        return
    try:
        db.execute("PRAGMA busy_timeout = 0")
        with db.conn:
            db.execute("BEGIN IMMEDIATE")
            _write_zeros_to(wal, WAL_EXTENT)
    except (sqlite3.OperationalError, OSError) as exc:
        log.warning("outbox WAL not extended (%s): commits stay correct, only slower", exc)
    finally:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def _write_zeros_to(file: Path, extent: int) -> None:
    fd = os.open(file, os.O_WRONLY)
    try:
        size = os.fstat(fd).st_size
        chunk = b"\0" * (256 * 1024)
        while size < extent:
            size += os.pwrite(fd, chunk[:extent - size], size)
        os.fdatasync(fd)
    finally:
        os.close(fd)


def open_store(path: Path | str) -> Store:
    """Open or create the outbox file with WAL and ``synchronous=FULL``, then migrate.

    A corrupt file is moved aside (with its -wal and -shm) and a new one is started, so the kiosk keeps
    working; ``Store.recovered_from`` tells staff where the old one went. Raises QueueError when even a new
    file cannot be made (an unwritable or full disk).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return Store(_open(path), path)
    except sqlite3.DatabaseError as exc:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        log.critical("outbox %s is corrupt (%s): moved aside to %s; starting a new one", path, exc, aside)
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(path) + suffix)
            if source.exists():
                source.rename(Path(str(aside) + suffix))
    try:
        return Store(_open(path), path, recovered_from=aside)
    except sqlite3.Error as exc:
        raise QueueError(f"outbox database {path} cannot be created: {exc}") from None


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
