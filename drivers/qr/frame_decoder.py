"""Our QR decoder for camera frames: a cascade that is fast on easy frames and persistent on hard ones.

Stage 1 is zxing-cpp on the grey frame (the best single open decoder). Only when it finds nothing do
later stages run, each on a transformed frame: other binarizers, a sharper or a smoother frame (blur,
moire from phone screens), contrast-limited equalisation (glare), rescaling (codes too small or too
large for the detector), and OpenCV's WeChat detector. The first stage that yields a payload ends the
cascade; ``budget_ms`` bounds the time spent on a frame with no code at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

Stage = Callable[[Any], list[str]]


class FrameDecoder:
    """Thread: the vision worker. Heavy libraries are imported on construction, not at module import."""

    def __init__(self, budget_ms: float = 400.0) -> None:
        import cv2
        import zxingcpp

        self._cv2, self._zx = cv2, zxingcpp
        self._budget_s = budget_ms / 1000
        self._wechat = cv2.wechat_qrcode_WeChatQRCode()
        self._clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
        self.stages: list[tuple[str, Stage]] = [
            ("zxing", lambda g: self._zxing(g)),
            ("zxing-global", lambda g: self._zxing(g, self._zx.Binarizer.GlobalHistogram)),
            ("clahe", lambda g: self._zxing(self._clahe.apply(g))),
            ("sharpen", lambda g: self._zxing(self._sharpen(g))),
            ("smooth", lambda g: self._zxing(cv2.GaussianBlur(g, (5, 5), 0))),
            ("upscale", lambda g: self._zxing(self._scale(g, 2.0)) if max(g.shape) < 1600 else []),
            ("downscale", lambda g: self._zxing(self._scale(g, 0.5)) if max(g.shape) > 800 else []),
            ("wechat", lambda g: self._wechat_decode(g)),
            ("adaptive", lambda g: self._zxing(self._adaptive(g))),
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

    def _adaptive(self, grey: np.ndarray) -> np.ndarray:
        block = max(15, (min(grey.shape) // 20) | 1)
        return self._cv2.adaptiveThreshold(grey, 255, self._cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
                                           self._cv2.THRESH_BINARY, block, 5)
