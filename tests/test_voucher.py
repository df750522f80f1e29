"""Scanned voucher payloads: opaque, checked for length and characters only; everything else refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.errors import VoucherInvalid
from kiosk.masking import mask_token
from kiosk.voucher import MAX_LENGTH, VoucherRefused, validate_voucher

from ui.i18n import CATALOG

GOOD = "AhmDz3Xz9F2k7Qw1Lr8TnV5bYc0Hs4Jp6GmE"


def test_a_voucher_passes_and_scanner_suffixes_are_trimmed() -> None:
    assert validate_voucher(GOOD + "\r\n") == GOOD
    assert mask_token(GOOD) == GOOD[:4] + "*" * (len(GOOD) - 8) + GOOD[-4:]  # never logged whole


@pytest.mark.parametrize(("payload", "reason"), [
    ("", "empty"), ("\r\n", "empty"),
    ("https://example.com/pay?x=1", "link"), ("www.example.com", "link"), ("weixin://wxpay/bizpayurl?pr=1", "link"),
    ("134567890123456789", "payment_code"), ("2812345678901234567890", "payment_code"),
    ("short", "length"), ("A" * (MAX_LENGTH + 1), "length"),
    ("医保电子凭证二维码内容长度足够但字符不对", "charset"), ("ABCDEFGHIJKLMNOP QRST", "charset"),
    ("ABCDEFGHIJ\x00KLMNOPQRST", "binary"), ("ABCDEFGHIJ\ufffdKLMNOP", "binary"),
])
def test_garbage_is_refused_with_a_reason_the_screen_can_say(payload: str, reason: str) -> None:
    with pytest.raises(VoucherRefused) as err:
        validate_voucher(payload)
    assert err.value.reason == reason and err.value.code == 250
    assert f"voucher.{reason}" in CATALOG and set(CATALOG[f"voucher.{reason}"]) == {"zh_CN", "en"}


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=600))
def test_any_scan_gives_a_voucher_or_a_voucher_error(payload: str) -> None:
    try:
        result = validate_voucher(payload)
    except VoucherInvalid as exc:
        assert exc.code == 250
    else:
        assert 16 <= len(result) <= MAX_LENGTH and result == result.strip()
