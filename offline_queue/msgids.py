"""Message ids: institution code (12) + yyyyMMddHHmmss + a per-day 4-digit sequence kept in SQLite.

The sequence counts 0001..9999 and then starts again at 0001. A msgid stays unique because the time is
part of it: two could only meet if 9999 messages left one terminal within one second (the outbox replays
a few hundred a second at most). Stopping at 9999 instead would stop a busy kiosk from settling for the
rest of the day (bench/chaos.py's 1000 visits with refusals and retries send more than 10 000).

Several terminals of one hospital share its institution code, so two of them could send the same msgid
in the same second. A terminal given a ``lane`` (one digit, ``terminal.msgid_lane``, different on each)
puts it first in the sequence and counts 001..999 after it: msgids of different lanes never meet, and
one lane's stay unique below 999 messages a second."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from kiosk.errors import QueueError

from offline_queue.store import Store


SEQUENCE_SPAN = 9999
LANE_SPAN = 999


class SqliteMsgIdSource:
    def __init__(self, store: Store, institution_code: str,
                 clock: Callable[[], dt.datetime] = dt.datetime.now, *, lane: str = "") -> None:
        if len(institution_code) != 12:
            raise QueueError("institution code must be 12 characters for msgids")
        if lane and not (len(lane) == 1 and lane.isdigit()):
            raise QueueError(f"msgid lane must be one digit or empty, not {lane!r}")
        self._store, self._code, self._clock, self._lane = store, institution_code, clock, lane

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
        if self._lane:
            return f"{self._code}{now:%Y%m%d%H%M%S}{self._lane}{(value - 1) % LANE_SPAN + 1:03d}"
        return f"{self._code}{now:%Y%m%d%H%M%S}{(value - 1) % SEQUENCE_SPAN + 1:04d}"
