"""A bank-card terminal (银联 POS) on a serial line, behind the same :class:`kiosk.ports.PaymentGateway`
port as the payment platform. The patient inserts or taps the card and enters the PIN on the terminal;
the kiosk never sees the card number or the PIN.

Line protocol (ASCII, one request and one answer per line, ``\\r\\n``-terminated, each line ending in
``*XX``, the XOR of its characters in hex as in NMEA 0183, so a garbled line is recognised):

    SALE <order> <amount>            -> ACK <order>            (the terminal asks for the card)
    QUERY <order>                    -> STATE <order> <state> <amount> <trace>
    VOID <order>                     -> STATE ...              (an unpaid sale is cancelled: CLOSED)
    REFUND <order> <refund> <amount> -> REFUNDED <refund> <amount> | DECLINED <refund> <reason>
    BILL <yyyy-mm-dd>                -> ORDER <order> <state> <amount> <trace> ... END
    (any request)                    -> DECLINED <order> <reason>  (a refusal)

States are the platform's (NOTPAY, USERPAYING while the PIN is entered, SUCCESS, CLOSED, REFUND); the
trace is the terminal's voucher number (凭证号). The terminal keeps its own journal: the same order or
refund number never charges or refunds twice. No answer, a garbled answer or a closed line: PaymentUnknown.
"""

from __future__ import annotations

import logging
import os
import select
import termios
import threading
import time
import tty
from decimal import Decimal
from typing import Any

from drivers.serial_port import TERMIOS_BAUD
from kiosk.errors import PaymentDeclined, PaymentUnknown
from kiosk.payment import STATES, PaymentOrder, PaymentStatus, RefundStatus

log = logging.getLogger(__name__)


def frame(text: str) -> bytes:
    checksum = 0
    for char in text:
        checksum ^= ord(char)
    return f"{text}*{checksum:02X}\r\n".encode("ascii")


def unframe(line: bytes) -> str | None:
    """The text of a well-formed line, or None (bad checksum, not ASCII, no checksum)."""
    try:
        text = line.decode("ascii").rstrip("\r\n")
    except UnicodeDecodeError:
        return None
    body, sep, given = text.rpartition("*")
    if not sep:
        return None
    checksum = 0
    for char in body:
        checksum ^= ord(char)
    return body if given.upper() == f"{checksum:02X}" else None


class SerialCardTerminal:
    def __init__(self, device: str, baud: int = 9600, timeout_s: float = 5.0) -> None:
        if baud not in TERMIOS_BAUD:
            raise ValueError(f"unsupported baud rate {baud}")
        self.description = f"bank-card terminal on {device}"
        self._device, self._baud, self._timeout = device, baud, timeout_s
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._buffer = b""

    # -- the port --------------------------------------------------------------------------------------

    def create(self, order_no: str, amount: Any, subject: str) -> PaymentOrder:
        self._ask(f"SALE {order_no} {Decimal(amount):.2f}", expect="ACK")
        return PaymentOrder(order_no, Decimal(amount))

    def pay_with_code(self, order_no: str, amount: Any, auth_code: str) -> PaymentStatus:
        raise PaymentDeclined("card_only", "this kiosk takes bank cards at its terminal, not payment codes")

    def query(self, order_no: str) -> PaymentStatus:
        return self._state(self._ask(f"QUERY {order_no}", expect="STATE"))

    def close(self, order_no: str) -> PaymentStatus:
        return self._state(self._ask(f"VOID {order_no}", expect="STATE"))

    def refund(self, order_no: str, refund_no: str, amount: Any) -> RefundStatus:
        words = self._ask(f"REFUND {order_no} {refund_no} {Decimal(amount):.2f}", expect="REFUNDED")
        return RefundStatus(words[1], "SUCCESS", Decimal(words[2]))

    def notifications(self) -> list[PaymentStatus]:
        return []  # the terminal answers queries; it does not push

    def day_bill(self, day: str) -> list[PaymentStatus]:
        with self._lock:
            self._send(f"BILL {day}")
            out = []
            while True:
                words = self._read_words()
                if words[0] == "END":
                    return out
                if words[0] != "ORDER" or len(words) < 4:
                    raise PaymentUnknown(f"card terminal: unexpected bill line {words[0]!r}")
                out.append(self._state(["STATE", *words[1:]]))

    def close_session(self) -> None:
        with self._lock:
            self._disconnect()

    # -- the line --------------------------------------------------------------------------------------

    def _ask(self, request: str, *, expect: str) -> list[str]:
        with self._lock:
            self._send(request)
            words = self._read_words()
        if words[0] == "DECLINED":
            reason = words[2] if len(words) > 2 else "declined"
            raise PaymentDeclined(reason, f"card terminal declined: {' '.join(words[2:]) or 'no reason'}")
        if words[0] != expect:
            raise PaymentUnknown(f"card terminal: expected {expect}, got {words[0]!r}")
        return words

    def _state(self, words: list[str]) -> PaymentStatus:
        if len(words) < 4 or words[2] not in STATES:
            raise PaymentUnknown(f"card terminal: malformed state {' '.join(words)!r}")
        try:
            amount = Decimal(words[3])
        except ArithmeticError:
            raise PaymentUnknown("card terminal: the amount is not a number") from None
        trace = words[4] if len(words) > 4 and words[4] != "-" else ""
        return PaymentStatus(words[1], words[2], amount, trade_no=trace, method="card" if trace else "")

    def _connect(self) -> int:
        if self._fd is None:
            try:
                fd = os.open(self._device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError as exc:
                raise PaymentUnknown(f"card terminal {self._device} cannot be opened: {exc.strerror}") from None
            try:
                tty.setraw(fd)
                attrs = termios.tcgetattr(fd)
                attrs[4] = attrs[5] = TERMIOS_BAUD[self._baud]
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
            except termios.error:
                os.close(fd)
                raise PaymentUnknown(f"{self._device} is not a serial device") from None
            self._fd, self._buffer = fd, b""
        return self._fd

    def _disconnect(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _send(self, request: str) -> None:
        fd = self._connect()
        self._buffer = b""  # an answer left from a request that timed out belongs to nobody now
        try:
            os.write(fd, frame(request))
        except OSError as exc:
            self._disconnect()
            raise PaymentUnknown(f"card terminal: write failed ({exc.strerror})") from None

    def _read_words(self) -> list[str]:
        deadline = time.monotonic() + self._timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PaymentUnknown("card terminal: no answer")
            assert self._fd is not None
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self._fd, 4096)
            except BlockingIOError:
                continue
            except OSError as exc:
                self._disconnect()
                raise PaymentUnknown(f"card terminal: line closed ({exc.strerror})") from None
            if not chunk:
                self._disconnect()
                raise PaymentUnknown("card terminal: line closed")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        text = unframe(line + b"\n")
        if text is None or not text.split():
            raise PaymentUnknown("card terminal: garbled answer")
        return text.split()

