"""Quality gate: only frames a patient can be fairly judged on are encoded.

Pure: the engine measures (box, landmarks, sharpness, exposure), this module
decides and names the prompt the patient sees (keys into the UI catalogue).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kiosk.liveness import eye_openness, yaw_proxy


@dataclass(frozen=True)
class FaceObservation:
    """What the engine saw of the largest face in one frame. Holds no pixels."""

    box: tuple[int, int, int, int]  # top, right, bottom, left in frame pixels
    landmarks: npt.NDArray[np.float64]  # 68 x 2
    faces_in_view: int
    second_face_area: int  # area of the next-largest face (0 if none)
    frame_size: tuple[int, int]  # height, width
    sharpness: float  # variance of the Laplacian on the face, scaled to 100 px height
    brightness: float  # mean grey level of the face, 0-255
    handle: Any = None  # engine-private (the landmark object), needed to encode
    attack_probability: float | None = None  # passive screen/print cue of the face (None: not measured)

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def area(self) -> int:
        return (self.box[2] - self.box[0]) * (self.box[1] - self.box[3])


@dataclass(frozen=True)
class QualityRules:
    min_face_px: int = 100
    border_px: int = 4
    min_sharpness: float = 40.0
    min_brightness: float = 50.0
    max_brightness: float = 215.0
    max_yaw: float = 0.15
    max_roll_deg: float = 15.0
    min_eye_openness: float = 0.15
    crowd_ratio: float = 0.6  # a second face at least this large relative to the first: ask for one person


def check(obs: FaceObservation | None, rules: QualityRules | None = None) -> str:
    """"" when the frame is good enough to encode, else the prompt key telling the patient what to do."""
    r = rules or QualityRules()
    if obs is None:
        return "face.prompt.none"
    if obs.second_face_area >= r.crowd_ratio * obs.area:
        return "face.prompt.one_person"
    top, right, bottom, left = obs.box
    height, width = obs.frame_size
    if top < r.border_px or left < r.border_px or bottom > height - r.border_px or right > width - r.border_px:
        return "face.prompt.centre"
    if obs.height < r.min_face_px:
        return "face.prompt.closer"
    if obs.brightness < r.min_brightness:
        return "face.prompt.more_light"
    if obs.brightness > r.max_brightness:
        return "face.prompt.less_light"
    if abs(yaw_proxy(obs.landmarks)) > r.max_yaw or abs(roll_degrees(obs.landmarks)) > r.max_roll_deg:
        return "face.prompt.look_straight"
    if eye_openness(obs.landmarks) < r.min_eye_openness:
        return "face.prompt.open_eyes"
    if obs.sharpness < r.min_sharpness:
        return "face.prompt.hold_still"
    return ""


def roll_degrees(points: npt.NDArray[np.float64]) -> float:
    left_eye, right_eye = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    dx, dy = right_eye - left_eye
    return float(np.degrees(np.arctan2(dy, dx)))


# ---- when no face is found at all ------------------------------------------------------------------

BACKLIGHT_SATURATED_SHARE = 0.08  # a window or lamp in view: this share of the frame burnt out
NO_FACE_HINT_S = 2.0  # after this long without any face, say why it may be


def no_face_prompt(frame: npt.NDArray[np.uint8] | None) -> str:
    """What to tell a patient in front of whom no face is found: step out of the backlight when the
    frame is partly burnt out (the face is then a dark shape the detector misses), else take off what
    covers the face (a mask, a hat, sunglasses: the detector needs eyes, nose and mouth)."""
    if frame is None or frame.ndim != 3 or frame.size == 0:
        return "face.prompt.none"
    sample = frame[::8, ::8].astype(np.float64).mean(axis=2)
    return "face.prompt.backlight" if float((sample > 240).mean()) >= BACKLIGHT_SATURATED_SHARE \
        else "face.prompt.uncover"
