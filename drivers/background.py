"""The one shape of a device reader that owns a background thread: ``start()`` once, ``stop()`` (or
``close()``) from any thread, ``_run()`` loops until ``self._stop`` is set."""

from __future__ import annotations

import threading
from typing import Self


class BackgroundReader:
    def __init__(self, thread_name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def start(self) -> Self:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3)

    def close(self) -> None:
        self.stop()

    def _run(self) -> None:
        raise NotImplementedError
