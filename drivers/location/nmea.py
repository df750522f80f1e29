"""NMEA 0183 sentences (GGA, RMC, GSA) into fix facts. Pure; checksums verified, garbage ignored."""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field


class NmeaError(ValueError):
    pass


def checked_fields(line: str) -> list[str]:
    """The comma-separated fields of ``$..*hh`` with a valid checksum (talker+type first), else NmeaError."""
    text = line.strip()
    if not text.startswith("$") or "*" not in text:
        raise NmeaError("not an NMEA sentence")
    body, _, given = text[1:].rpartition("*")
    computed = 0
    for char in body:
        computed ^= ord(char)
    try:
        if int(given[:2], 16) != computed:
            raise NmeaError("checksum mismatch")
    except ValueError:
        raise NmeaError("checksum unreadable") from None
    return body.split(",")


def _degrees(value: str, hemisphere: str) -> float:
    if not value:
        raise NmeaError("empty coordinate")
    head, _, _ = value.partition(".")
    cut = len(head) - 2
    degrees = float(value[:cut]) + float(value[cut:]) / 60.0
    if hemisphere in ("S", "W"):
        degrees = -degrees
    elif hemisphere not in ("N", "E"):
        raise NmeaError(f"bad hemisphere {hemisphere!r}")
    return degrees


@dataclass
class FixState:
    """Accumulates sentences of one receiver; ``uere_m`` turns HDOP into metres (95 %)."""

    uere_m: float = 19.0  # gpsd's factor: an HDOP of 1 is reported as ~19 m (95 % confidence)
    latitude: float = 0.0
    longitude: float = 0.0
    quality: int = 0  # GGA fix quality: 0 none
    mode: int = 1  # GSA: 1 none, 2 2D, 3 3D
    hdop: float = 99.0
    fix_time: float = 0.0
    sentences: int = 0
    rejected: int = 0
    _mode_seen: bool = field(default=False, repr=False)

    def feed(self, line: str) -> bool:
        """True when the line updated the position (a GGA)."""
        try:
            fields = checked_fields(line)
            kind = fields[0][2:]
            if kind == "GGA":
                return self._gga(fields)
            if kind == "GSA" and len(fields) > 16:
                self.mode, self._mode_seen = int(fields[2] or 1), True
            self.sentences += 1
        except (NmeaError, ValueError, IndexError):
            self.rejected += 1
        return False

    def _gga(self, f: list[str]) -> bool:
        self.quality = int(f[6] or 0)
        if self.quality > 0:
            self.latitude, self.longitude = _degrees(f[2], f[3]), _degrees(f[4], f[5])
            self.hdop = float(f[8] or 99.0)
            self.fix_time = _utc_today(f[1])
        if not self._mode_seen:  # no GSA from this receiver: altitude present means 3D
            self.mode = 1 if self.quality == 0 else (3 if f[9] else 2)
        self.sentences += 1
        return True

    @property
    def effective_mode(self) -> int:
        return 1 if self.quality == 0 else self.mode

    @property
    def accuracy_m(self) -> float:
        return self.hdop * self.uere_m


def _utc_today(hhmmss: str) -> float:
    """Epoch seconds of a GGA time (today, UTC; a time just after midnight is not read as tomorrow)."""
    if len(hhmmss) < 6:
        return time.time()
    now = time.gmtime()
    stamp = calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, int(hhmmss[:2]), int(hhmmss[2:4]), 0, 0, 0, 0))
    stamp += float(hhmmss[4:])
    return stamp - 86400 if stamp - time.time() > 43200 else stamp
