"""The file printer: receipts written as UTF-8 text files (with the QR code drawn in text).

The simulated twin of a thermal printer, with injectable faults (offline, paper out).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import qrcode

from kiosk.errors import PrinterError
from kiosk.ports import PrinterStatus

MIN_FREE_BYTES = 1 << 20


def qr_text(payload: str) -> str:
    qr = qrcode.QRCode(border=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(payload)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()


class FilePrinter:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.description = f"file printer ({self.directory})"
        self.paper_out = False  # fault injection
        self.offline = False

    def preflight(self) -> PrinterStatus:
        if self.offline:
            return PrinterStatus(online=False, paper=False, detail="printer offline")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self.directory).free
        except OSError as exc:
            return PrinterStatus(online=False, paper=False, detail=f"receipt folder unusable: {exc}")
        if self.paper_out or free < MIN_FREE_BYTES:
            return PrinterStatus(online=True, paper=False, detail="out of paper" if self.paper_out else "disk full")
        return PrinterStatus(online=True, paper=True)

    def print_document(self, lines: list[str], qr_payload: str, *, name: str) -> str:
        status = self.preflight()
        if not (status.online and status.paper):
            raise PrinterError(f"cannot print: {status.detail}")
        path = self.directory / f"{name}.txt"
        text = "\n".join(lines) + "\n\n" + qr_text(qr_payload) + "\n"
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise PrinterError(f"cannot write receipt: {exc}") from None
        return str(path)
