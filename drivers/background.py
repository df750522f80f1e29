"""The one shape of a device reader that owns a background thread: ``start()`` once, ``stop()`` (or
``close()``) from any thread, ``_run()`` loops until ``self._stop`` is set. ``DeviceReader`` adds the
device file that is reopened once a second while it is missing or unplugged."""

from __future__ import annotations

import logging
import os
import threading
from typing import Self

log = logging.getLogger(__name__)


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


class DeviceReader(BackgroundReader):
    what = "device"  # for log lines

    def __init__(self, device: str, thread_name: str) -> None:
        self._device = device
        self.connected = False
        self._missing_logged = False  # one warning per outage, not one a second
        super().__init__(thread_name)

    def _open_or_wait(self, flags: int) -> int | None:
        """The open device, or None after a second's wait when it is missing (said once an outage; the
        caller clears ``_missing_logged`` once the device is usable)."""
        try:
            return os.open(self._device, flags)
        except OSError as exc:
            if not self._missing_logged:
                log.warning("%s %s: %s", self.what, self._device, exc)
                self._missing_logged = True
            self.connected = False
            self._stop.wait(1.0)
            return None
