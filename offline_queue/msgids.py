"""Message ids: institution code (12) + yyyyMMddHHmmss + a per-day 4-digit sequence kept in SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from kiosk.errors import QueueError

from offline_queue.store import Store


class SqliteMsgIdSource:
    def __init__(self, store: Store, institution_code: str,
                 clock: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        if len(institution_code) != 12:
            raise QueueError("institution code must be 12 characters for msgids")
        self._store, self._code, self._clock = store, institution_code, clock

    def next_msgid(self) -> str:
        """Committed before it is returned, so a restart never reuses a sequence number."""
        now = self._clock()
        day = now.strftime("%Y%m%d")
        with self._store.lock, self._store.db.conn:
            db = self._store.db
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT OR IGNORE INTO msgid_seq (day, value) VALUES (?, 0)", (day,))
            db.execute("UPDATE msgid_seq SET value = value + 1 WHERE day = ?", (day,))
            value = db.execute("SELECT value FROM msgid_seq WHERE day = ?", (day,)).fetchone()[0]
        if value > 9999:
            raise QueueError("more than 9999 messages today: the msgid sequence is exhausted")
        return f"{self._code}{now:%Y%m%d%H%M%S}{value:04d}"
