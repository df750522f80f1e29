"""Hash chain over audit events: a removed, reordered or altered event breaks verification at that event.

Each event carries ``seq`` (1, 2, ...), ``prev`` (the previous event's hash, GENESIS for the first),
``hash`` = SHA-256 over ``prev`` and the event's canonical JSON (sorted keys, without ``hash`` and
``sig``), and ``sig``: the device key's signature of ``hash``. A plain hash chain alone can be recomputed
by whoever holds the database after rewriting an event; the signature cannot be made without the device
key, which is kept apart from the data (offline_queue/keys.py). The chain head is kept by the outbox in
the same transaction as the event (offline_queue/outbox.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

GENESIS = "0" * 64


def _digest(prev: str, event: Mapping[str, Any]) -> str:
    body = {k: v for k, v in event.items() if k not in ("hash", "sig")}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(prev.encode("ascii") + canonical.encode("utf-8")).hexdigest()


Signer = Callable[[bytes], str]
SignatureCheck = Callable[[bytes, str], bool]


def link(event: Mapping[str, Any], prev: str, seq: int, sign: Signer | None = None) -> dict[str, Any]:
    chained = {k: v for k, v in event.items() if k != "sig"}
    chained.update(seq=seq, prev=prev)
    chained["hash"] = _digest(prev, chained)
    if sign is not None:
        chained["sig"] = sign(chained["hash"].encode("ascii"))
    return chained


def verify(events: Sequence[Mapping[str, Any]], *, check: SignatureCheck | None = None, start: str = GENESIS,
           first_seq: int = 1) -> int | None:
    """Index of the first event that does not verify (altered, missing before it, reordered, or, with
    ``check`` (the device's public key), unsigned or signed by another key), or None."""
    prev, seq = start, first_seq
    for index, event in enumerate(events):
        if event.get("seq") != seq or event.get("prev") != prev or event.get("hash") != _digest(prev, event):
            return index
        if check is not None and not check(str(event["hash"]).encode("ascii"), str(event.get("sig", ""))):
            return index
        prev, seq = str(event["hash"]), seq + 1
    return None
