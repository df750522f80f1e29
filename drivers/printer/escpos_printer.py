"""Thermal receipt printers speaking ESC/POS, through python-escpos (USB, serial or network).

Layout stays in kiosk/receipt.py; this module only turns lines and a QR payload into bytes:
ESC @ (initialise), each line in the printer's Chinese mode (FS &) encoded as GB18030 (CJK and ASCII
alike), the native QR code (GS ( k, error correction M), feed and cut. ``render`` is pure (golden-tested
byte for byte). Preflight asks the printer (DLE EOT) whether it is online and has paper; a failure while
sending is reported, and the caller keeps the document for a reprint.
"""

from __future__ import annotations

import logging
from typing import Any

from kiosk.errors import PrinterError
from kiosk.ports import PrinterStatus

log = logging.getLogger(__name__)

INIT = b"\x1b@"
CHINESE_ON, CHINESE_OFF = b"\x1c&", b"\x1c."
CENTER, LEFT = b"\x1ba\x01", b"\x1ba\x00"
BOLD_ON, BOLD_OFF = b"\x1bE\x01", b"\x1bE\x00"


def render(lines: list[str], qr_payload: str, *, bold_lines: int = 2) -> bytes:
    """The exact bytes of a receipt. The first ``bold_lines`` (the title) are centred and bold."""
    from escpos.printer import Dummy

    out = bytearray(INIT)
    for index, line in enumerate(lines):
        title = index < bold_lines
        if title:
            out += CENTER + BOLD_ON
        out += CHINESE_ON + line.encode("gb18030", errors="replace") + CHINESE_OFF + b"\n"
        if title:
            out += BOLD_OFF + LEFT
    if qr_payload:
        dummy = Dummy()
        dummy.qr(qr_payload, ec=1, size=6, native=True)  # ec 1: QR_ECLEVEL_M
        out += CENTER + dummy.output + LEFT
    out += b"\x1bd\x04"  # feed 4 lines past the cutter
    out += b"\x1dV\x00"  # full cut
    return bytes(out)


class EscPosPrinter:
    """``device``: a python-escpos printer (Usb, Serial, Network; Dummy in tests)."""

    def __init__(self, device: Any, description: str) -> None:
        self._device, self.description = device, description

    @classmethod
    def from_config(cls, kind: str, target: str) -> EscPosPrinter:
        from escpos import printer as p

        if kind == "escpos-network":
            host, _, port = target.partition(":")
            return cls(p.Network(host, int(port or 9100), timeout=5), f"ESC/POS printer {target}")
        if kind == "escpos-serial":
            return cls(p.Serial(devfile=target, baudrate=9600), f"ESC/POS printer {target}")
        if kind == "escpos-usb":
            vendor, _, product = target.partition(":")
            return cls(p.Usb(int(vendor, 16), int(product, 16)), f"ESC/POS printer USB {target}")
        raise PrinterError(f"unknown printer kind {kind}")

    def preflight(self) -> PrinterStatus:
        from escpos.constants import RT_MASK_ONLINE, RT_STATUS_ONLINE

        try:
            status = self._device.query_status(RT_STATUS_ONLINE)
            if not status:  # no answer at all: the connection is dead, not the printer offline
                raise ConnectionError("no answer to the status query")
            online = not (status[0] & RT_MASK_ONLINE)
            paper = self._device.paper_status()  # 2 adequate, 1 near end, 0 out
        except Exception as exc:  # noqa: BLE001 - any transport fault means the printer cannot be used now
            self._reset()
            return PrinterStatus(online=False, paper=False, detail=f"printer not answering ({type(exc).__name__})")
        if not online:
            return PrinterStatus(online=False, paper=False, detail="printer offline")
        if paper == 0:
            return PrinterStatus(online=True, paper=False, detail="out of paper")
        return PrinterStatus(online=True, paper=True, detail="paper low" if paper == 1 else "")

    def print_document(self, lines: list[str], qr_payload: str, *, name: str) -> str:
        status = self.preflight()
        if not (status.online and status.paper):
            raise PrinterError(f"cannot print: {status.detail}")
        try:
            self._device._raw(render(lines, qr_payload))
        except Exception as exc:  # noqa: BLE001 - the cable pulled or the printer gone mid-job
            self._reset()
            raise PrinterError(f"printing failed part-way ({type(exc).__name__}): reprint from the visit record") from None
        after = self.preflight()  # a printer that ran out of paper mid-job says so only when asked
        if not (after.online and after.paper):
            raise PrinterError(f"the receipt may be incomplete ({after.detail}): reprint from the visit record")
        return f"{self.description}: {name}"

    def _reset(self) -> None:
        try:
            self._device.close()  # python-escpos reopens the connection on next use
        except Exception:  # noqa: BLE001 - already broken: nothing more to close
            log.debug("closing a broken printer connection failed", exc_info=True)
