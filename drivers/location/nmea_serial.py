"""NMEA 0183 from a serial receiver (a tty; tested through a pseudo-terminal), read on a background thread."""

from __future__ import annotations

import logging
import os
import termios
import threading
import time
import tty
from collections.abc import Callable

from kiosk.ports import PositionReading

from drivers.background import BackgroundReader
from drivers.location.nmea import FixState

log = logging.getLogger(__name__)

BAUD = {4800: termios.B4800, 9600: termios.B9600, 38400: termios.B38400, 115200: termios.B115200}


class NmeaSerialLocation(BackgroundReader):
    def __init__(self, device: str, baud: int = 9600, *, clock: Callable[[], float] = time.monotonic,
                 uere_m: float = 19.0) -> None:
        if baud not in BAUD:
            raise ValueError(f"unsupported baud rate {baud} (use one of {sorted(BAUD)})")
        self.description = f"NMEA {device} @{baud}"
        self._device, self._baud, self._clock = device, baud, clock
        self._state = FixState(uere_m=uere_m)
        self._received = 0.0
        self._open = False
        self._lock = threading.Lock()
        super().__init__("nmea-serial")

    @property
    def healthy(self) -> bool:
        return self._open

    @property
    def rejected_sentences(self) -> int:
        return self._state.rejected

    def current(self) -> PositionReading | None:
        with self._lock:
            if not self._open or self._received == 0.0:
                return None
            s = self._state
            return PositionReading(latitude=s.latitude, longitude=s.longitude, mode=s.effective_mode,
                                   accuracy_m=s.accuracy_m, age_s=self._clock() - self._received, source="nmea",
                                   fix_time=s.fix_time)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self._device, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError as exc:
                log.warning("NMEA receiver %s: %s", self._device, exc)
                self._stop.wait(1.0)
                continue
            try:
                self._configure(fd)
                with self._lock:
                    self._open = True
                self._read(fd)
            finally:
                os.close(fd)
                with self._lock:
                    self._open = False

    def _configure(self, fd: int) -> None:
        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[4] = attrs[5] = BAUD[self._baud]
        termios.tcsetattr(fd, termios.TCSANOW, attrs)

    def _read(self, fd: int) -> None:
        pending = b""
        while not self._stop.is_set():
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                self._stop.wait(0.05)
                continue
            except OSError as exc:  # unplugged (EIO on a closed pty)
                log.warning("NMEA receiver %s gone: %s", self._device, exc)
                return
            if not chunk:
                self._stop.wait(0.05)
                continue
            pending += chunk
            if len(pending) > 65536:
                pending = pending[-4096:]  # a babbling device must not grow memory
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                with self._lock:
                    if self._state.feed(raw.decode("ascii", errors="replace")):
                        self._received = self._clock()
