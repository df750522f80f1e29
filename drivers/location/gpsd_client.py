"""gpsd client: the ``?WATCH`` JSON protocol over gpsd's TCP socket, read on a background thread.

The latest TPV report becomes a PositionReading (accuracy from ``eph``, else the larger of ``epx`` and
``epy``; age from when it arrived). When gpsd goes away, ``current()`` returns None and ``healthy`` is
False: the login says positioning is unavailable instead of trusting an old fix. Reconnects by itself.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime

from kiosk.ports import PositionReading

from drivers.background import BackgroundReader

log = logging.getLogger(__name__)


class GpsdLocation(BackgroundReader):
    def __init__(self, host: str = "127.0.0.1", port: int = 2947, *, clock: Callable[[], float] = time.monotonic,
                 reconnect_s: float = 1.0) -> None:
        self.description = f"gpsd {host}:{port}"
        self._address, self._clock, self._reconnect_s = (host, port), clock, reconnect_s
        self._lock = threading.Lock()
        self._reported = threading.Condition(self._lock)  # notified on every TPV report
        self._tpv: dict | None = None
        self._received = 0.0
        self._connected = False
        super().__init__("gpsd-client")

    @property
    def healthy(self) -> bool:
        return self._connected

    def wait_fix(self, timeout_s: float) -> PositionReading | None:
        """The first reading with a 2D or 3D fix, waiting on gpsd's reports up to ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            reading = self.current()
            if reading is not None and reading.mode >= 2:
                return reading
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self._reported:
                self._reported.wait(timeout=remaining)

    def current(self) -> PositionReading | None:
        with self._lock:
            tpv, received, connected = self._tpv, self._received, self._connected
        if tpv is None or not connected:
            return None
        accuracy = tpv.get("eph")
        if accuracy is None and (tpv.get("epx") is not None or tpv.get("epy") is not None):
            accuracy = max(tpv.get("epx") or 0.0, tpv.get("epy") or 0.0)
        mode = int(tpv.get("mode", 0))
        if mode < 2 or "lat" not in tpv or "lon" not in tpv:
            return PositionReading(0.0, 0.0, mode=min(mode, 1), accuracy_m=math.inf, age_s=self._clock() - received,
                                   source="gpsd")
        return PositionReading(latitude=float(tpv["lat"]), longitude=float(tpv["lon"]), mode=mode,
                               accuracy_m=float(accuracy) if accuracy is not None else math.inf,
                               age_s=self._clock() - received, source="gpsd", fix_time=_epoch(tpv.get("time")))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with socket.create_connection(self._address, timeout=2) as conn:
                    conn.sendall(b'?WATCH={"enable":true,"json":true}\n')
                    conn.settimeout(1.0)
                    self._read(conn.makefile("r", encoding="utf-8", errors="replace"))
            except OSError as exc:
                log.debug("gpsd: %s", exc)
            with self._lock:
                self._connected = False
            self._stop.wait(self._reconnect_s)

    def _read(self, stream) -> None:  # type: ignore[no-untyped-def]
        while not self._stop.is_set():
            try:
                line = stream.readline()
            except TimeoutError:
                continue
            if not line:
                return  # gpsd closed the connection
            try:
                report = json.loads(line)
            except json.JSONDecodeError:
                log.warning("gpsd: unreadable report ignored")
                continue
            with self._lock:
                self._connected = True
                if isinstance(report, dict) and report.get("class") == "TPV":
                    self._tpv, self._received = report, self._clock()
                    self._reported.notify_all()


def _epoch(text: object) -> float:
    if not isinstance(text, str):
        return time.time()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()
