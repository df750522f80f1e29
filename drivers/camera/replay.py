"""Cameras: a replay camera (images, a folder or a video, looped) and an OpenCV device camera.

Each runs one capture thread that keeps only the latest frame; ``latest_frame``
never blocks. Frames are RGB ``uint8`` arrays. OpenCV is imported lazily.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kiosk.errors import CameraUnavailable
from kiosk.ports import Frame

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def _cv2():  # type: ignore[no-untyped-def]
    try:
        import cv2
    except ImportError:
        raise CameraUnavailable("OpenCV is not installed: pip install opencv-contrib-python-headless") from None
    return cv2


def load_frames(source: Path) -> list[Frame]:
    """Read an image, every image of a folder (sorted), or every frame of a video, as RGB."""
    cv2 = _cv2()
    paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if source.is_dir() else [source]
    frames: list[Frame] = []
    for path in paths:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            continue
        capture = cv2.VideoCapture(str(path))
        while True:
            ok, image = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        capture.release()
    if not frames:
        raise CameraUnavailable(f"no readable frames in {source}")
    return frames


class _CaptureThread:
    def __init__(self, fps: float) -> None:
        self._period = 1.0 / fps
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._produced = threading.Condition(self._lock)
        self.frames_produced = 0

    def wait_frames(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` frames have been produced since start (tests, warm-up); False on timeout."""
        with self._produced:
            return self._produced.wait_for(lambda: self.frames_produced >= count, timeout=timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="camera-capture", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            if not self._thread.is_alive():
                self._thread = None

    def latest_frame(self) -> Frame | None:
        with self._lock:
            return self._latest

    def _publish(self, frame: Frame) -> None:
        with self._produced:
            self._latest = frame
            self.frames_produced += 1
            self._produced.notify_all()

    def _next(self) -> Frame | None:
        raise NotImplementedError

    def _loop(self) -> None:
        deadline = time.monotonic()
        while not self._stop.is_set():
            frame = self._next()
            if frame is not None:
                self._publish(frame)
            deadline += self._period
            self._stop.wait(max(0.0, deadline - time.monotonic()))


class ReplayCamera(_CaptureThread):
    """Replays frames in a loop. Not live: a replayed still cannot pass liveness."""

    is_live = False

    def __init__(self, frames: Sequence[Frame], *, fps: float = 15.0, description: str = "replay camera") -> None:
        super().__init__(fps)
        if not frames:
            raise CameraUnavailable("replay camera has no frames")
        self._frames = [np.ascontiguousarray(f) for f in frames]
        self._index = 0
        self.description = description

    @classmethod
    def from_path(cls, source: Path, fps: float = 15.0) -> ReplayCamera:
        return cls(load_frames(source), fps=fps, description=f"replay camera ({source.name})")

    def _next(self) -> Frame | None:
        frame = self._frames[self._index % len(self._frames)]
        self._index += 1
        return frame


class DeviceCamera(_CaptureThread):
    """A V4L2 camera through OpenCV."""

    is_live = True

    def __init__(self, index: int = 0, *, fps: float = 15.0) -> None:
        super().__init__(fps)
        self._cv2 = _cv2()
        self._capture = self._cv2.VideoCapture(index)
        if not self._capture.isOpened():
            raise CameraUnavailable(f"camera {index} cannot be opened: check its cable and camera.source "
                                    f"(ls /dev/video*; kiosk-provision selftest)")
        self.description = f"camera device {index}"
        self.failures = 0

    @staticmethod
    def probe(index: int = 0) -> bool:
        """True when device ``index`` exists and yields a frame."""
        if not Path(f"/dev/video{index}").exists():
            return False
        capture = _cv2().VideoCapture(index)
        try:
            return bool(capture.isOpened() and capture.read()[0])
        finally:
            capture.release()

    def _next(self) -> Frame | None:
        ok, image = self._capture.read()
        if not ok:
            self.failures += 1
            if self.failures in (1, 50):
                log.warning("camera read failed (%d times)", self.failures)
            return None
        self.failures = 0
        return self._cv2.cvtColor(image, self._cv2.COLOR_BGR2RGB)

    def stop(self) -> None:
        super().stop()
        self._capture.release()
