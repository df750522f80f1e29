"""A simulated GNSS receiver: NMEA 0183 written to a pseudo-terminal at 1 Hz (the twin of a serial
receiver; gpsd or NmeaSerialLocation read its ``device`` like a real /dev/ttyUSB0).

Set ``fix`` (or ``None`` for no fix) at any time; ``silence()`` stops the output (a stale fix).
"""

from __future__ import annotations

import os
import threading
import time
import tty
from dataclasses import dataclass

from drivers.background import BackgroundReader


@dataclass(frozen=True)
class SimulatedFix:
    latitude: float
    longitude: float
    hdop: float = 1.0
    mode: int = 3  # 2 or 3


def sentence(body: str) -> bytes:
    checksum = 0
    for char in body:
        checksum ^= ord(char)
    return f"${body}*{checksum:02X}\r\n".encode("ascii")


def _coord(value: float, width: int, positive: str, negative: str) -> tuple[str, str]:
    degrees = int(abs(value))
    minutes = (abs(value) - degrees) * 60
    return f"{degrees:0{width}d}{minutes:07.4f}", positive if value >= 0 else negative


def sentences(fix: SimulatedFix | None, when: float) -> list[bytes]:
    t = time.gmtime(when)
    hms, dmy = time.strftime("%H%M%S", t) + f".{int(when % 1 * 100):02d}", time.strftime("%d%m%y", t)
    if fix is None:
        return [sentence(f"GPGGA,{hms},,,,,0,00,99.0,,M,,M,,"), sentence(f"GPRMC,{hms},V,,,,,,,{dmy},,,N"),
                sentence("GPGSA,A,1,,,,,,,,,,,,,99.0,99.0,99.0")]
    lat, ns = _coord(fix.latitude, 2, "N", "S")
    lon, ew = _coord(fix.longitude, 3, "E", "W")
    altitude = "50.0" if fix.mode == 3 else ""
    return [sentence(f"GPGGA,{hms},{lat},{ns},{lon},{ew},1,08,{fix.hdop:.1f},{altitude},M,0.0,M,,"),
            sentence(f"GPRMC,{hms},A,{lat},{ns},{lon},{ew},0.0,0.0,{dmy},,,A"),
            sentence(f"GPGSA,A,{fix.mode},01,02,03,04,05,06,07,08,,,,,{fix.hdop + 0.5:.1f},{fix.hdop:.1f},1.5")]


class SimulatedReceiver(BackgroundReader):
    def __init__(self, fix: SimulatedFix | None = None, *, interval_s: float = 1.0) -> None:
        self.fix, self._interval = fix, interval_s
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)
        self._speaking = threading.Event()
        self._speaking.set()
        super().__init__("simulated-gnss")

    def silence(self) -> None:
        self._speaking.clear()

    def resume(self) -> None:
        self._speaking.set()

    def write_raw(self, data: bytes) -> None:
        """Anything, e.g. garbage or a truncated sentence."""
        os.write(self._master, data)

    def stop(self) -> None:
        super().stop()
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._speaking.is_set():
                try:
                    for line in sentences(self.fix, time.time()):
                        os.write(self._master, line)
                except OSError:
                    return
            self._stop.wait(self._interval)
