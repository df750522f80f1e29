"""Identity rules: the GB 11643 citizen number and card validity."""

from __future__ import annotations

import datetime as dt

from kiosk.domain import CardIdentity, CertType, IdentityDocument
from kiosk.errors import CardExpired, InvalidCitizenId

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def citizen_id_check_char(first17: str) -> str:
    """The 18th character of a citizen number (ISO 7064 MOD 11-2)."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


_PROBLEMS = {"length": "citizen number must be 17 digits and a check character",
             "characters": "citizen number must be 17 digits and a check character",
             "birth_date": "citizen number holds an impossible birth date",
             "checksum": "citizen number check digit does not match"}


def citizen_id_problem(value: str) -> str | None:
    """None for a well-formed number; else why not, as a short key: length, characters, birth_date
    (impossible as a date) or checksum. Shared by the card check and the face-swipe keypad."""
    number = value.strip().upper()
    if len(number) != 18:
        return "length"
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return "characters"
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "birth_date"
    if citizen_id_check_char(number[:17]) != number[17]:
        return "checksum"
    return None


def validate_citizen_id(value: str) -> str:
    """Return the normalised 18-character number or raise InvalidCitizenId with the reason."""
    problem = citizen_id_problem(value)
    if problem is not None:
        raise InvalidCitizenId(_PROBLEMS[problem])
    return value.strip().upper()


def document_from_card(card: CardIdentity, today: dt.date) -> IdentityDocument:
    """Check the card is usable today and map it to the 1101 input (type 03)."""
    if card.expiry_date < today:
        raise CardExpired(f"card expired on {card.expiry_date.isoformat()}")
    citizen_id = validate_citizen_id(card.citizen_id)
    return IdentityDocument(
        cert_type=CertType.SOCIAL_SECURITY_CARD,
        cert_no=card.card_no,
        card_sn=card.card_sn,
        citizen_id=citizen_id,
        name=card.name,
    )
