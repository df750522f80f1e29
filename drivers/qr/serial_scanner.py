"""A hardware QR scanner on a serial port (USB CDC-ACM or RS-232): one scan per CR/LF-terminated line.

Read on a background thread; each complete line goes to the listener (on that thread: the UI bridges it).
Bad input never grows memory or stops the reader: a line longer than ``max_line`` is cut there and
delivered (the voucher check then refuses it as too long); bytes that are not text arrive as U+FFFD (refused
as binary); a scan cut off mid-line is delivered after ``idle_flush_s`` of silence (refused or unknown).
"""

from __future__ import annotations

import logging
import os
import termios
import time
import tty
from collections.abc import Callable

from drivers.background import BackgroundReader

log = logging.getLogger(__name__)

BAUD = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400, 57600: termios.B57600,
        115200: termios.B115200}


class SerialQrScanner(BackgroundReader):
    def __init__(self, device: str, baud: int = 9600, *, max_line: int = 2048, idle_flush_s: float = 0.3) -> None:
        if baud not in BAUD:
            raise ValueError(f"unsupported baud rate {baud} (use one of {sorted(BAUD)})")
        self.description = f"serial QR scanner {device} @{baud}"
        self._device, self._baud, self._max, self._flush_s = device, baud, max_line, idle_flush_s
        self._listener: Callable[[str], None] = lambda _payload: None
        self.connected = False
        super().__init__("qr-serial")

    def set_listener(self, on_scanned: Callable[[str], None]) -> None:
        self._listener = on_scanned

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self._device, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError as exc:
                if self.connected:
                    log.warning("QR scanner %s: %s", self._device, exc)
                self.connected = False
                self._stop.wait(1.0)
                continue
            try:
                tty.setraw(fd)
                attrs = termios.tcgetattr(fd)
                attrs[4] = attrs[5] = BAUD[self._baud]
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
                self.connected = True
                self._read(fd)
            except termios.error as exc:
                log.warning("QR scanner %s is not a serial device: %s", self._device, exc)
                self._stop.wait(1.0)
            finally:
                os.close(fd)
                self.connected = False

    def _read(self, fd: int) -> None:
        pending, last = bytearray(), time.monotonic()
        while not self._stop.is_set():
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = b""
            except OSError as exc:  # unplugged
                log.warning("QR scanner %s gone: %s", self._device, exc)
                return
            now = time.monotonic()
            if chunk:
                last = now
                for byte in chunk:
                    if byte in (0x0D, 0x0A):
                        if pending:
                            self._deliver(pending)
                            pending = bytearray()
                    elif len(pending) <= self._max:
                        pending.append(byte)  # beyond max_line the rest of the line is dropped
            elif pending and now - last >= self._flush_s:
                self._deliver(pending)  # a scan cut off mid-line
                pending = bytearray()
            else:
                self._stop.wait(0.02)

    def _deliver(self, raw: bytearray) -> None:
        try:
            self._listener(bytes(raw).decode("utf-8", errors="replace"))
        except Exception:  # noqa: BLE001 - a listener fault must not stop the scanner
            log.exception("QR listener failed")
