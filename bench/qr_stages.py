"""What each later stage of our QR cascade costs and gains, measured on the training images only (our
validation third, bench/qr_validation.txt, is never looked at here): the figures the stage order and gates
of drivers/qr/frame_decoder.py are chosen from.

For every training image the first look (zxing-cpp on the whole frame) runs; then every candidate whole-frame
stage runs on its own, timed, and its gain is the codes it reads that the first look did not. Two cases are
told apart: frames where the first look read nothing (what a kiosk frame needs: one voucher) and frames
where it read some codes but not all (several codes in one photograph). Stages are ranked by codes gained
per 100 ms in the first case, as the cascade runs them.

    .venv/bin/python bench/qr_stages.py --data ../shared/data/qr
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.qr import IMAGE_SUFFIXES, in_split, labelled_codes, score, validation_images  # noqa: E402
from drivers.qr.frame_decoder import REDUCED_SIDE, ZBAR_SIDE, FrameDecoder  # noqa: E402


def candidates(dec: FrameDecoder) -> dict[str, Callable[[np.ndarray], list[str]]]:
    """Whole-frame stages: those the cascade has and those it might have."""
    zx = dec._zx

    def reduced(grey: np.ndarray) -> np.ndarray:
        return dec._fit(grey, REDUCED_SIDE)

    def flatten(grey: np.ndarray) -> np.ndarray:
        small = reduced(grey)
        background = cv2.GaussianBlur(small, (0, 0), sigmaX=max(small.shape) / 40)
        flat = cv2.divide(small, background, scale=160)
        return flat

    return {
        "zbar": lambda g: dec._read_zbar(dec._fit(reduced(g), ZBAR_SIDE)),
        "clahe": lambda g: dec._read_zxing(dec._clahe.apply(reduced(g)), invert=True),
        "histogram": lambda g: dec._read_zxing(reduced(g), zx.Binarizer.GlobalHistogram),
        "flatten": lambda g: dec._read_zxing(flatten(g)),
        "half": lambda g: dec._read_zxing(dec._fit(g, REDUCED_SIDE // 2)),
        "wechat640": lambda g: dec._read_wechat(dec._fit(g, 640)),
        "enlarge": lambda g: dec._read_zxing(cv2.resize(g, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC))
        if max(g.shape) <= 480 else [],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/qr")
    args = parser.parse_args()
    held = validation_images()
    dec = FrameDecoder()
    stages = candidates(dec)
    gains = {name: {"none_read": 0, "some_read": 0, "ms": 0.0, "runs": 0} for name in stages}
    images = {"train": 0, "none_read": 0, "some_read": 0}
    for category in sorted(p for p in args.data.iterdir() if p.is_dir()):
        for path in sorted(p for p in category.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            label = path.with_suffix(".txt")
            if not label.exists() or not in_split(path, "train", held):
                continue
            count, truths = labelled_codes(label)
            grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if grey is None or count == 0:
                continue
            images["train"] += 1
            first = dec._first_look(grey).texts
            base = score(first, count, truths)
            if base >= count:
                continue
            case = "none_read" if base == 0 else "some_read"
            images[case] += 1
            for name, stage in stages.items():
                started = time.perf_counter()
                try:
                    found = stage(grey)
                except cv2.error:
                    found = []
                gains[name]["ms"] += (time.perf_counter() - started) * 1000
                gains[name]["runs"] += 1
                gains[name][case] += score(first + found, count, truths) - base
    rows = []
    for name, g in gains.items():
        mean_ms = g["ms"] / g["runs"] if g["runs"] else 0.0
        per_100ms = 100 * g["none_read"] / g["ms"] if g["ms"] else 0.0
        rows.append({"stage": name, "gain_none_read": g["none_read"], "gain_some_read": g["some_read"],
                     "mean_ms": round(mean_ms, 1), "gain_per_100ms": round(per_100ms, 3)})
    rows.sort(key=lambda r: -r["gain_per_100ms"])
    print(f"train images {images['train']}: first look read nothing in {images['none_read']}, "
          f"some but not all in {images['some_read']}")
    print(f"{'stage':<12}{'+codes (none read)':>20}{'+codes (some read)':>20}{'mean ms':>10}{'per 100 ms':>12}")
    for r in rows:
        print(f"{r['stage']:<12}{r['gain_none_read']:>20}{r['gain_some_read']:>20}{r['mean_ms']:>10.1f}"
              f"{r['gain_per_100ms']:>12.3f}")
    print(json.dumps({"split": "train", "images": images, "stages": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
