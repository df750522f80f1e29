"""Enrolling clinicians from photographs: each photo checked (one face, large enough, frontal, sharp,
lit), encoded, and the templates of several photos checked to show one person, then averaged.
The photographs are read and dropped; only the template reaches the (encrypted) roster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.face_quality import QualityRules, check
from kiosk.ports import FACE_ENCODERS

from drivers.face.dlib_engine import DlibFaceEngine
from scripts.face_calibration import load_rgb

ENROL_RULES = QualityRules(min_face_px=100)


@dataclass(frozen=True)
class Distances:
    same_person: float  # photos further apart than this are not one person
    same_photo: float  # a new enrolment this close to an enrolled one is the same photograph
    lookalike: float  # this close: most likely the same person (warned: twins and look-alikes exist)


# By template size. dlib's 128-d space: its own tolerance 0.6. The arcface encoder's unit-length templates:
# the same rules in cosine similarity (0.2, 0.98, 0.5; distance = sqrt(2 - 2 cos)). Conventions for an
# enrolment's sanity checks, not fitted to data; the login decision itself uses the calibrated score.
DISTANCES = {FACE_ENCODERS["dlib"]: Distances(0.6, 0.06, 0.5), FACE_ENCODERS["arcface"]: Distances(1.26, 0.2, 1.0)}

REASONS = {
    "face.prompt.none": "no face found",
    "face.prompt.one_person": "several faces: use a photo of this person alone",
    "face.prompt.centre": "the face is cut off at the edge of the photo",
    "face.prompt.closer": "the face is too small (at least {min} pixels high; this one is {px})",
    "face.prompt.more_light": "too dark",
    "face.prompt.less_light": "too bright",
    "face.prompt.look_straight": "not looking straight at the camera",
    "face.prompt.open_eyes": "eyes closed",
    "face.prompt.hold_still": "blurred",
}


@dataclass(frozen=True)
class PhotoCheck:
    path: Path
    ok: bool
    reason: str = ""
    template: np.ndarray | None = None


def check_photo(engine: DlibFaceEngine, path: Path, rules: QualityRules = ENROL_RULES) -> PhotoCheck:
    try:
        image = load_rgb(path)
    except (OSError, ValueError) as exc:
        return PhotoCheck(path, False, f"not a readable image ({type(exc).__name__})")
    obs = engine.analyse(image, thorough=True)
    verdict = check(obs, rules)
    if verdict:
        px = obs.height if obs is not None else 0
        reason = REASONS.get(verdict, verdict).format(min=rules.min_face_px, px=px)
        if obs is not None and verdict != "face.prompt.closer":  # the size matters for every other reason
            reason += f" (the face is {px} pixels high" + (
                f"; {2 * rules.min_face_px} or more gives steadier landmarks)" if px < 2 * rules.min_face_px else ")")
        return PhotoCheck(path, False, reason)
    assert obs is not None
    return PhotoCheck(path, True, template=engine.encode(image, obs))


def combine(checks: Sequence[PhotoCheck]) -> tuple[np.ndarray | None, str]:
    """The enrolment template from the accepted photos, or None with the reason."""
    templates = [c.template for c in checks if c.ok and c.template is not None]
    if not templates:
        return None, "no usable photo"
    limit = DISTANCES[len(templates[0])].same_person
    for i in range(len(templates)):
        for j in range(i + 1, len(templates)):
            if float(np.linalg.norm(templates[i] - templates[j])) > limit:
                return None, "the photos do not show one person"
    mean = np.mean(templates, axis=0)
    unit_length = len(mean) == FACE_ENCODERS["arcface"]  # arcface templates are unit length
    return (mean / np.linalg.norm(mean) if unit_length else mean), ""


def duplicate_of(nearest: tuple[str, float] | None, staff_no: str,
                 size: int = FACE_ENCODERS["arcface"]) -> tuple[str, str]:
    """('refuse' or 'warn' or '', message) for a new template's nearest enrolled member (templates of ``size``)."""
    if nearest is None or nearest[0].lower() == staff_no.lower():
        return "", ""
    other, distance = nearest
    limits = DISTANCES[size]
    if distance < limits.same_photo:
        return "refuse", (f"the same face is already enrolled as {other} (distance {distance:.2f}): the same "
                          f"photograph under two staff numbers? remove-staff {other} first, or use other photos")
    if distance < limits.lookalike:
        return "warn", (f"this face is very close to {other}'s (distance {distance:.2f}): check it is not the same "
                        f"person enrolled twice")
    return "", ""
