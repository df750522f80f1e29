"""A virtual third-generation social-security card: the APDU side of the card.

``VirtualSocialSecurityCard.process(apdu)`` answers like a real card's
social-security application. It is used in-process by
:class:`drivers.card.inprocess_reader.InProcessCardReader` and over the vpcd
protocol by the PC/SC twin. Faults are injected per card (see ``Fault``).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path

from kiosk.domain import CardIdentity

from drivers.card.apdu import SSC_AID
from drivers.card.records import encode_identity

ATR = bytes.fromhex("3B6C00000010100000000000000000000000")  # a plausible T=0 ATR


class Fault(str, Enum):
    NONE = "none"
    NOT_SSC = "not_ssc"  # 6A82 on SELECT of the application
    CORRUPT_TLV = "corrupt_tlv"  # a record whose length byte lies
    WRONG_LENGTH = "wrong_length"  # 6Cxx asked, then still the wrong length
    REMOVED_MID_READ = "removed_mid_read"  # the card goes away after a few commands
    MUTE = "mute"  # no answer at all


@dataclass
class VirtualSocialSecurityCard:
    identity: CardIdentity
    fault: Fault = Fault.NONE
    remove_after: int = 5  # commands answered before REMOVED_MID_READ strikes
    _records: dict[int, bytes] = field(init=False)
    _selected_app: bool = field(default=False, init=False)
    _selected_ef: int = field(default=0, init=False)
    commands: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._records = encode_identity(self.identity)

    @property
    def atr(self) -> bytes:
        return ATR

    @property
    def present(self) -> bool:
        return not (self.fault is Fault.REMOVED_MID_READ and self.commands >= self.remove_after)

    def reset(self) -> None:
        self._selected_app, self._selected_ef = False, 0

    def process(self, apdu: bytes) -> bytes | None:
        """Answer one command APDU (data + SW1 SW2); None means the card is mute or gone."""
        if self.fault is Fault.MUTE or not self.present:
            return None
        self.commands += 1
        if len(apdu) < 4:
            return b"\x67\x00"
        cla, ins, p1, p2 = apdu[:4]
        if cla != 0x00:
            return b"\x6E\x00"
        if ins == 0xA4:
            return self._select(p1, apdu[5:5 + apdu[4]] if len(apdu) > 5 else b"")
        if ins == 0xB2:
            return self._read_record(p1, apdu[4] if len(apdu) > 4 else 0)
        return b"\x6D\x00"

    def _select(self, p1: int, data: bytes) -> bytes:
        if p1 == 0x04:
            if data != SSC_AID or self.fault is Fault.NOT_SSC:
                return b"\x6A\x82"
            self._selected_app, self._selected_ef = True, 0
            return b"\x90\x00"
        if p1 == 0x02 and self._selected_app and data in (b"\xEF\x05", b"\xEF\x06"):
            self._selected_ef = int.from_bytes(data, "big")
            return b"\x90\x00"
        return b"\x6A\x82"

    def _read_record(self, tag: int, le: int) -> bytes:
        allowed = range(0x01, 0x08) if self._selected_ef == 0xEF05 else range(0x08, 0x0E)
        if not self._selected_ef or tag not in allowed:
            return b"\x6A\x83"
        value = self._records[tag]
        record = bytes([tag, len(value)]) + value
        if self.fault is Fault.CORRUPT_TLV and tag == 0x08:
            record = bytes([tag, len(value) + 3]) + value
        if self.fault is Fault.WRONG_LENGTH:
            return bytes([0x6C, (len(record) + 1) & 0xFF])
        if le not in (0, len(record)):
            return bytes([0x6C, len(record)])
        return record + b"\x90\x00"


def _identity_from_table(row: dict[str, object]) -> CardIdentity:
    def day(key: str) -> dt.date:
        value = row[key]
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))

    return CardIdentity(
        card_sn=str(row["card_sn"]), card_type=str(row["card_type"]), spec_version=str(row["spec_version"]),
        issuer=str(row["issuer"]), issue_date=day("issue_date"), expiry_date=day("expiry_date"),
        card_no=str(row["card_no"]), citizen_id=str(row["citizen_id"]), name=str(row["name"]),
        gender=str(row["gender"]), ethnicity=str(row["ethnicity"]), birthplace=str(row["birthplace"]),
        birth_date=day("birth_date"),
    )


def load_holders(path: Path | None = None) -> dict[str, CardIdentity]:
    """Card holders by key, from a TOML file (default: the bundled demo holders)."""
    if path is None:
        text = resources.files("drivers.card").joinpath("demo_holders.toml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return {str(row["key"]): _identity_from_table(row) for row in tomllib.loads(text)["holder"]}
