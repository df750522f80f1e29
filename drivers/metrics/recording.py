"""The simulated twin of the metrics: a Telemetry that records every call in memory (tests, the demo's
autopilot), with the same method names as drivers/metrics/prometheus_telemetry.PrometheusTelemetry."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class RecordingTelemetry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _record(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, args))

    def counts(self, name: str) -> Counter:
        """How often each first argument was given to ``name`` (e.g. outcomes of visit_ended)."""
        with self._lock:
            return Counter(args[0] for n, args in self.calls if n == name)

    def visit_ended(self, outcome: str, errand: str) -> None:
        self._record("visit_ended", outcome, errand)

    def face_checked(self, verdict: str, liveness: str, seconds: float) -> None:
        self._record("face_checked", verdict, liveness, seconds)

    def gateway_answered(self, infno: str, seconds: float, outcome: str, skew_s: float | None) -> None:
        self._record("gateway_answered", infno, seconds, outcome, skew_s)

    def qr_frame(self, stage: str) -> None:
        self._record("qr_frame", stage)

    def printer_checked(self, online: bool, paper: bool) -> None:
        self._record("printer_checked", online, paper)
