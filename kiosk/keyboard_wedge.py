"""A keyboard-wedge QR scanner (USB HID that types the code and presses Enter) told apart from a person.

Pure: fed characters with their arrival times (from the UI's key events, or the input device's event
stamps). A scanner types faster than any person (a few ms per character); a burst of at least
``min_length`` characters, each within ``max_gap_s`` of the previous, ended by the scanner's suffix
(Enter by default, Tab, or none: then the pause after the burst ends it), is a scan. Slower typing is
not a scan and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WedgeAssembler:
    max_gap_s: float = 0.05
    min_length: int = 8
    max_length: int = 2048
    terminators: tuple[str, ...] = ("\r", "\n")  # () when the scanner sends no suffix
    _chars: list[str] = field(default_factory=list)
    _last: float = -1.0

    def feed(self, char: str, t: float) -> str | None:
        """A completed scan, else None. ``char`` is one character ("\\r" for Enter, "\\t" for Tab)."""
        ended = None
        if self._chars and t - self._last > self.max_gap_s:
            ended = self.flush(t)  # a pause: a suffix-less scan ended there; otherwise typed by hand
            self._chars.clear()
        self._last = t
        if char in self.terminators:
            burst, self._chars = "".join(self._chars), []
            return burst if len(burst) >= self.min_length else None
        if len(self._chars) <= self.max_length:
            self._chars.append(char)
        return ended

    def flush(self, now: float) -> str | None:
        """For a scanner with no suffix: the burst, once ``max_gap_s`` has passed since its last character."""
        if self.terminators or not self._chars or now - self._last <= self.max_gap_s:
            return None
        burst, self._chars = "".join(self._chars), []
        return burst if len(burst) >= self.min_length else None
