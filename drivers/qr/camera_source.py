"""QR codes from the kiosk camera: the latest frame is decoded (FrameDecoder cascade) on this source's own
thread while ``active`` (the idle screen), a few times a second. A code held up stays in view for many
frames: the same payload is reported once until it has been out of view for ``repeat_after_s``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kiosk.ports import Camera, Telemetry

from drivers.background import BackgroundReader
from drivers.qr.frame_decoder import CAMERA_BUDGET_MS, FrameDecoder

log = logging.getLogger(__name__)


class CameraQrSource(BackgroundReader):
    def __init__(self, camera: Camera, *, interval_s: float = 0.1, budget_ms: float = CAMERA_BUDGET_MS,
                 repeat_after_s: float = 3.0) -> None:
        self.description = f"QR from {camera.description}"
        self._camera, self._interval, self._repeat_after = camera, interval_s, repeat_after_s
        self._decoder = FrameDecoder(budget_ms=budget_ms)
        self._listener: Callable[[str], None] = lambda _payload: None
        super().__init__("qr-camera")
        self.active = True  # the UI switches decoding off outside the idle screen
        self.frames_decoded = 0
        self.telemetry: Telemetry | None = None  # told which stage read each frame (metrics)
        self._last_payload, self._last_seen = "", 0.0
        self.ready = threading.Event()  # set once the decoder is warmed up (every stage run once)

    def set_listener(self, on_scanned: Callable[[str], None]) -> None:
        self._listener = on_scanned

    def start(self) -> CameraQrSource:
        self._camera.start()  # idempotent: the face check shares the same capture
        return super().start()

    def _run(self) -> None:
        try:  # first-call costs here, on this thread, before a patient's first frame
            self._decoder.warm_up()
        except Exception:  # noqa: BLE001 - a failed warm-up only costs the first frame its speed
            log.exception("QR decoder warm-up failed")
        self.ready.set()
        previous = None
        while not self._stop.wait(self._interval):
            if not self.active:
                continue
            frame = self._camera.latest_frame()
            if frame is None or frame is previous:
                continue
            previous = frame
            self.frames_decoded += 1
            try:
                payloads = self._decoder.decode(frame)
            except Exception:  # noqa: BLE001 - a decoder fault on one frame must not stop scanning
                log.exception("QR decode failed on one frame")
                continue
            if self.telemetry is not None:
                self.telemetry.qr_frame(self._decoder.last_stage if payloads else "")
            now = time.monotonic()
            for payload in payloads[:1]:
                if payload == self._last_payload and now - self._last_seen < self._repeat_after:
                    self._last_seen = now
                    continue
                self._last_payload, self._last_seen = payload, now
                self._listener(payload)
