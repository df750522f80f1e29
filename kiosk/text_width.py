"""Text width on a terminal or a fixed-pitch slip: East Asian wide and full-width characters take two
columns (``unicodedata.east_asian_width`` W or F), combining marks none."""

from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    """``text`` followed by spaces up to ``width`` display columns."""
    return text + " " * max(0, width - display_width(text))
