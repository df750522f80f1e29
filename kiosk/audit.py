"""Audit events: what happened, to whom (masked), where and when; never an image, never a full ID.

Events are committed to the outbox (kind ``audit``) like settlements and delivered in order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from kiosk.domain import FaceMatch, InsuredPerson
from kiosk.face_score import OperatingPoint, score_band
from kiosk.masking import mask_id

AUDIT_KIND = "audit"
AUDIT_STREAM = "audit"  # one ordered stream: events are delivered in the order they happened


def _event(name: str, terminal_no: str, when: dt.datetime, **fields: Any) -> dict[str, Any]:
    """The fields every audit event has, then ``fields``."""
    return {
        "type": AUDIT_KIND,
        "event_id": uuid.uuid4().hex,  # lets the receiver drop a copy delivered twice
        "event": name,
        "at": when.isoformat(timespec="seconds"),
        "terminal": terminal_no,
        **fields,
    }


def face_verification_event(person: InsuredPerson, match: FaceMatch, *, attempt: int, point: OperatingPoint,
                            terminal_no: str, when: dt.datetime) -> dict[str, Any]:
    return _event("patient_face_verification", terminal_no, when, subject=mask_id(person.psn_no), attempt=attempt,
                  accepted=match.accepted,
                  band=score_band(match.score, point),  # a coarse band, never the score or a template
                  verdict=match.verdict, liveness=match.liveness)


def face_identification_event(id_no: str, *, verdict: str, reason: str, liveness: str, attempt: int,
                              terminal_no: str, when: dt.datetime) -> dict[str, Any]:
    """Face swipe through the voucher platform: the verdict and why, with the ID number masked; never the
    frame, a template or the whole number."""
    return _event("patient_face_identification", terminal_no, when, subject=mask_id(id_no), attempt=attempt,
                  verdict=verdict,  # identified, refused, not_sent
                  reason=reason, liveness=liveness)


def invoice_printed_event(invoice_no: str, *, job: str, terminal_no: str, when: dt.datetime) -> dict[str, Any]:
    """An electronic invoice printed on this kiosk's A4 printer (the e-invoice service holds the mark)."""
    return _event("einvoice_printed", terminal_no, when, invoice_no=invoice_no, job=job)
