"""The outbox sender: one background thread that drains due items and probes connectivity."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from offline_queue.outbox import SqliteOutbox

log = logging.getLogger(__name__)


class OutboxSender:
    """Drains the outbox every ``interval_s`` while ``probe()`` says the gateway is reachable."""

    def __init__(self, outbox: SqliteOutbox, probe: Callable[[], bool], interval_s: float = 5.0,
                 keep_days: float = 90.0, prune_every_s: float = 3600.0,
                 daily: Callable[[dt.datetime], object] | None = None) -> None:
        self._outbox, self._probe, self._interval = outbox, probe, interval_s
        self._daily = daily  # the day's reconciliation: it decides itself whether it is due
        self._keep_days, self._prune_every = keep_days, prune_every_s
        self._last_prune = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self.online: bool | None = None  # None until the first probe has answered

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if time.monotonic() - self._last_prune > self._prune_every:
                    self._last_prune = time.monotonic()
                    pruned = self._outbox.prune(self._keep_days)
                    if pruned:
                        log.info("outbox: pruned %d finished items older than %s days", pruned, self._keep_days)
                self.online = self._probe()
                if self.online and self._outbox.pending_count():
                    for delivery in self._outbox.drain():
                        log.info("outbox: %s -> %s", delivery.reference, delivery.state)
                if self.online and self._daily is not None:
                    self._daily(dt.datetime.now())
            except Exception:  # noqa: BLE001 - the sender must survive anything and try again
                log.exception("outbox sender round failed")
            self._wake.wait(self._interval)
            self._wake.clear()
