"""The one bridge from workers to the GUI thread.

``TaskRunner.submit(lane, fn, on_done)`` runs ``fn`` on the lane's single
worker thread (one owning thread per device) and calls ``on_done(result)`` on
the GUI thread via a queued signal. ``post_to_gui`` does the same for library
callbacks (card monitor, scanners) at the boundary. Screens never create threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)


class TaskRunner(QObject):
    _delivered = Signal(object, object)  # callback, result

    def __init__(self, lanes: tuple[str, ...]) -> None:
        super().__init__()
        self._lanes = {name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lane-{name}") for name in lanes}
        self._delivered.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.busy = 0
        self.closed = False

    def submit(self, lane: str, fn: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        """Run ``fn`` on the lane's worker and ``on_done`` with its result on the GUI thread. After
        ``shutdown`` a late caller (a timer that fired while the window closed) is ignored, not raised."""
        if self.closed:
            log.debug("task for lane %s after shutdown: ignored", lane)
            return
        self.busy += 1

        def job() -> None:
            try:
                result = fn()
            except Exception:  # noqa: BLE001 - a worker never dies silently
                log.exception("task on lane %s failed", lane)
                result = None
            self._delivered.emit(on_done, result)

        self._lanes[lane].submit(job)

    def post_to_gui(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` on the GUI thread (safe from any thread)."""
        self.busy += 1
        self._delivered.emit(lambda _r: fn(), None)

    @Slot(object, object)
    def _deliver(self, callback: Callable[[Any], None], result: Any) -> None:
        self.busy -= 1
        callback(result)

    def shutdown(self) -> None:
        self.closed = True
        for executor in self._lanes.values():
            executor.shutdown(wait=True, cancel_futures=True)
