"""The durable outbox on SQLite (sqlite-utils): committed before acknowledged, delivered later."""

from offline_queue.msgids import SqliteMsgIdSource
from offline_queue.outbox import SqliteOutbox
from offline_queue.store import open_store

__all__ = ["SqliteOutbox", "SqliteMsgIdSource", "open_store"]
