"""A PDF's first page as an RGB image, for the on-screen preview of an electronic invoice, rendered with
PDFium (``pypdfium2``: Apache-2.0/BSD-3-Clause, the renderer Chromium uses). PDFium is not thread-safe:
renders are serialised."""

from __future__ import annotations

import threading

import numpy as np

from kiosk.errors import GatewayProtocolError

_LOCK = threading.Lock()
MAX_PAGES = 20


def first_page_rgb(pdf: bytes, width_px: int = 760) -> np.ndarray:
    """The first page scaled to ``width_px`` wide (H x W x 3, uint8). A document PDFium cannot open is the
    service's fault: GatewayProtocolError."""
    import pypdfium2 as pdfium

    with _LOCK:
        try:
            document = pdfium.PdfDocument(pdf)
        except pdfium.PdfiumError as exc:
            raise GatewayProtocolError(f"the invoice is not a readable PDF ({exc})") from None
        try:
            if not 1 <= len(document) <= MAX_PAGES:
                raise GatewayProtocolError(f"the invoice has {len(document)} pages")
            page = document[0]
            scale = width_px / max(page.get_width(), 1.0)
            image = page.render(scale=scale).to_numpy()
            page.close()
        finally:
            document.close()
    rgb = image[:, :, 2::-1] if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)  # PDFium: BGR(A)
    return np.ascontiguousarray(_trimmed(rgb))


def _trimmed(rgb: np.ndarray, margin: int = 16, gap: float = 0.2) -> np.ndarray:
    """The page's content without its empty margins, down to the first blank stretch taller than ``gap`` of
    the page (a footer far below is left out): the preview shows what matters larger."""
    inked = (rgb < 235).any(axis=2)
    rows, cols = np.where(inked.any(axis=1))[0], np.where(inked.any(axis=0))[0]
    if rows.size == 0:
        return rgb
    breaks = np.where(np.diff(rows) > gap * rgb.shape[0])[0]
    last = rows[breaks[0]] if breaks.size else rows[-1]
    top, bottom = max(0, rows[0] - margin), min(rgb.shape[0], last + margin)
    left, right = max(0, cols[0] - margin), min(rgb.shape[1], cols[-1] + margin)
    return rgb[top:bottom, left:right]
