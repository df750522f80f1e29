"""The virtual card on the wire: a :class:`VirtualSocialSecurityCard` connected to vpcd.

vpcd (vsmartcard's virtual reader driver inside pcscd) listens on TCP; a card
"is inserted" while it is connected. Frames carry a 2-byte big-endian length;
a 1-byte frame is a control (0 power off, 1 power on, 2 reset, 4 get ATR),
anything longer is an APDU. We set TCP_NODELAY and re-arm TCP_QUICKACK after
every receive: vpcd writes the length and the payload separately, and without
a quick ACK each exchange waits ~40 ms on Nagle plus delayed ACK.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time

from kiosk.errors import ReaderUnavailable

from drivers.card.virtual_card import Fault, VirtualSocialSecurityCard

log = logging.getLogger(__name__)
VPCD_PORT = 35963
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4


class VpcdCardSession:
    """One card in the virtual reader. ``insert()`` connects, ``remove()`` disconnects."""

    def __init__(self, card: VirtualSocialSecurityCard, *, host: str = "127.0.0.1", port: int = VPCD_PORT,
                 delay_s: float = 0.0) -> None:
        self.card, self._address, self._delay = card, (host, port), delay_s
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.inserted_at = 0.0  # time.monotonic() when the connection was made (for the benchmark)

    def insert(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                sock = socket.create_connection(self._address, timeout=1.0)
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise ReaderUnavailable(f"virtual reader not listening on {self._address}: {exc}") from None
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self.inserted_at = time.monotonic()
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="vpcd-card", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    @property
    def present(self) -> bool:
        return self._sock is not None

    def _recv_exact(self, sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return data

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                (size,) = struct.unpack(">H", self._recv_exact(sock, 2))
                frame = self._recv_exact(sock, size)
                answer = self._answer(frame)
                if answer is None:
                    if not self.card.present:  # REMOVED_MID_READ strikes: the card leaves the slot
                        break
                    continue
                sock.sendall(struct.pack(">H", len(answer)) + answer)
        except (EOFError, OSError):
            log.debug("virtual card: connection closed (card removed or vpcd gone)")
        finally:
            if self._sock is sock:
                self._sock = None
                with contextlib.suppress(OSError):
                    sock.close()

    def _answer(self, frame: bytes) -> bytes | None:
        if len(frame) == 1:
            if frame[0] == CTRL_ATR:
                # a mute card powers up without a valid ATR: pcscd reports it unresponsive
                return b"\x00" if self.card.fault is Fault.MUTE else self.card.atr
            if frame[0] in (CTRL_ON, CTRL_RESET, CTRL_OFF):
                self.card.reset()
            return None
        if self._delay:
            time.sleep(self._delay)  # a slow card
        return self.card.process(frame)
