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
        self.missing = threading.Event()  # set once an open has failed (the device absent or unplugged)
        self._opened = threading.Condition()
        self.opens = 0  # how many times the device has been opened and set up (ready to read)
        super().__init__(thread_name)

    def wait_opens(self, count: int, timeout_s: float) -> bool:
        """Wait until the device has been made ready ``count`` times (tests, supervisors); False on timeout."""
        with self._opened:
            return self._opened.wait_for(lambda: self.opens >= count, timeout=timeout_s)

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
            self.missing.set()
            self._stop.wait(1.0)
            return None

    def _ready(self) -> None:
        """The subclass has set the opened device up (a serial line's raw mode flushes what came before):
        from now on what arrives is read."""
        with self._opened:
            self.connected, self._missing_logged = True, False
            self.opens += 1
            self._opened.notify_all()
