"""Our QR decoder for camera frames: a cascade that is fast on easy frames and persistent on hard ones.

Stage 1 is zxing-cpp on the grey frame (the best single open decoder). Only when it finds nothing do
later stages run, cheapest gain first, on a frame reduced to at most 1024 px (480 px for WeChat):
contrast-limited equalisation (glare), upscaling of small frames, sharpening (blur), smoothing (moire
from phone screens), then OpenCV's WeChat detector. The first stage that yields a payload ends the
cascade; ``budget_ms`` bounds the time spent on a frame with no code at all. The order and the
sizes come from measuring each stage's gain and cost on bench/qr.py's data (docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

Stage = Callable[[Any], list[str]]


class FrameDecoder:
    """Thread: the vision worker. Heavy libraries are imported on construction, not at module import."""

    def __init__(self, budget_ms: float = 120.0) -> None:
        import cv2
        import zxingcpp

        self._cv2, self._zx = cv2, zxingcpp
        self._budget_s = budget_ms / 1000
        self._wechat = cv2.wechat_qrcode_WeChatQRCode()
        self._clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
        self.stages: list[tuple[str, Stage]] = [
            ("zxing", lambda g: self._zxing(g)),
            ("clahe", lambda g: self._zxing(self._clahe.apply(self._fit(g, 1024)))),
            ("upscale", lambda g: self._zxing(self._scale(g, 2.0)) if max(g.shape) < 800 else []),
            ("sharpen", lambda g: self._zxing(self._sharpen(self._fit(g, 1024)))),
            ("smooth", lambda g: self._zxing(cv2.GaussianBlur(self._fit(g, 1024), (5, 5), 0))),
            ("wechat", lambda g: self._wechat_decode(self._fit(g, 480))),
        ]
        self.last_stage = ""

    def decode(self, frame: np.ndarray) -> list[str]:
        """Distinct payloads found in an RGB/BGR or grey frame (possibly several codes)."""
        grey = frame if frame.ndim == 2 else self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2GRAY)
        grey = np.ascontiguousarray(grey)
        deadline = time.perf_counter() + self._budget_s
        for name, stage in self.stages:
            found = stage(grey)
            if found:
                self.last_stage = name
                return list(dict.fromkeys(found))
            if time.perf_counter() > deadline:
                break
        self.last_stage = ""
        return []

    # -- stages -------------------------------------------------------------------------------------

    def _zxing(self, grey: np.ndarray, binarizer: Any = None) -> list[str]:
        kwargs = {"formats": self._zx.BarcodeFormat.QRCode}
        if binarizer is not None:
            kwargs["binarizer"] = binarizer
        return [r.text for r in self._zx.read_barcodes(grey, **kwargs) if r.valid and r.text]

    def _wechat_decode(self, grey: np.ndarray) -> list[str]:
        texts, _points = self._wechat.detectAndDecode(grey)
        return [t for t in texts if t]

    def _sharpen(self, grey: np.ndarray) -> np.ndarray:
        blurred = self._cv2.GaussianBlur(grey, (0, 0), 3)
        return self._cv2.addWeighted(grey, 1.8, blurred, -0.8, 0)

    def _scale(self, grey: np.ndarray, factor: float) -> np.ndarray:
        interpolation = self._cv2.INTER_CUBIC if factor > 1 else self._cv2.INTER_AREA
        return self._cv2.resize(grey, None, fx=factor, fy=factor, interpolation=interpolation)

    def _fit(self, grey: np.ndarray, side: int) -> np.ndarray:
        factor = side / max(grey.shape)
        return grey if factor >= 1 else self._scale(grey, factor)
