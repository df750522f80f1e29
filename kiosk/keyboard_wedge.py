"""A keyboard-wedge QR scanner (USB HID that types the code and presses Enter) told apart from a person.

Pure: fed characters with their arrival times (from the UI's key events). A scanner types faster than
any person (a few ms per character); a burst of at least ``min_length`` characters, each within
``max_gap_s`` of the previous, ended by Enter, is a scan. Slower typing is not a scan and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WedgeAssembler:
    max_gap_s: float = 0.05
    min_length: int = 8
    max_length: int = 2048
    _chars: list[str] = field(default_factory=list)
    _last: float = -1.0

    def feed(self, char: str, t: float) -> str | None:
        """A completed scan on Enter, else None. ``char`` is one character or "\\r"/"\\n" for Enter."""
        if self._chars and t - self._last > self.max_gap_s:
            self._chars.clear()  # a pause: what came before was typed by hand
        self._last = t
        if char in ("\r", "\n"):
            burst, self._chars = "".join(self._chars), []
            return burst if len(burst) >= self.min_length else None
        if len(self._chars) <= self.max_length:
            self._chars.append(char)
        return None
