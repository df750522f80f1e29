"""QR benchmark on frames made here, to see whether the decoder's gains hold on images it was not tuned on.

    .venv/bin/python bench/qr_synthetic.py [--n 60] [--seed 1] [--only ours,zxing-cpp]

Each frame is a voucher-like payload (``EC`` + 40-120 characters, error correction M) rendered by the
``qrcode`` package and laid on a textured 1280x960 background under one of these conditions:
``tilt`` (a steep perspective: the far side 45-70 % of the near one, at 7-10 px a module near),
``blur`` (Gaussian, sigma 1.5-3 at 4-6 px a module), ``glare`` (a bright elliptical highlight over a
quarter to a half of the code), ``small`` (2-3 px a module), ``dim`` (contrast 12-30 grey levels, noise); and a voucher shown on a phone
screen, re-photographed by the kiosk camera: ``screen_moire`` (the screen's pixel grid, 2.2-3.4 camera
pixels a screen pixel, resampled without anti-aliasing at a slight angle and scale: moire fringes across
the code), ``screen_glare`` (a specular streak of the kiosk's ceiling light across the glass, washing the
code out to near white under it), ``screen_dim`` (the phone at low brightness in a bright hall: the
screen's white at 45-85 grey inside a 180-230 surround the exposure follows), ``handheld`` (a phone held
in the hand: tilted on both axes, turned, and moved during the exposure: motion blur of 4-10 px). The same decoders as bench/qr.py run on the same frames in
the same run. A frame counts as read when the exact payload comes back. Prints a table per condition,
then one JSON object on its last line: ``{"decoders": {name: {"decoded", "frames", "rate", "mean_ms"}}}``.
Synthetic frames are kinder and less varied than photographs: read the ratios, not the absolute rates.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # bench/queue.py must not shadow the standard library's queue

import argparse
import importlib.util
import string

import cv2
import numpy as np
import qrcode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_qr():  # type: ignore[no-untyped-def]
    """bench/qr.py, for its decoders (built the same way) and its summary lines. Loaded by path: bench/
    must not go on sys.path (bench/queue.py would shadow the standard library's queue)."""
    spec = importlib.util.spec_from_file_location("bench_qr", ROOT / "bench" / "qr.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONDITIONS = ("tilt", "blur", "glare", "small", "dim", "screen_moire", "screen_glare", "screen_dim", "handheld")
SCREEN = ("screen_moire", "screen_glare", "screen_dim", "handheld")  # a phone screen re-photographed
ALPHABET = string.ascii_uppercase + string.digits + "-_"
SIZE = (960, 1280)


def payload(rng: np.random.Generator) -> str:
    return "EC" + "".join(rng.choice(list(ALPHABET), int(rng.integers(40, 121))))


def code_image(text: str) -> np.ndarray:
    qr = qrcode.QRCode(border=4, box_size=10, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make()
    return np.array(qr.make_image().convert("L"), np.uint8)


def background(rng: np.random.Generator) -> np.ndarray:
    base = rng.integers(90, 200)
    coarse = rng.normal(0, 25, (SIZE[0] // 40, SIZE[1] // 40)).astype(np.float32)
    texture = cv2.resize(coarse, (SIZE[1], SIZE[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + texture, 0, 255).astype(np.float32)


def place(code: np.ndarray, frame: np.ndarray, corners: np.ndarray) -> np.ndarray:
    h, w = code.shape
    source = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    warped = cv2.warpPerspective(code.astype(np.float32), matrix, (SIZE[1], SIZE[0]), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones_like(code, np.float32), matrix, (SIZE[1], SIZE[0]), flags=cv2.INTER_AREA)
    return frame * (1 - mask) + warped * mask


def square(rng: np.random.Generator, side: float) -> np.ndarray:
    reach = 0.72 * side  # half the diagonal, whatever the rotation
    centre = np.array([rng.uniform(reach, SIZE[1] - reach), rng.uniform(reach, SIZE[0] - reach)])
    angle = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    unit = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * side / 2
    return unit, rotation, centre


def phone_screen(code: np.ndarray, rng: np.random.Generator, *, white: float = 235.0, black: float = 20.0,
                 grid: bool = False) -> np.ndarray:
    """The voucher app's page on a phone: the code on a white card, a darker app background, a black bezel.
    ``grid``: the screen's pixels (a dark gap between them) drawn at 3 supersamples a screen pixel."""
    h, w = code.shape
    pad = int(0.18 * w)
    page = np.full((h + 4 * pad, w + 2 * pad), 0.82, np.float32)  # the app's light-grey page
    page[2 * pad:2 * pad + h, pad:pad + w] = code.astype(np.float32) / 255
    screen = black + (white - black) * page
    bezel = int(0.05 * screen.shape[1])
    phone = np.pad(screen, bezel, constant_values=12.0)
    if grid:
        phone = cv2.resize(phone, (phone.shape[1] * 3, phone.shape[0] * 3), interpolation=cv2.INTER_NEAREST)
        mask = np.ones((3, 3), np.float32)
        mask[2, :] = mask[:, 2] = rng.uniform(0.25, 0.5)  # the dark matrix between the screen's pixels
        phone = phone * np.tile(mask, (phone.shape[0] // 3, phone.shape[1] // 3))
    return phone


def screen_frame(condition: str, text: str, rng: np.random.Generator) -> np.ndarray:
    """A voucher on a phone screen in front of the kiosk camera (see the module docstring)."""
    code = code_image(text)  # 10 screen pixels a module
    frame = background(rng)
    if condition == "screen_dim":
        frame = rng.uniform(180, 230) + (frame - frame.mean()) * 0.3  # a bright hall around a dark screen
        phone = phone_screen(code, rng, white=rng.uniform(45, 85), black=rng.uniform(8, 20))
    else:
        phone = phone_screen(code, rng, grid=condition == "screen_moire")
    supersample = 3 if condition == "screen_moire" else 1
    per_screen_px = rng.uniform(0.3, 0.45) if condition == "screen_moire" else rng.uniform(0.45, 0.7)
    side = phone.shape[1] / supersample * per_screen_px  # camera pixels across the phone
    scale = side / phone.shape[1]
    h, w = phone.shape[0] * scale, side
    reach = 0.55 * max(h, w)
    centre = np.array([rng.uniform(reach, SIZE[1] - reach), rng.uniform(min(reach, SIZE[0] / 2), max(SIZE[0] - reach, SIZE[0] / 2))])
    angle = rng.uniform(-0.35, 0.35) if condition != "handheld" else rng.uniform(-0.8, 0.8)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    unit = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float64)
    if condition == "handheld":
        unit[1:3, 1] *= rng.uniform(0.75, 0.95)  # tilted back
        unit[[1, 2], 0] *= rng.uniform(0.75, 0.95)  # and to one side
    corners = (unit @ rotation.T + centre).astype(np.float32)
    source = np.array([[0, 0], [phone.shape[1], 0], [phone.shape[1], phone.shape[0]], [0, phone.shape[0]]], np.float32)
    matrix = cv2.getPerspectiveTransform(source, corners)
    # the camera samples the screen: no anti-aliasing for the pixel grid (that is where moire comes from)
    flags = cv2.INTER_LINEAR if condition == "screen_moire" else cv2.INTER_AREA
    warped = cv2.warpPerspective(phone, matrix, (SIZE[1], SIZE[0]), flags=flags)
    mask = cv2.warpPerspective(np.ones_like(phone), matrix, (SIZE[1], SIZE[0]), flags=cv2.INTER_LINEAR)
    frame = frame * (1 - mask) + warped * mask
    if condition == "screen_glare":  # a streak of ceiling light across the glass, nearly saturating
        yy, xx = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(np.float32)
        direction = rng.uniform(0, np.pi)
        offset = (xx - centre[0]) * np.sin(direction) - (yy - centre[1]) * np.cos(direction)
        width = rng.uniform(0.1, 0.25) * side
        shift = rng.uniform(-0.25, 0.25) * side
        streak = np.exp(-(((offset - shift) / width) ** 2)) * mask
        frame = frame + streak * rng.uniform(180, 255)
    if condition == "handheld":
        length = int(rng.integers(4, 11))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        rotate = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rotate, (length, length))
        frame = cv2.filter2D(frame, -1, kernel / max(kernel.sum(), 1e-6))
    frame = cv2.GaussianBlur(frame, (0, 0), 0.6) + rng.normal(0, 3, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def make_frame(condition: str, text: str, rng: np.random.Generator) -> np.ndarray:
    if condition in SCREEN:
        return screen_frame(condition, text, rng)
    code = code_image(text)
    modules = code.shape[0] / 10
    frame = background(rng)
    per_module = {"small": rng.uniform(2.0, 3.0), "blur": rng.uniform(4, 6),
                  "tilt": rng.uniform(7, 10)}.get(condition, rng.uniform(4, 8))
    unit, rotation, centre = square(rng, min(per_module * modules, 0.66 * SIZE[0]))
    if condition == "tilt":
        unit[1:3] *= rng.uniform(0.45, 0.7)  # the far side of a phone held at a steep angle
        unit[:, 0] *= rng.uniform(0.7, 0.95)
    frame = place(code, frame, unit @ rotation.T + centre)
    if condition == "blur":
        frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(1.5, 3.0))
    elif condition == "glare":
        yy, xx = np.mgrid[0:SIZE[0], 0:SIZE[1]]
        spot = centre + rng.uniform(-0.3, 0.3, 2) * per_module * modules
        radius = rng.uniform(0.25, 0.45) * per_module * modules
        light = np.exp(-(((xx - spot[0]) / (1.6 * radius)) ** 2 + ((yy - spot[1]) / radius) ** 2))
        frame = frame + light * rng.uniform(150, 230)
    elif condition == "dim":
        contrast = rng.uniform(12, 30) / 255
        frame = 110 + (frame - frame.mean()) * contrast
    frame = cv2.GaussianBlur(frame, (0, 0), 0.7) + rng.normal(0, 4 if condition != "dim" else 3, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60, help="frames per condition")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="ours,zxing-cpp,zbar,wechat", help="comma-separated decoder names")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated conditions")
    parser.add_argument("--save", default="", help="also write each frame as a PNG to this folder (to look at)")
    args = parser.parse_args()
    qr = bench_qr()
    all_decoders = qr.peers()
    decoders = {name: all_decoders[name] for name in args.only.split(",")}
    rng = np.random.default_rng(args.seed)
    totals = {name: {"decoded": 0, "frames": 0, "ms": 0.0, "crashes": 0} for name in decoders}
    print(f"{'condition':<12}" + "".join(f"{name:>14}" for name in decoders))
    for condition in args.conditions.split(","):
        row = dict.fromkeys(decoders, 0)
        for index in range(args.n):
            text = payload(rng)
            frame = make_frame(condition, text, rng)
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(Path(args.save) / f"{condition}-{index:03d}.png"), frame)
            for name, decode in decoders.items():
                found = qr.timed_decode(decode, frame, totals[name])
                totals[name]["frames"] += 1
                read = text in found
                row[name] += read
                totals[name]["decoded"] += read
        print(f"{condition:<12}" + "".join(f"{row[name]:>9}/{args.n:<4}" for name in decoders))
    result = {name: {"decoded": t["decoded"], "frames": t["frames"], "rate": round(t["decoded"] / t["frames"], 4),
                     "mean_ms": round(t["ms"] / t["frames"], 2), "crashes": t["crashes"]} for name, t in totals.items()}
    if "ours" in result:
        result["ours"]["budget_ms"] = qr.CAMERA_BUDGET_MS
    qr.print_summary(result, 12)
    return 0


if __name__ == "__main__":
    sys.exit(main())
