"""The electronic medical-insurance voucher as scanned: an opaque string (PROTOCOL.md section 3).

Only length bounds and the character set are checked; the format is not public. Anything else that a
patient may hold up (a web link, a payment code, an empty or binary scan) is refused with a reason the
screen can explain. The payload is never logged whole (see :func:`kiosk.masking.mask_token`).
"""

from __future__ import annotations

import re

from kiosk.errors import VoucherInvalid

MIN_LENGTH, MAX_LENGTH = 16, 512
_ALLOWED = re.compile(r"[A-Za-z0-9+/=_\-.:#*]+")
_LINK = re.compile(r"^(https?://|www\.|weixin://|alipays?://)", re.IGNORECASE)
_PAYMENT_CODE = re.compile(r"\d{16,24}")  # WeChat Pay / Alipay payment codes are all digits


class VoucherRefused(VoucherInvalid):
    """``reason`` is a short key the UI translates: empty, binary, link, payment_code, length, charset."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def validate_voucher(payload: str) -> str:
    """Return the payload stripped of scanner whitespace, or raise VoucherRefused with the reason."""
    text = payload.strip("\r\n\t ")
    if not text:
        raise VoucherRefused("empty", "the scan is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in text) or "\ufffd" in text:
        raise VoucherRefused("binary", "the scan holds binary data")
    if _LINK.match(text):
        raise VoucherRefused("link", "this QR code is a web link, not a medical-insurance voucher")
    if _PAYMENT_CODE.fullmatch(text):
        raise VoucherRefused("payment_code", "this is a payment code, not a medical-insurance voucher")
    if not MIN_LENGTH <= len(text) <= MAX_LENGTH:
        raise VoucherRefused("length", f"a voucher has {MIN_LENGTH}-{MAX_LENGTH} characters, this has {len(text)}")
    if not _ALLOWED.fullmatch(text):
        raise VoucherRefused("charset", "the scan holds characters a voucher does not use")
    return text
