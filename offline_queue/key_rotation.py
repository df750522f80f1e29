"""Replacing the keys that protect the data at rest without losing anything queued.

Per key file (the outbox's, the roster's), in an order that survives a crash at any point:

1. the next key is written beside the current one (``<key>.new``, mode 0600, fsynced); an interrupted
   earlier rotation's next key is reused, never replaced;
2. every sealed value is opened (with either key) and sealed again with the next key: the outbox's rows
   in one SQLite transaction, the roster in one atomic file replacement;
3. the next key takes the current one's name (``os.replace``, then the folder is fsynced).

Until step 3 the kiosk's cipher opens with both keys (``offline_queue.crypto.cipher_for``), so a crash
between 2 and 3 leaves every row readable, and running the rotation again finishes it. The kiosk must
not run meanwhile (it would seal new rows with the old key): the caller holds the instance lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from offline_queue.crypto import PayloadCipher, load_or_create_key, pending_key_path
from offline_queue.roster import FileRoster
from offline_queue.store import Store

SEALED_COLUMNS = ("payload", "result")  # the outbox's columns that hold sealed values


@dataclass(frozen=True)
class Rotated:
    what: str
    values: int  # sealed values re-sealed with the new key


def _both(key_file: Path) -> tuple[PayloadCipher, PayloadCipher]:
    """(opens with the current or the next key, seals with the next key)."""
    next_key = load_or_create_key(pending_key_path(key_file))
    return (PayloadCipher(load_or_create_key(key_file), also_opens=(next_key,)), PayloadCipher(next_key))


def _promote(key_file: Path) -> None:
    os.replace(pending_key_path(key_file), key_file)
    folder = os.open(key_file.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def rotate_outbox_key(store: Store, key_file: Path) -> Rotated:
    opener, sealer = _both(key_file)
    count = 0
    with store.lock:
        conn = store.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for column in SEALED_COLUMNS:
                rows = conn.execute(f"SELECT id, {column} FROM items WHERE {column} IS NOT NULL").fetchall()  # noqa: S608
                for item_id, sealed in rows:
                    resealed = sealer.seal(opener.open(sealed))
                    conn.execute(f"UPDATE items SET {column} = ? WHERE id = ?", (resealed, item_id))  # noqa: S608
                    count += 1
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    _promote(key_file)
    return Rotated("outbox", count)


def rotate_roster_key(roster: FileRoster) -> Rotated:
    if not roster.path.exists():
        if pending_key_path(roster.key_path).exists():
            _promote(roster.key_path)
        return Rotated("roster", 0)
    opener, sealer = _both(roster.key_path)
    plain = opener.open(roster.path.read_bytes())
    roster.replace_sealed(sealer.seal(plain))
    _promote(roster.key_path)
    return Rotated("roster", 1)
