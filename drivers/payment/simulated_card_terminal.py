"""The bank-card terminal's twin: the line protocol of ``card_terminal.py`` served on a pseudo-terminal
(its ``device`` is opened like a real /dev/ttyS0), with the terminal's own journal in memory.

The patient is simulated with ``present_card(order)`` (approved after an optional PIN time) or
``present_card(order, approve=False)`` (declined: nothing taken). Faults: ``drop_next_answer()`` (the
request is processed, its answer lost), ``garble_next_answer()``, ``refuse_next_refund()`` (once).
"""

from __future__ import annotations

import os
import secrets
import select
import threading
import time
import tty
from dataclasses import dataclass, field
from decimal import Decimal

from drivers.payment.card_terminal import frame, unframe
from kiosk.payment import CLOSED, NOT_PAID, PAID, PAYING, REFUNDED


@dataclass
class _Sale:
    amount: Decimal
    day: str
    state: str = NOT_PAID
    trace: str = ""
    paid_at: float = 0.0  # while the PIN is entered (USERPAYING), when it completes
    refunds: dict[str, Decimal] = field(default_factory=dict)


class SimulatedCardTerminal:
    def __init__(self) -> None:
        self._master, slave = os.openpty()
        tty.setraw(slave)
        self.device = os.ttyname(slave)
        self._slave = slave  # kept open so the line stays up while the kiosk reopens it
        self.sales: dict[str, _Sale] = {}
        self._lock = threading.Lock()
        self._drop = self._garble = self._refuse = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="card-terminal-twin", daemon=True)
        self._thread.start()

    # -- the patient and the faults ---------------------------------------------------------------------

    def present_card(self, order_no: str, *, approve: bool = True, pin_s: float = 0.0) -> None:
        with self._lock:
            sale = self.sales[order_no]
            if sale.state != NOT_PAID:
                return
            if not approve:
                return  # declined by the bank: the sale stays unpaid, the patient may try another card
            sale.trace = f"{secrets.randbelow(10**6):06d}"
            sale.state, sale.paid_at = (PAYING, time.time() + pin_s) if pin_s else (PAID, time.time())

    def drop_next_answer(self) -> None:
        self._drop += 1

    def garble_next_answer(self) -> None:
        self._garble += 1

    def refuse_next_refund(self) -> None:
        self._refuse += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- the terminal -----------------------------------------------------------------------------------

    def _serve(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
                if not ready:
                    continue
                buffer += os.read(self._master, 4096)
            except OSError:
                return
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                text = unframe(line + b"\n")
                answers = self._answer(text.split()) if text else ["DECLINED - garbled request"]
                self._write(answers)

    def _write(self, answers: list[str]) -> None:
        if self._drop:
            self._drop -= 1
            return
        for text in answers:
            data = frame(text)
            if self._garble:
                self._garble -= 1
                data = data[:-5] + b"#!\r\n"
            os.write(self._master, data)

    def _answer(self, words: list[str]) -> list[str]:
        with self._lock:
            for sale in self.sales.values():
                if sale.state == PAYING and time.time() >= sale.paid_at:
                    sale.state = PAID
            command, args = words[0], words[1:]
            if command == "SALE" and len(args) == 2:
                order, amount = args[0], Decimal(args[1])
                sale = self.sales.setdefault(order, _Sale(amount, time.strftime("%Y-%m-%d")))
                if sale.amount != amount:
                    return [f"DECLINED {order} amount_differs"]
                if sale.state == CLOSED:
                    return [f"DECLINED {order} order_closed"]
                return [f"ACK {order}"]
            if command in ("QUERY", "VOID") and len(args) == 1:
                order = args[0]
                sale = self.sales.get(order)
                if sale is None:
                    sale = self.sales[order] = _Sale(Decimal("0.00"), time.strftime("%Y-%m-%d"), CLOSED)
                if command == "VOID" and sale.state in (NOT_PAID, PAYING):
                    sale.state = CLOSED
                return [self._state_line(order, sale)]
            if command == "REFUND" and len(args) == 3:
                order, refund, amount = args[0], args[1], Decimal(args[2])
                sale = self.sales.get(order)
                if sale is not None and refund in sale.refunds:
                    return [f"REFUNDED {refund} {sale.refunds[refund]:.2f}"]
                if sale is None or sale.state != PAID:
                    return [f"DECLINED {refund} not_paid"]
                if self._refuse:
                    self._refuse -= 1
                    return [f"DECLINED {refund} try_later"]
                sale.refunds[refund], sale.state = amount, REFUNDED
                return [f"REFUNDED {refund} {amount:.2f}"]
            if command == "BILL" and len(args) == 1:
                return [self._state_line(order, sale).replace("STATE", "ORDER", 1)
                        for order, sale in self.sales.items() if sale.day == args[0]] + ["END"]
            return [f"DECLINED {args[0] if args else '-'} bad_request"]

    @staticmethod
    def _state_line(order: str, sale: _Sale) -> str:
        return f"STATE {order} {sale.state} {sale.amount:.2f} {sale.trace or '-'}"
