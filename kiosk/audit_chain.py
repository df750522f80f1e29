"""Hash chain over audit events: a removed, reordered or altered event breaks verification at that event.

Each event carries ``seq`` (1, 2, ...), ``prev`` (the previous event's hash, GENESIS for the first) and
``hash`` = SHA-256 over ``prev`` and the event's canonical JSON (sorted keys, without ``hash``). The
chain head is kept by the outbox in the same transaction as the event (offline_queue/outbox.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

GENESIS = "0" * 64


def _digest(prev: str, event: Mapping[str, Any]) -> str:
    body = {k: v for k, v in event.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(prev.encode("ascii") + canonical.encode("utf-8")).hexdigest()


def link(event: Mapping[str, Any], prev: str, seq: int) -> dict[str, Any]:
    chained = {**event, "seq": seq, "prev": prev}
    chained["hash"] = _digest(prev, chained)
    return chained


def verify(events: Sequence[Mapping[str, Any]], *, start: str = GENESIS, first_seq: int = 1) -> int | None:
    """Index of the first event that does not verify (altered, missing before it, reordered), or None."""
    prev, seq = start, first_seq
    for index, event in enumerate(events):
        if event.get("seq") != seq or event.get("prev") != prev or event.get("hash") != _digest(prev, event):
            return index
        prev, seq = str(event["hash"]), seq + 1
    return None
