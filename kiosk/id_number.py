"""The resident identity card number a patient types on the kiosk's keypad (GB 11643-1999).

Checked before anything is sent, by the same rules as a card's number (:func:`kiosk.identity.citizen_id_problem`:
18 characters, 17 digits and a check character, a real birth date, the ISO 7064 MOD 11-2 check) and, typed
by hand, a birth date that is not in the future nor before 1880. A wrong number costs the patient nothing (no
platform attempt is used up); the keypad says which part looks wrong.
"""

from __future__ import annotations

import datetime as dt

from kiosk.identity import citizen_id_problem

LENGTH = 18


def id_number_problem(text: str, today: dt.date | None = None) -> str | None:
    """None when ``text`` is a valid number; else a short key the keypad translates: length, characters,
    birth_date or checksum."""
    problem = citizen_id_problem(text)
    if problem is not None:
        return problem
    number = normalised(text)
    born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    if born.year < 1880 or born > (today or dt.date.today()):
        return "birth_date"
    return None


def normalised(text: str) -> str:
    return text.strip().upper()
