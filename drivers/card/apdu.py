"""APDUs for the social-security application and the status-word rules (pure, byte-tested).

``read_identity(transmit)`` runs the whole read over any transport that moves
bytes: ``transmit(apdu) -> response`` where the response ends with SW1 SW2.
"""

from __future__ import annotations

from collections.abc import Callable

from kiosk.domain import CardIdentity
from kiosk.errors import CardDataCorrupt, CardError, NotSocialSecurityCard

from drivers.card.records import EF05_TAGS, EF06_TAGS, parse_identity

SSC_AID = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")  # "sx1.sh.社会保障" in GBK
SW_OK = 0x9000

Transmit = Callable[[bytes], bytes]


class StatusWordError(CardError):
    """The card refused a command with a status word other than 9000/61xx/6Cxx."""

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(message)
        self.sw = sw


def select_by_name(aid: bytes = SSC_AID) -> bytes:
    return bytes([0x00, 0xA4, 0x04, 0x00, len(aid)]) + aid


def select_ef(fid: int) -> bytes:
    return bytes([0x00, 0xA4, 0x02, 0x00, 0x02, fid >> 8, fid & 0xFF])


def read_record(tag: int, le: int) -> bytes:
    return bytes([0x00, 0xB2, tag, 0x00, le & 0xFF])


def get_response(le: int) -> bytes:
    return bytes([0x00, 0xC0, 0x00, 0x00, le & 0xFF])


_SW_MEANING = {
    0x6A82: "file or application not found",
    0x6982: "security status not satisfied",
    0x6D00: "instruction not supported",
    0x6E00: "class not supported",
    0x6700: "wrong length",
    0x6A83: "record not found",
}


def exchange(transmit: Transmit, apdu: bytes) -> bytes:
    """Send one command, following 61xx (GET RESPONSE) and 6Cxx (resend with Le=xx).

    Returns the data without SW; raises CardError naming the status word otherwise.
    """
    data = b""
    response = transmit(apdu)
    for _ in range(8):  # bounded: a card that keeps asking is broken
        if len(response) < 2:
            raise CardDataCorrupt(f"card answered {len(response)} bytes, no status word")
        body, sw = response[:-2], (response[-2] << 8) | response[-1]
        if sw == SW_OK:
            return data + body
        if sw >> 8 == 0x61:
            data += body
            response = transmit(get_response(sw & 0xFF))
        elif sw >> 8 == 0x6C:
            response = transmit(apdu[:-1] + bytes([sw & 0xFF]))
        else:
            meaning = _SW_MEANING.get(sw, "unknown")
            raise StatusWordError(f"card refused {apdu[:4].hex().upper()}: SW {sw:04X} ({meaning})", sw)
    raise CardDataCorrupt("card kept asking for more exchanges")


def _read_file(transmit: Transmit, fid: int, tags: dict[int, int]) -> dict[int, bytes]:
    exchange(transmit, select_ef(fid))
    records: dict[int, bytes] = {}
    for tag, length in tags.items():
        raw = exchange(transmit, read_record(tag, length + 2))
        if len(raw) < 2 or raw[0] != tag or raw[1] != len(raw) - 2:
            raise CardDataCorrupt(f"record {tag:02X} of EF{fid & 0xFF:02X} is malformed")
        records[tag] = raw[2:]
    return records


def read_identity(transmit: Transmit) -> CardIdentity:
    """Select the application, read EF05 and EF06, parse them."""
    try:
        exchange(transmit, select_by_name())
    except StatusWordError:
        raise NotSocialSecurityCard("this card has no social-security application") from None
    records = _read_file(transmit, 0xEF05, EF05_TAGS)
    records |= _read_file(transmit, 0xEF06, EF06_TAGS)
    return parse_identity(records)
