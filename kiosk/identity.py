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


def validate_citizen_id(value: str) -> str:
    """Return the normalised 18-character number or raise InvalidCitizenId with the reason."""
    number = value.strip().upper()
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidCitizenId("citizen number must be 17 digits and a check character")
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidCitizenId("citizen number holds an impossible birth date") from None
    if citizen_id_check_char(number[:17]) != number[17]:
        raise InvalidCitizenId("citizen number check digit does not match")
    return number


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
