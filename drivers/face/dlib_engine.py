"""Face engine: dlib finds the face and its landmarks (the models shipped with face_recognition); the
template comes from the configured encoder: ``arcface`` (drivers/face/arcface_encoder.py, 512 numbers, the
default) or ``dlib`` (dlib's own 128-d ResNet).

Pipeline per frame: HOG detection on a copy reduced to ``detect_side_px``
(a 640x480 frame costs ~7 ms instead of ~80 ms for face_recognition's default
full-frame, upsampled search), the box mapped back, 68 landmarks on the full
frame (~1 ms), quality measures on the face region; the encoding (arcface ~20 ms,
dlib ~130 ms, both with the mirror image) only for frames the caller's quality gate
passed, reusing the same landmarks for alignment.

A frame in which no face is found is searched once more on a locally equalised
copy (CLAHE on the luminance, ~2 ms): a patient with a bright window behind them
is a dark silhouette to HOG. When that copy finds the face, landmarks, quality
and the encoding are taken from the equalised frame (what the encoder sees); the
passive presentation cue from the original (what it was fitted on).

The library is imported on first use (importing this module stays cheap).
Frames are never written anywhere; templates are plain arrays owned by the caller.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from kiosk.errors import FaceEngineUnavailable
from kiosk.face_quality import FaceObservation
from kiosk.ports import FACE_ENCODERS, FaceSample, Frame, Template

SMALL_FRAME_SIDE = 400  # frames this small (photos, crops) are also searched upsampled
EQUALISE_CLIP = 3.0  # CLAHE clip limit of the second look at a frame without a face (OpenCV's examples: 2-4)


@dataclass(frozen=True)
class _Landmarks:
    """The engine-private handle of an observation: dlib's landmark object, and whether it was found
    on the equalised copy of the frame (encode must then look at the same copy)."""

    shape: Any
    equalised: bool


class DlibFaceEngine:
    def __init__(self, detect_side_px: int = 320, jitters: int = 1, *, presentation: bool = True,
                 flip: bool = True, encoder: str = "arcface") -> None:
        if encoder not in FACE_ENCODERS:
            raise ValueError(f"unknown face encoder {encoder!r}: one of {', '.join(FACE_ENCODERS)}")
        self._side, self._jitters, self._flip = detect_side_px, jitters, flip
        self._arcface: Any = None
        if encoder == "arcface":
            from drivers.face.arcface_encoder import ArcFaceEncoder

            self._arcface = ArcFaceEncoder()
        self._presentation: Any = None
        if presentation:
            from drivers.face.presentation import PresentationDetector

            self._presentation = PresentationDetector()
        self._models: Any = None
        self._load_lock = threading.Lock()

    def _lib(self) -> Any:
        with self._load_lock:
            if self._models is None:
                try:
                    import dlib
                    with warnings.catch_warnings():  # face_recognition_models imports pkg_resources, deprecated
                        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
                        import face_recognition.api as api
                except ImportError as exc:
                    raise FaceEngineUnavailable(
                        f"face_recognition/dlib not installed ({exc}): run scripts/setup.sh") from None
                self._models = (dlib, api.face_detector, api.pose_predictor_68_point, api.face_encoder)
        return self._models

    def warm_up(self) -> None:
        self._lib()
        if self._arcface is not None:
            self._arcface.warm_up()

    def detect(self, frame: Frame, *, thorough: bool = False) -> list[tuple[int, int, int, int]]:
        """Face boxes (top, right, bottom, left) in frame pixels, largest first."""
        return [_box(rect) for rect in self._detect(frame, thorough)]

    def _detect(self, frame: Frame, thorough: bool = False) -> list[Any]:
        """Fast pass on the reduced frame; a slower upsampled pass only for small frames or ``thorough``.

        Crops whose face touches the border (ID photos, 112 px chips) are padded first: HOG needs
        some context around a face.
        """
        return self._search(frame, thorough)[0]

    def _search(self, frame: Frame, thorough: bool) -> tuple[list[Any], bool]:
        """(boxes, whether they were found on the equalised copy)."""
        rects = self._search_plain(frame, thorough)
        if rects:
            return rects, False
        return self._search_plain(equalised(frame), thorough), True

    def _search_plain(self, frame: Frame, thorough: bool) -> list[Any]:
        dlib, detector, _, _ = self._lib()
        height, width = frame.shape[:2]
        scale = min(1.0, self._side / max(height, width))
        small = frame if scale == 1.0 else _resize(frame, scale)
        rects = list(detector(np.ascontiguousarray(small), 0))
        shift = 0
        if not rects and (thorough or max(height, width) <= SMALL_FRAME_SIDE):
            scale, tiny = 1.0, max(height, width) <= 200
            shift = max(height, width) // 4 if tiny else 0
            search = _pad(frame, shift) if shift else frame
            rects = list(detector(np.ascontiguousarray(search), 2 if tiny else 1))
        mapped = [dlib.rectangle(max(0, int(r.left() / scale) - shift), max(0, int(r.top() / scale) - shift),
                                 min(width - 1, int(r.right() / scale) - shift),
                                 min(height - 1, int(r.bottom() / scale) - shift))
                  for r in rects]
        return sorted(mapped, key=lambda r: r.area(), reverse=True)

    def analyse(self, frame: Frame, *, thorough: bool = False) -> FaceObservation | None:
        """Largest face with landmarks and quality measures, or None when no face is found.

        ``thorough`` (enrolment photos, calibration stills) also searches the full frame upsampled.
        """
        rects, was_equalised = self._search(frame, thorough)
        if not rects:
            return None
        _, _, predictor, _ = self._lib()
        rect = rects[0]
        view = equalised(frame) if was_equalised else frame
        shape = predictor(np.ascontiguousarray(view), rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        sharpness, brightness = _region_quality(view, _box(rect))
        attack = None if self._presentation is None else self._presentation.attack_probability(frame, _box(rect))
        return FaceObservation(
            box=_box(rect), landmarks=points, faces_in_view=len(rects),
            second_face_area=int(rects[1].area()) if len(rects) > 1 else 0,
            frame_size=(frame.shape[0], frame.shape[1]), sharpness=sharpness, brightness=brightness,
            handle=_Landmarks(shape, was_equalised), attack_probability=attack)

    def encode(self, frame: Frame, obs: FaceObservation) -> Template:
        """The mean of the face's template and its mirror image's (test-time flip: faces are nearly
        symmetric, lighting and pose residue are not; on the development people it lowered the
        impostor scores of look-alikes at twice the encoding time)."""
        dlib, _, predictor, encoder = self._lib()
        handle: _Landmarks = obs.handle
        image = np.ascontiguousarray(equalised(frame) if handle.equalised else frame)
        if self._arcface is not None:
            return self._arcface.encode(image, obs.landmarks, flip=self._flip)
        direct = np.asarray(encoder.compute_face_descriptor(image, handle.shape, self._jitters), dtype=np.float64)
        if not self._flip:
            return direct
        width = image.shape[1]
        top, right, bottom, left = obs.box
        mirrored = np.ascontiguousarray(image[:, ::-1])
        rect = dlib.rectangle(width - 1 - right, top, width - 1 - left, bottom)
        flipped = np.asarray(encoder.compute_face_descriptor(mirrored, predictor(mirrored, rect), self._jitters),
                             dtype=np.float64)
        return (direct + flipped) / 2.0

    def encode_largest_face(self, frame: Frame, *, thorough: bool = False) -> FaceSample | None:
        obs = self.analyse(frame, thorough=thorough)
        if obs is None:
            return None
        return FaceSample(box=obs.box, template=self.encode(frame, obs))


def equalised(frame: Frame) -> Frame:
    """The frame with its luminance locally equalised (CLAHE on L of Lab), colours kept."""
    import cv2

    lab = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=EQUALISE_CLIP, tileGridSize=(8, 8)).apply(lab[:, :, 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def _box(rect: Any) -> tuple[int, int, int, int]:
    return int(rect.top()), int(rect.right()), int(rect.bottom()), int(rect.left())


def _region_quality(frame: Frame, box: tuple[int, int, int, int]) -> tuple[float, float]:
    import cv2

    top, right, bottom, left = box
    region = frame[max(0, top):bottom, max(0, left):right]
    if region.size == 0:
        return 0.0, 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_RGB2GRAY)
    scaled = cv2.resize(grey, (100, 100), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(scaled, cv2.CV_64F).var()), float(grey.mean())


def _pad(frame: Frame, border: int) -> Frame:
    import cv2

    return cv2.copyMakeBorder(frame, border, border, border, border, cv2.BORDER_REPLICATE)


def _resize(frame: Frame, scale: float) -> Frame:
    import cv2

    return cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
