"""A hardware QR scanner on a serial port (USB CDC-ACM or RS-232): one scan per CR/LF-terminated line.

Read on a background thread; each complete line goes to the listener (on that thread: the UI bridges it).
Bad input never grows memory or stops the reader: a line longer than ``max_line`` is cut there and
delivered (the voucher check then refuses it as too long); bytes that are not text arrive as U+FFFD (refused
as binary); a scan cut off mid-line is delivered after ``idle_flush_s`` of silence (refused or unknown).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from drivers.serial_port import SerialReader

log = logging.getLogger(__name__)


class SerialQrScanner(SerialReader):
    BAUDS = (9600, 19200, 38400, 57600, 115200)
    what = "QR scanner"

    def __init__(self, device: str, baud: int = 9600, *, max_line: int = 2048, idle_flush_s: float = 0.3) -> None:
        super().__init__(device, baud, "qr-serial")
        self.description = f"serial QR scanner {device} @{baud}"
        self._max, self._flush_s = max_line, idle_flush_s
        self._listener: Callable[[str], None] = lambda _payload: None
        self._pending, self._last = bytearray(), time.monotonic()

    def set_listener(self, on_scanned: Callable[[str], None]) -> None:
        self._listener = on_scanned

    def _on_open(self) -> None:
        self._pending, self._last = bytearray(), time.monotonic()

    def _on_bytes(self, chunk: bytes) -> None:
        self._last = time.monotonic()
        for byte in chunk:
            if byte in (0x0D, 0x0A):
                if self._pending:
                    self._deliver()
            elif len(self._pending) <= self._max:
                self._pending.append(byte)  # beyond max_line the rest of the line is dropped

    def _on_idle(self) -> bool:
        if self._pending and time.monotonic() - self._last >= self._flush_s:
            self._deliver()  # a scan cut off mid-line
            return True
        return False

    def _deliver(self) -> None:
        raw, self._pending = bytes(self._pending), bytearray()
        try:
            self._listener(raw.decode("utf-8", errors="replace"))
        except Exception:  # noqa: BLE001 - a listener fault must not stop the scanner
            log.exception("QR listener failed")
