"""Passive presentation-attack cue on the kiosk's ordinary RGB camera: is this face a screen or a print?

A face replayed on a phone or monitor, or printed, differs from skin in front of the lens in colour
and fine texture: a screen's gamut and sub-pixel grid (moiré), a print's dot pattern and flat
reflectance, both re-imaged by the camera. The features are the colour-texture descriptor of
Boulkenafet, Komulainen and Hadid (IEEE TIFS 2016): uniform LBP histograms of the face in the HSV and
YCrCb channels, plus the share of high-frequency energy in the face's spectrum. A logistic model
(``drivers/face/presentation_v1.npz``, fitted by ``scripts/presentation_training.py`` on a split of
sources kept apart from the ones it is scored on) turns them into the probability that the frame is an
attack. Motion challenges (kiosk/liveness.py) stop a still picture; this stops a replayed video of a
person who does move.

Frames and crops live in memory only; nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CROP_PX = 64
LBP_POINTS, LBP_RADIUS = 8, 1
LBP_BINS = LBP_POINTS + 2  # rotation-invariant uniform patterns: P + 1 uniform codes and one for the rest
SHIPPED_MODEL = Path(__file__).resolve().parent / "presentation_v1.npz"


def face_crop(frame: np.ndarray, box: tuple[int, int, int, int], *, margin: float = 0.15) -> np.ndarray | None:
    """The face box widened by ``margin``, resized to CROP_PX (RGB, uint8); None when it leaves nothing."""
    import cv2

    top, right, bottom, left = box
    pad = int(margin * max(bottom - top, right - left))
    height, width = frame.shape[:2]
    region = frame[max(0, top - pad):min(height, bottom + pad), max(0, left - pad):min(width, right + pad)]
    if region.size == 0 or min(region.shape[:2]) < 16:
        return None
    return cv2.resize(np.ascontiguousarray(region), (CROP_PX, CROP_PX), interpolation=cv2.INTER_AREA)


def crop_features(crop: np.ndarray) -> np.ndarray:
    """Colour-texture features of one face crop (float64 vector)."""
    import cv2
    from skimage.feature import local_binary_pattern

    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    ycc = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)
    parts = []
    for image in (hsv, ycc):
        for channel in range(3):
            codes = local_binary_pattern(image[:, :, channel], LBP_POINTS, LBP_RADIUS, method="uniform")
            histogram, _ = np.histogram(codes, bins=LBP_BINS, range=(0, LBP_BINS))
            parts.append(histogram / max(1, histogram.sum()))
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean())))
    yy, xx = np.mgrid[:CROP_PX, :CROP_PX] - CROP_PX // 2
    radius = np.hypot(yy, xx)
    total = spectrum.sum() or 1.0
    bands = [spectrum[(radius >= lo) & (radius < hi)].sum() / total for lo, hi in ((8, 16), (16, 24), (24, 33))]
    chroma = [ycc[:, :, 1].std() / 64.0, ycc[:, :, 2].std() / 64.0, hsv[:, :, 1].mean() / 255.0]
    return np.concatenate([*parts, bands, chroma]).astype(np.float64)


@dataclass
class PresentationModel:
    """Standardised logistic model: P(attack) of one frame's features."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    share_threshold: float = 0.5  # a sequence with this share of attack-looking frames is refused
    fitted_sources: tuple[str, ...] = ()  # what it was fitted on (the benchmark's headline skips these)

    def probability(self, features: np.ndarray) -> float:
        z = float(((features - self.mean) / self.scale) @ self.weights + self.bias)
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -50, 50))))

    def save(self, path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez_compressed(handle, mean=self.mean, scale=self.scale, weights=self.weights,
                                bias=np.asarray([self.bias]), share_threshold=np.asarray([self.share_threshold]),
                                fitted_sources=np.asarray(self.fitted_sources))

    @classmethod
    def load(cls, path: Path = SHIPPED_MODEL) -> PresentationModel:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["mean"], data["scale"], data["weights"], float(data["bias"][0]),
                       float(data["share_threshold"][0]), tuple(str(x) for x in data["fitted_sources"]))


class PresentationDetector:
    """Frame -> P(attack) for the largest face (``box`` from the face engine's observation)."""

    def __init__(self, model: PresentationModel | None = None) -> None:
        self._model = model

    def _loaded(self) -> PresentationModel:
        if self._model is None:
            self._model = PresentationModel.load()
        return self._model

    def attack_probability(self, frame: np.ndarray, box: tuple[int, int, int, int]) -> float | None:
        crop = face_crop(frame, box)
        if crop is None:
            return None
        return self._loaded().probability(crop_features(crop))
