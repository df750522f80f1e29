"""Tag-length-value records of EF05 and EF06 (PROTOCOL.md section 4), parsed and encoded.

Any malformed value raises :class:`CardDataCorrupt`, never another exception.
"""

from __future__ import annotations

import datetime as dt

from kiosk.domain import CardIdentity
from kiosk.errors import CardDataCorrupt

# tag -> value length
EF05_TAGS = {0x01: 16, 0x02: 1, 0x03: 4, 0x04: 12, 0x05: 4, 0x06: 4, 0x07: 9}
EF06_TAGS = {0x08: 18, 0x09: 30, 0x0A: 1, 0x0B: 1, 0x0C: 3, 0x0D: 4}


def _ascii(value: bytes, what: str) -> str:
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        raise CardDataCorrupt(f"{what} is not ASCII") from None
    if not text.isprintable():
        raise CardDataCorrupt(f"{what} holds control characters")
    return text.strip()


def _bcd_digits(value: bytes, what: str) -> str:
    digits = value.hex().upper().rstrip("F")
    if not digits.isdigit():
        raise CardDataCorrupt(f"{what} is not BCD")
    return digits


def _bcd_date(value: bytes, what: str) -> dt.date:
    digits = _bcd_digits(value, what)
    if len(digits) != 8:
        raise CardDataCorrupt(f"{what} is not a BCD date")
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise CardDataCorrupt(f"{what} is an impossible date ({digits})") from None


def _gbk_name(value: bytes) -> str:
    trimmed = value.rstrip(b"\x00\x20\xff")
    try:
        name = trimmed.decode("gbk")
    except UnicodeDecodeError:
        raise CardDataCorrupt("name is not GBK text") from None
    if not name or not name.isprintable():
        raise CardDataCorrupt("name is empty or holds control characters")
    return name


def parse_identity(records: dict[int, bytes]) -> CardIdentity:
    for tag, length in (EF05_TAGS | EF06_TAGS).items():
        if tag not in records:
            raise CardDataCorrupt(f"record {tag:02X} missing")
        if len(records[tag]) != length:
            raise CardDataCorrupt(f"record {tag:02X} has {len(records[tag])} bytes, expected {length}")
    gender = _ascii(records[0x0A], "gender")
    if gender not in {"1", "2", "9", "0"}:
        raise CardDataCorrupt(f"gender code {gender!r} unknown")
    return CardIdentity(
        card_sn=records[0x01].hex().upper(),
        card_type=_ascii(records[0x02], "card type"),
        spec_version=_ascii(records[0x03], "spec version"),
        issuer=_ascii(records[0x04], "issuing institution"),
        issue_date=_bcd_date(records[0x05], "issue date"),
        expiry_date=_bcd_date(records[0x06], "expiry date"),
        card_no=_ascii(records[0x07], "card number"),
        citizen_id=_ascii(records[0x08], "social-security number"),
        name=_gbk_name(records[0x09]),
        gender=gender,
        ethnicity=f"{records[0x0B][0]:02d}",
        birthplace=_bcd_digits(records[0x0C], "birthplace"),
        birth_date=_bcd_date(records[0x0D], "birth date"),
    )


def _bcd(digits: str, length: int) -> bytes:
    return bytes.fromhex(digits.ljust(length * 2, "F"))


def encode_identity(card: CardIdentity) -> dict[int, bytes]:
    """The inverse of :func:`parse_identity` (used by the virtual card)."""
    return {
        0x01: bytes.fromhex(card.card_sn),
        0x02: card.card_type.encode("ascii"),
        0x03: card.spec_version.encode("ascii"),
        0x04: card.issuer.encode("ascii").ljust(12, b" "),
        0x05: _bcd(card.issue_date.strftime("%Y%m%d"), 4),
        0x06: _bcd(card.expiry_date.strftime("%Y%m%d"), 4),
        0x07: card.card_no.encode("ascii"),
        0x08: card.citizen_id.encode("ascii"),
        0x09: card.name.encode("gbk").ljust(30, b" "),
        0x0A: card.gender.encode("ascii"),
        0x0B: bytes([int(card.ethnicity)]),
        0x0C: _bcd(card.birthplace, 3),
        0x0D: _bcd(card.birth_date.strftime("%Y%m%d"), 4),
    }
