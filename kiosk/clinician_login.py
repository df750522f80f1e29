"""Clinician login: face plus positioning, both required (pure state machine).

LOCKED --StaffChosen--> FACE --FaceResult(match, live)--> POSITION --PositionResult(accepted)--> SESSION
Any refusal goes to REFUSED (reason shown and audited) and back to LOCKED when acknowledged. A session
locks again on idle, when the clinician's face has been absent too long, or on logout. There is no
transition from FACE to SESSION, and no setting that adds one: neither factor can be skipped.

Every attempt and every lock becomes an audit event (effects ``RecordAudit``), never with an image.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kiosk.audit import AUDIT_KIND
from kiosk.domain import FaceMatch
from kiosk.position import PositionVerdict


class LoginState(Enum):
    LOCKED = "locked"
    FACE = "face"
    POSITION = "position"
    SESSION = "session"
    REFUSED = "refused"


# events
@dataclass(frozen=True)
class StaffChosen:
    staff_no: str


@dataclass(frozen=True)
class FaceResult:
    match: FaceMatch | None  # None: the check could not run (``error`` says why)
    band: str = ""
    error: str = ""  # unknown_staff, no_face, camera, ...
    attempt: int | None = None  # the attempt it answers (VerifyStaffFace.attempt); a stale one is ignored


@dataclass(frozen=True)
class PositionResult:
    verdict: PositionVerdict


@dataclass(frozen=True)
class Acknowledged:
    pass


@dataclass(frozen=True)
class IdleTimeout:
    pass


@dataclass(frozen=True)
class FaceAbsent:
    pass


@dataclass(frozen=True)
class Logout:
    pass


@dataclass(frozen=True)
class Cancelled:
    """The clinician (or whoever stands there) stops the login before it is decided."""


Event = StaffChosen | FaceResult | PositionResult | Acknowledged | IdleTimeout | FaceAbsent | Logout | Cancelled


# effects
@dataclass(frozen=True)
class VerifyStaffFace:
    staff_no: str
    attempt: int = 0  # numbered, so that the answer of a cancelled attempt never decides the next one


@dataclass(frozen=True)
class CheckPosition:
    pass


@dataclass(frozen=True)
class RecordAudit:
    event: dict[str, Any]


@dataclass(frozen=True)
class WipeSession:
    pass


Effect = VerifyStaffFace | CheckPosition | RecordAudit | WipeSession


@dataclass
class Attempt:
    staff_no: str = ""
    number: int = 0
    face: dict[str, Any] = field(default_factory=dict)
    position: dict[str, Any] = field(default_factory=dict)


class ClinicianLogin:
    def __init__(self, terminal_no: str, clock: Callable[[], dt.datetime]) -> None:
        self._terminal, self._clock = terminal_no, clock
        self.state = LoginState.LOCKED
        self.reason = ""
        self.attempt = Attempt()
        self.staff_no = ""  # the logged-in clinician, in SESSION

    def handle(self, event: Event) -> list[Effect]:
        match self.state, event:
            case LoginState.LOCKED, StaffChosen(staff_no=staff_no):
                self.attempt, self.reason = Attempt(staff_no=staff_no, number=self.attempt.number + 1), ""
                self.state = LoginState.FACE
                return [VerifyStaffFace(staff_no, self.attempt.number)]
            case LoginState.FACE, FaceResult() as result if result.attempt in (None, self.attempt.number):
                return self._on_face(result)
            case (LoginState.FACE | LoginState.POSITION), Cancelled():
                audit = RecordAudit(self._attempt_event(accepted=False, reason="cancelled"))
                self.state, self.reason = LoginState.LOCKED, "cancelled"
                return [audit, WipeSession()]
            case LoginState.POSITION, PositionResult(verdict=verdict):
                self.attempt.position = verdict.as_audit()
                if not verdict.accepted:
                    return self._refuse(verdict.reason)
                self.state, self.staff_no = LoginState.SESSION, self.attempt.staff_no
                return [RecordAudit(self._attempt_event(accepted=True, reason=""))]
            case LoginState.REFUSED, Acknowledged():
                self.state, self.reason = LoginState.LOCKED, ""
                return []
            case LoginState.SESSION, IdleTimeout() | FaceAbsent() | Logout():
                why = {IdleTimeout: "idle", FaceAbsent: "face_absent", Logout: "logout"}[type(event)]
                audit = RecordAudit(self._event("clinician_session_locked", staff_no=self.staff_no, reason=why))
                self.state, self.staff_no, self.reason = LoginState.LOCKED, "", why
                return [audit, WipeSession()]
            case (LoginState.FACE | LoginState.POSITION), IdleTimeout():
                return self._refuse("timeout")
        return []  # anything else is ignored in this state (e.g. a late result after a lock)

    def _on_face(self, result: FaceResult) -> list[Effect]:
        if result.match is None:
            self.attempt.face = {"error": result.error}
            return self._refuse(result.error or "face_unavailable")
        match = result.match
        self.attempt.face = {"verdict": match.verdict, "band": result.band, "liveness": match.liveness}
        if not match.accepted:
            if match.verdict != "match":
                return self._refuse("face_mismatch" if match.verdict == "mismatch" else "face_uncertain")
            return self._refuse("liveness_failed")
        self.state = LoginState.POSITION
        return [CheckPosition()]

    def _refuse(self, reason: str) -> list[Effect]:
        self.state, self.reason = LoginState.REFUSED, reason
        return [RecordAudit(self._attempt_event(accepted=False, reason=reason)), WipeSession()]

    def _attempt_event(self, *, accepted: bool, reason: str) -> dict[str, Any]:
        return self._event("clinician_login", staff_no=self.attempt.staff_no, accepted=accepted, reason=reason,
                           face=self.attempt.face, position=self.attempt.position)

    def _event(self, name: str, **fields: Any) -> dict[str, Any]:
        return {"type": AUDIT_KIND, "event_id": uuid.uuid4().hex, "event": name,
                "at": self._clock().isoformat(timespec="seconds"), "terminal": self._terminal, **fields}
