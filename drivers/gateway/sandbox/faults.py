"""Faults the sandbox injects into its answers, switchable per request (tests) or at random (chaos).

Kinds:
- ``drop_before``: the request is read, nothing is processed, the connection is closed.
- ``drop_after``: the request is processed and committed, the connection is closed: a lost answer.
- ``delay``: processed and committed, answered after ``delay_s`` (longer than the client waits).
- ``http500`` / ``http502``: not processed, an HTTP error.
- ``malformed``: processed and committed, then garbage instead of JSON.
- ``business``: not processed, ``infcode`` -1 with a business message.
- ``refuse``: not processed; the connection is closed and the sandbox stops listening for ``delay_s``,
  so the client's next connections are refused by the kernel (ECONNREFUSED), as when the gateway host
  or the hospital's link goes down (random mode: ``refuse_s``). ``SandboxGateway.refuse_connections``
  does it without a request.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass

KINDS = ("drop_before", "drop_after", "delay", "http500", "http502", "malformed", "business", "refuse")
PROCESSED_FIRST = {"drop_after", "delay", "malformed"}


@dataclass(frozen=True)
class Fault:
    kind: str
    infno: str = ""  # only for this transaction code; "" for any
    delay_s: float = 3.0


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()
        self._rate = 0.0
        self._kinds: tuple[str, ...] = KINDS
        self._infnos: frozenset[str] = frozenset()
        self._rng = random.Random(0)
        self._delay_s = 3.0
        self._refuse_s = 0.5
        self.injected: dict[str, int] = {}

    def push(self, fault: Fault) -> None:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault {fault.kind!r}; known: {', '.join(KINDS)}")
        with self._lock:
            self._queue.append(fault)

    def set_random(self, rate: float, *, kinds: tuple[str, ...] = KINDS, infnos: tuple[str, ...] = (),
                   seed: int = 0, delay_s: float = 3.0, refuse_s: float = 0.5) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown or not 0 <= rate <= 1:
            raise ValueError(f"bad random faults: rate {rate}, unknown kinds {sorted(unknown)}")
        with self._lock:
            self._rate, self._kinds, self._infnos = rate, tuple(kinds), frozenset(infnos)
            self._rng, self._delay_s, self._refuse_s = random.Random(seed), delay_s, refuse_s

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._rate = 0.0

    def take(self, infno: str) -> Fault | None:
        """The fault for this request, if any (queued faults first, then the random mode)."""
        with self._lock:
            for fault in list(self._queue):
                if not fault.infno or fault.infno == infno:
                    self._queue.remove(fault)
                    return self._count(fault)
            if self._rate and (not self._infnos or infno in self._infnos) and self._rng.random() < self._rate:
                kind = self._rng.choice(self._kinds)
                return self._count(Fault(kind, delay_s=self._refuse_s if kind == "refuse" else self._delay_s))
        return None

    def _count(self, fault: Fault) -> Fault:
        self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
        return fault
