"""Simulated twin of a QR source (camera decoder or hardware scanner): payloads pushed by tests or the demo."""

from __future__ import annotations

from collections.abc import Callable


class ScriptedQrSource:
    description = "scripted QR source (simulated scanner)"

    def __init__(self) -> None:
        self._on_scanned: Callable[[str], None] = lambda _payload: None

    def set_listener(self, on_scanned: Callable[[str], None]) -> None:
        self._on_scanned = on_scanned

    def scan(self, payload: str) -> None:
        self._on_scanned(payload)

    def close(self) -> None:
        self._on_scanned = lambda _payload: None
