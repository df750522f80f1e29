"""Runs the clinician login's effects against the ports: the roster, the face verifier, the location source."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from kiosk import clinician_login as cl
from kiosk.errors import KioskError
from kiosk.face_check import FaceVerifier, NoFaceFound, NoReferenceFace
from kiosk.face_score import OperatingPoint, score_band
from kiosk.ports import LocationSource, PositionReading, StaffRoster
from kiosk.position import SITE_CONTRADICTION, UNAVAILABLE, PositionVerdict

log = logging.getLogger(__name__)


class LoginEffects:
    def __init__(self, *, roster: StaffRoster, face: FaceVerifier, point: OperatingPoint, location: LocationSource,
                 judge: Callable[[PositionReading | None, PositionReading | None], PositionVerdict],
                 audit: Callable[[dict[str, Any]], None]) -> None:
        self._roster, self._face, self._point = roster, face, point
        self._location, self._judge, self._audit = location, judge, audit
        self._last_accepted: PositionReading | None = None

    def run(self, effect: cl.Effect) -> cl.Event | None:
        match effect:
            case cl.VerifyStaffFace(staff_no=staff_no, attempt=attempt):
                return dataclasses.replace(self._verify(staff_no), attempt=attempt)
            case cl.CheckPosition():
                return cl.PositionResult(self._position())
            case cl.RecordAudit(event=event):
                self._audit(event)
                return None
            case cl.WipeSession():
                self._face.wipe()
                return None
        raise AssertionError(f"unhandled effect {effect!r}")

    def _verify(self, staff_no: str) -> cl.FaceResult:
        member = self._roster.get(staff_no)
        if member is None or member.template is None:
            return cl.FaceResult(None, error="unknown_staff")
        try:
            match = self._face.verify_template(member.template)
        except NoFaceFound:
            return cl.FaceResult(None, error="no_face")
        except NoReferenceFace as exc:  # enrolled with the other face encoder: only enrolling again helps
            log.warning("clinician face check refused: %s", exc)
            return cl.FaceResult(None, error="enrol_again")
        except KioskError as exc:
            log.warning("clinician face check failed: %s", exc)
            return cl.FaceResult(None, error="face_unavailable")
        finally:
            member.template.fill(0.0)
        return cl.FaceResult(match, band=score_band(match.score, self._point))

    def _position(self) -> PositionVerdict:
        try:
            reading = self._location.current()
        except KioskError as exc:
            log.warning("location source failed: %s", exc)
            return PositionVerdict(False, UNAVAILABLE)
        if reading is None and getattr(self._location, "healthy", True) is False:
            return PositionVerdict(False, UNAVAILABLE)
        verdict = self._judge(reading, self._last_accepted)
        if verdict.reason == SITE_CONTRADICTION:  # a workstation moved, or a receiver spoofed: staff must look
            log.critical("TAMPER ALARM: the live position contradicts this workstation's provisioned site "
                         "(%.0f m away)", -(verdict.edge_m or 0.0))
        if verdict.accepted:
            self._last_accepted = reading
        return verdict
