"""Face engine over dlib (face_recognition): HOG detection on a reduced frame, 128-d encoding.

The library is imported on first use (importing this module stays cheap).
Frames are never written anywhere; templates are plain arrays owned by the caller.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from kiosk.errors import FaceEngineUnavailable
from kiosk.ports import FaceSample, Frame, Template


class DlibFaceEngine:
    """Detection on a frame scaled so its longer side is ``detect_side_px``; boxes mapped back."""

    def __init__(self, detect_side_px: int = 480, upsample: int = 1) -> None:
        self._side, self._upsample = detect_side_px, upsample
        self._fr: Any = None
        self._load_lock = threading.Lock()

    def _lib(self) -> Any:
        with self._load_lock:
            if self._fr is None:
                try:
                    import face_recognition
                except ImportError as exc:
                    raise FaceEngineUnavailable(
                        f"face_recognition/dlib not installed ({exc}): run scripts/setup.sh") from None
                self._fr = face_recognition
        return self._fr

    def warm_up(self) -> None:
        self._lib()

    def detect(self, frame: Frame) -> list[tuple[int, int, int, int]]:
        """Face boxes (top, right, bottom, left) in frame pixels, largest first."""
        fr = self._lib()
        height, width = frame.shape[:2]
        scale = min(1.0, self._side / max(height, width))
        small = frame if scale == 1.0 else _resize(frame, scale)
        boxes = fr.face_locations(np.ascontiguousarray(small), number_of_times_to_upsample=self._upsample)
        mapped = [(int(t / scale), min(width, int(r / scale)), min(height, int(b / scale)), int(lf / scale))
                  for t, r, b, lf in boxes]
        return sorted(mapped, key=lambda box: (box[2] - box[0]) * (box[1] - box[3]), reverse=True)

    def encode_largest_face(self, frame: Frame) -> FaceSample | None:
        boxes = self.detect(frame)
        if not boxes:
            return None
        encodings = self._lib().face_encodings(np.ascontiguousarray(frame), known_face_locations=boxes[:1])
        if not encodings:
            return None
        return FaceSample(box=boxes[0], template=np.asarray(encodings[0], dtype=np.float64))

    def distance(self, a: Template, b: Template) -> float:
        return float(np.linalg.norm(np.asarray(a) - np.asarray(b)))


def _resize(frame: Frame, scale: float) -> Frame:
    import cv2

    return cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
