"""NMEA 0183 from a serial receiver (a tty; tested through a pseudo-terminal), read on a background thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kiosk.ports import PositionReading

from drivers.location.nmea import FixState
from drivers.serial_port import SerialReader

log = logging.getLogger(__name__)


class NmeaSerialLocation(SerialReader):
    BAUDS = (4800, 9600, 38400, 115200)
    what = "NMEA receiver"
    poll_s = 0.05

    def __init__(self, device: str, baud: int = 9600, *, clock: Callable[[], float] = time.monotonic,
                 uere_m: float = 19.0) -> None:
        super().__init__(device, baud, "nmea-serial")
        self.description = f"NMEA {device} @{baud}"
        self._clock = clock
        self._state = FixState(uere_m=uere_m)
        self._received = 0.0
        self._pending = b""
        self._lock = threading.Lock()

    @property
    def healthy(self) -> bool:
        return self.connected

    @property
    def rejected_sentences(self) -> int:
        return self._state.rejected

    def current(self) -> PositionReading | None:
        with self._lock:
            if not self.connected or self._received == 0.0:
                return None
            s = self._state
            return PositionReading(latitude=s.latitude, longitude=s.longitude, mode=s.effective_mode,
                                   accuracy_m=s.accuracy_m, age_s=self._clock() - self._received, source="nmea",
                                   fix_time=s.fix_time)

    def _on_open(self) -> None:
        self._pending = b""

    def _on_bytes(self, chunk: bytes) -> None:
        pending = self._pending + chunk
        if len(pending) > 65536:
            pending = pending[-4096:]  # a babbling device must not grow memory
        *lines, self._pending = pending.split(b"\n")
        for raw in lines:
            with self._lock:
                if self._state.feed(raw.decode("ascii", errors="replace")):
                    self._received = self._clock()
