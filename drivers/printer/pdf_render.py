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
    rgb = image[:, :, :3] if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(rgb[:, :, ::-1]) if image.ndim == 3 else rgb  # PDFium renders BGR(A)
