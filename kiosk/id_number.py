"""The resident identity card number a patient types on the kiosk's keypad (GB 11643-1999).

Checked before anything is sent: 18 characters, 17 digits and a check character (0-9 or X), a real birth
date, and the ISO 7064 MOD 11-2 check. A wrong number costs the patient nothing (no platform attempt is
used up); the keypad says which part looks wrong.
"""

from __future__ import annotations

import datetime as dt

LENGTH = 18
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_character(first17: str) -> str:
    """The 18th character for the first 17 digits."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def id_number_problem(text: str, today: dt.date | None = None) -> str | None:
    """None when ``text`` is a valid number; else a short key the keypad translates: length, characters,
    birth_date or checksum."""
    number = text.strip().upper()
    if len(number) != LENGTH:
        return "length"
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return "characters"
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "birth_date"
    if born.year < 1880 or born > (today or dt.date.today()):
        return "birth_date"
    if check_character(number[:17]) != number[17]:
        return "checksum"
    return None


def normalised(text: str) -> str:
    return text.strip().upper()
