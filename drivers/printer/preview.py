"""A PNG preview of a receipt as a 58 mm thermal printer would print it (384 dots wide at 203 dpi):
the same lines in a monospaced CJK face (a Chinese character takes two columns, as on the printer) and
the QR code. For the screen and the docs; never used for a receipt that holds more than masked data."""

from __future__ import annotations

from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

DOTS = 384
MONO_CJK = [("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 7)]  # Noto Sans Mono CJK SC


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path, index in MONO_CJK:
        if Path(path).exists():
            return ImageFont.truetype(path, size, index=index)
    return ImageFont.load_default()


def render_png(lines: list[str], qr_payload: str, target: Path, *, columns: int = 32) -> Path:
    font = _font(DOTS // columns * 2 - 2)  # a full-width glyph spans two of the 32 columns
    line_height = int(font.size * 1.35) if hasattr(font, "size") else 16
    qr = qrcode.QRCode(border=2, box_size=6, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(qr_payload)
    code = qr.make_image(fill_color="black", back_color="white").get_image().convert("L")
    height = 24 + line_height * len(lines) + (code.height + 24 if qr_payload else 0) + 40
    slip = Image.new("L", (DOTS, height), 255)
    draw = ImageDraw.Draw(slip)
    y = 16
    for line in lines:
        draw.text((4, y), line, font=font, fill=0)
        y += line_height
    if qr_payload:
        slip.paste(code, ((DOTS - code.width) // 2, y + 12))
    target.parent.mkdir(parents=True, exist_ok=True)
    slip.save(target)
    return target
