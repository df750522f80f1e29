"""The one shape of a reader on a serial device (a tty; tests use a pseudo-terminal): open it raw at a
baud rate, hand each chunk read to ``_on_bytes``, tell ``_on_idle`` when nothing came, and reopen it once a
second while it is missing, unplugged or not a serial device. ``connected`` says whether it is open."""

from __future__ import annotations

import logging
import os
import termios
import tty

from drivers.background import DeviceReader

log = logging.getLogger(__name__)

TERMIOS_BAUD = {4800: termios.B4800, 9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400,
                57600: termios.B57600, 115200: termios.B115200}


class SerialReader(DeviceReader):
    BAUDS: tuple[int, ...] = tuple(TERMIOS_BAUD)
    what = "serial device"  # for log lines
    poll_s = 0.02  # wait when nothing arrived

    def __init__(self, device: str, baud: int, thread_name: str) -> None:
        if baud not in self.BAUDS:
            raise ValueError(f"unsupported baud rate {baud} (use one of {sorted(self.BAUDS)})")
        self._baud = baud
        super().__init__(device, thread_name)

    def _on_open(self) -> None:
        """A fresh connection: drop what was half-read on the last one."""

    def _on_bytes(self, chunk: bytes) -> None:
        raise NotImplementedError

    def _on_idle(self) -> bool:
        """Nothing arrived; True when the subclass did something (then no wait before the next read)."""
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            fd = self._open_or_wait(os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
            if fd is None:
                continue
            try:
                tty.setraw(fd)
                attrs = termios.tcgetattr(fd)
                attrs[4] = attrs[5] = TERMIOS_BAUD[self._baud]
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
                self._on_open()
                self._ready()
                self._read(fd)
            except termios.error as exc:
                log.warning("%s %s is not a serial device: %s", self.what, self._device, exc)
                self._stop.wait(1.0)
            finally:
                os.close(fd)
                self.connected = False

    def _read(self, fd: int) -> None:
        while not self._stop.is_set():
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                chunk = b""
            except OSError as exc:  # unplugged (EIO on a closed pty)
                log.warning("%s %s gone: %s", self.what, self._device, exc)
                return
            if chunk:
                self._on_bytes(chunk)
            elif not self._on_idle():
                self._stop.wait(self.poll_s)
