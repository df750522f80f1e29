"""The kiosk theme: large touch targets, high contrast, an elderly mode.

Colours checked for contrast >= 4.5:1 against their backgrounds (tests/test_ui_theme.py).
Sizes are in device-independent pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

INK = "#1A1A1A"
PAPER = "#FFFFFF"
BRAND = "#0B5394"  # buttons: white on this is 7.6:1
BRAND_DARK = "#073763"
ALERT = "#B3261E"  # white on this is 6.5:1
OK = "#1E6B2F"
MUTED = "#4A4A4A"


@dataclass(frozen=True)
class Metrics:
    body_pt: int
    title_pt: int
    button_pt: int
    target_px: int  # minimum touch target height
    line_height: float
    idle_scale: float  # elderly mode gives more time


STANDARD = Metrics(body_pt=20, title_pt=32, button_pt=22, target_px=64, line_height=1.35, idle_scale=1.0)
ELDERLY = Metrics(body_pt=26, title_pt=40, button_pt=28, target_px=88, line_height=1.5, idle_scale=2.0)


def metrics(elderly: bool) -> Metrics:
    return ELDERLY if elderly else STANDARD


def stylesheet(m: Metrics) -> str:
    return f"""
    QWidget {{ background: {PAPER}; color: {INK}; font-size: {m.body_pt}pt; }}
    QLabel#title {{ font-size: {m.title_pt}pt; font-weight: bold; color: {BRAND_DARK}; }}
    QLabel#apptitle {{ font-size: {m.button_pt}pt; font-weight: bold; color: {BRAND_DARK}; }}
    QLabel#hint {{ color: {MUTED}; }}
    QLabel#alert {{ color: {ALERT}; font-weight: bold; }}
    QPushButton {{ background: {BRAND}; color: {PAPER}; border: none; border-radius: 10px;
                  font-size: {m.button_pt}pt; min-height: {m.target_px}px; padding: 4px 28px; }}
    QPushButton:pressed {{ background: {BRAND_DARK}; }}
    QPushButton#secondary {{ background: {PAPER}; color: {BRAND_DARK}; border: 3px solid {BRAND}; }}
    QPushButton:disabled {{ background: {PAPER}; color: #8A8A8A; border: 3px solid #C8C8C8; }}
    QPushButton#staff {{ background: {ALERT}; }}
    QPushButton#choice {{ background: {PAPER}; color: {INK}; border: 3px solid {BRAND}; text-align: left;
                         padding: 12px 28px; }}
    QPushButton#choice:disabled {{ color: #8A8A8A; border: 3px solid #C8C8C8; background: #F2F2F2; }}
    QPushButton#tile {{ background: {PAPER}; color: {BRAND_DARK}; border: 3px solid {BRAND}; font-weight: bold;
                       padding: 2px 8px; min-height: {m.target_px}px; }}
    QPushButton#tile:pressed {{ background: #DCE7F3; }}
    QPushButton#key {{ background: {PAPER}; color: {INK}; border: 3px solid {BRAND}; font-size: {m.button_pt + 4}pt;
                      font-weight: bold; padding: 0px 8px; min-height: {max(48, m.target_px * 5 // 8)}px; }}
    QPushButton#key:pressed {{ background: #DCE7F3; }}
    QLabel#keypad_display {{ font-size: {m.button_pt + 6}pt; font-weight: bold; letter-spacing: 2px; color: {INK};
                            border-bottom: 3px solid {BRAND}; padding: 4px; }}
    QFrame#bar {{ background: #EEF3F8; }}
    QFrame#countdown {{ background: {PAPER}; border: 4px solid {ALERT}; border-radius: 16px; }}
    QFrame#bar QLabel {{ background: #EEF3F8; }}
    QTableWidget {{ gridline-color: #C8C8C8; font-size: {m.body_pt}pt; }}
    QHeaderView::section {{ background: #EEF3F8; color: {INK}; font-weight: bold; padding: 6px; border: none; }}
    """


def relative_luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
