"""Audit events: what happened, to whom (masked), where and when; never an image, never a full ID.

Events are committed to the outbox (kind ``audit``) like settlements and delivered in order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from kiosk.domain import FaceMatch, InsuredPerson
from kiosk.masking import mask_id

AUDIT_KIND = "audit"
AUDIT_STREAM = "audit"  # one ordered stream: events are delivered in the order they happened


def score_band(distance: float, threshold: float) -> str:
    """A coarse band instead of the raw score (enough for audit, useless for reconstructing a face)."""
    if distance <= threshold * 0.75:
        return "strong_match"
    if distance <= threshold:
        return "match"
    if distance <= threshold * 1.25:
        return "grey_zone"
    return "mismatch"


def face_verification_event(person: InsuredPerson, match: FaceMatch, *, attempt: int, threshold: float,
                            terminal_no: str, when: dt.datetime) -> dict[str, Any]:
    return {
        "type": AUDIT_KIND,
        "event_id": uuid.uuid4().hex,  # lets the receiver drop a copy delivered twice
        "event": "patient_face_verification",
        "at": when.isoformat(timespec="seconds"),
        "terminal": terminal_no,
        "subject": mask_id(person.psn_no),
        "attempt": attempt,
        "accepted": match.accepted,
        "band": score_band(match.distance, threshold),
        "liveness": match.liveness,
    }
