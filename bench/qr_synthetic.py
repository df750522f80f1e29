"""QR benchmark on frames made here, to see whether the decoder's gains hold on images it was not tuned on.

    .venv/bin/python bench/qr_synthetic.py [--n 60] [--seed 1] [--only ours,zxing-cpp]

Each frame is a voucher-like payload (``EC`` + 40-120 characters, error correction M) rendered by the
``qrcode`` package and laid on a textured 1280x960 background under one of these conditions:
``tilt`` (a steep perspective: the far side 45-70 % of the near one, at 7-10 px a module near),
``blur`` (Gaussian, sigma 1.5-3 at 4-6 px a module), ``glare`` (a bright elliptical highlight over a
quarter to a half of the code), ``small`` (2-3 px a module), ``dim`` (contrast 12-30 grey levels, noise). The same decoders as bench/qr.py run on the same frames in
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


CONDITIONS = ("tilt", "blur", "glare", "small", "dim")
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


def make_frame(condition: str, text: str, rng: np.random.Generator) -> np.ndarray:
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
    args = parser.parse_args()
    qr = bench_qr()
    all_decoders = qr.peers()
    decoders = {name: all_decoders[name] for name in args.only.split(",")}
    rng = np.random.default_rng(args.seed)
    totals = {name: {"decoded": 0, "frames": 0, "ms": 0.0, "crashes": 0} for name in decoders}
    print(f"{'condition':<12}" + "".join(f"{name:>14}" for name in decoders))
    for condition in CONDITIONS:
        row = dict.fromkeys(decoders, 0)
        for _ in range(args.n):
            text = payload(rng)
            frame = make_frame(condition, text, rng)
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
