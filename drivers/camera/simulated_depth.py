"""A simulated depth camera (the twin of a structured-light or time-of-flight camera).

It renders what such a camera measures in front of the kiosk: ``face`` (a head: an ellipsoid with a
nose, 20-40 mm of relief, 600 mm away), ``screen`` (a phone or monitor held up: a tilted plane),
``print`` (a sheet bent around a vertical axis) or ``nothing``. Faults: ``dropout`` (a share of pixels
unmeasured, as on dark hair or glasses) and ``dead`` (no frame at all). The face sits where the colour
camera's face box says, so the depth is registered to the colour frame as a real camera's SDK does.
Demo and tests only: production refuses it.
"""

from __future__ import annotations

import threading

import numpy as np

from kiosk.ports import DepthFrame

SCENES = ("face", "screen", "print", "nothing")


class SimulatedDepthCamera:
    def __init__(self, scene: str = "face", *, size: tuple[int, int] = (480, 640),
                 box: tuple[int, int, int, int] = (140, 400, 380, 240), dropout: float = 0.0,
                 seed: int = 0) -> None:
        if scene not in SCENES:
            raise ValueError(f"unknown depth scene {scene!r}: one of {', '.join(SCENES)}")
        self.description = f"simulated depth camera ({scene})"
        self.scene, self.size, self.box, self.dropout = scene, size, box, dropout
        self.dead = False
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def latest_depth(self) -> DepthFrame | None:
        with self._lock:
            if self.dead:
                return None
            depth = self._render()
        if self.dropout:
            depth[self._rng.random(depth.shape) < self.dropout] = 0
        return depth

    def _render(self) -> DepthFrame:
        height, width = self.size
        yy, xx = np.mgrid[:height, :width].astype(np.float64)
        background = np.full((height, width), 2500.0)
        top, right, bottom, left = self.box
        cy, cx = (top + bottom) / 2, (left + right) / 2
        ry, rx = (bottom - top) / 2, (right - left) / 2
        u, v = (xx - cx) / rx, (yy - cy) / ry
        inside = u ** 2 + v ** 2 <= 1.0
        noise = self._rng.normal(0.0, 1.5, size=(height, width))  # millimetre-level sensor noise
        if self.scene == "face":
            bulge = 45.0 * np.sqrt(np.clip(1.0 - u ** 2 - v ** 2, 0.0, 1.0))  # the head's curvature
            nose = 25.0 * np.exp(-((u / 0.18) ** 2 + ((v - 0.05) / 0.3) ** 2))
            depth = np.where(inside, 600.0 - bulge - nose, background)
        elif self.scene == "screen":
            plane = 450.0 + 0.25 * (xx - cx) + 0.1 * (yy - cy)
            held = (np.abs(u) <= 1.4) & (np.abs(v) <= 1.6)
            depth = np.where(held, plane, background)
        elif self.scene == "print":
            bend = 4.0 * u ** 2  # a sheet curved by the hand: a few millimetres
            held = (np.abs(u) <= 1.3) & (np.abs(v) <= 1.5)
            depth = np.where(held, 500.0 + bend + 0.15 * (yy - cy), background)
        else:
            depth = background
        return np.clip(depth + noise, 0, 65535).astype(np.uint16)

    def close(self) -> None:
        self.dead = True
