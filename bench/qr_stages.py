"""What each later stage of our QR cascade costs and gains, measured on the training images only (our
validation third, bench/qr_validation.txt, is never looked at here): the figures the stage order and gates
of drivers/qr/frame_decoder.py are chosen from.

For every training image the cascade's first two stages run (zxing-cpp on the whole frame, then the retries
of the codes it located but could not read); on the frames the cascade then looks at whole again (nothing
read, or a located code still unread) every candidate whole-frame stage runs on its own, timed, and its gain
is the codes it reads beyond those. Two cases are told apart: frames where nothing was read (what a kiosk
frame needs: one voucher) and frames where some codes were read but a located one was not (several codes
in one photograph). Stages are ranked by codes gained per 100 ms in the first case. Then the cascade's
order is derived greedily from both kinds of frame: the first stage that reads a new code ends the work on
a frame, so each next stage is the one that adds most codes per millisecond on the frames the stages before
it left unread; the table shows the codes and the time a frame that nothing reads costs after each step.
The region tries are ranked the same way on every located, unread code.

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
from drivers.qr.frame_decoder import MAX_REGIONS, REDUCED_SIDE, FrameDecoder, _Look  # noqa: E402


def candidates(dec: FrameDecoder) -> dict[str, Callable[[np.ndarray], list[str]]]:
    """Whole-frame stages: those the cascade has and those it might have."""
    zx = dec._zx

    def reduced(grey: np.ndarray) -> np.ndarray:
        return dec._fit(grey, REDUCED_SIDE)

    return {
        "zbar480": lambda g: dec._read_zbar(dec._fit(reduced(g), 480)),
        "zbar400": lambda g: dec._read_zbar(dec._fit(reduced(g), 400)),
        "zbar360": lambda g: dec._read_zbar(dec._fit(reduced(g), 360)),
        "zbar320": lambda g: dec._read_zbar(dec._fit(reduced(g), 320)),
        "clahe": lambda g: dec._read_zxing(dec._clahe.apply(reduced(g)), invert=True),
        "histogram": lambda g: dec._read_zxing(reduced(g), zx.Binarizer.GlobalHistogram),
        "flatten": lambda g: dec._read_zxing(dec._flattened(reduced(g))),
        "equalize": lambda g: dec._read_zxing(cv2.equalizeHist(reduced(g))),
        "equalize-flat": lambda g: dec._read_zxing(cv2.equalizeHist(dec._flattened(reduced(g)))),
        "texture": lambda g: dec._read_textured(g),
        "wechat480": lambda g: dec._read_wechat(dec._fit(g, 480)),
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
    unread_frames: list[dict[str, tuple[int, float]]] = []  # per frame the cascade looks at whole again
    region_frames: list[dict[str, tuple[int, float]]] = []  # per located, unread code
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
            region_frames += region_outcomes(dec, grey, dec._first_look(grey), count, truths)
            located, left_unread = dec.located_codes(grey, deadline=float("inf"))
            base = score(located, count, truths)
            if base >= count or (base and not left_unread):
                continue  # the cascade does not look at this frame whole again
            case = "none_read" if base == 0 else "some_read"
            images[case] += 1
            outcomes: dict[str, tuple[int, float]] = {}
            for name, stage in stages.items():
                started = time.perf_counter()
                try:
                    found = stage(grey)
                except cv2.error:
                    found = []
                ms = (time.perf_counter() - started) * 1000
                gained = score(located + found, count, truths) - base
                gains[name]["ms"] += ms
                gains[name]["runs"] += 1
                gains[name][case] += gained
                outcomes[name] = (gained, ms)
            unread_frames.append(outcomes)
    rows = []
    for name, g in gains.items():
        mean_ms = g["ms"] / g["runs"] if g["runs"] else 0.0
        per_100ms = 100 * g["none_read"] / g["ms"] if g["ms"] else 0.0
        rows.append({"stage": name, "gain_none_read": g["none_read"], "gain_some_read": g["some_read"],
                     "mean_ms": round(mean_ms, 1), "gain_per_100ms": round(per_100ms, 3)})
    rows.sort(key=lambda r: -r["gain_per_100ms"])
    print(f"train images {images['train']}: looked at whole again: {images['none_read']} where nothing was "
          f"read, {images['some_read']} where a located code stayed unread")
    print(f"{'stage':<12}{'+codes (none read)':>20}{'+codes (some read)':>20}{'mean ms':>10}{'per 100 ms':>12}")
    for r in rows:
        print(f"{r['stage']:<12}{r['gain_none_read']:>20}{r['gain_some_read']:>20}{r['mean_ms']:>10.1f}"
              f"{r['gain_per_100ms']:>12.3f}")
    order = greedy_order(unread_frames)
    print("greedy order (first stage that reads ends the frame):")
    print(f"{'stage':<16}{'codes so far':>14}{'ms of a frame nothing reads':>30}{'codes per 100 ms':>18}")
    for step in order:
        print(f"{step['stage']:<16}{step['codes']:>14}{step['unread_frame_ms']:>30.1f}{step['gain_per_100ms']:>18.2f}")
    region_order = greedy_order(region_frames)
    print(f"region tries on {len(region_frames)} located, unread codes, greedy order:")
    for step in region_order:
        print(f"{step['stage']:<20}{step['codes']:>10}{step['unread_frame_ms']:>10.1f} ms a region nothing reads")
    print(json.dumps({"split": "train", "images": images, "stages": rows, "greedy_order": order,
                      "region_order": region_order}))
    return 0


def region_outcomes(dec: FrameDecoder, grey: np.ndarray, look: _Look, count: int,
                    truths: set[str] | None) -> list[dict[str, tuple[int, float]]]:
    """For each unread code the first look located (as many as the cascade retries): what every region try
    gains and costs on it alone (its rectification or outline included)."""
    first = look.texts
    base = score(first, count, truths)
    found = []
    for corners in look.regions[:MAX_REGIONS]:
        outcomes: dict[str, tuple[int, float]] = {}
        for name, which, side, margin, read in dec.region_tries:
            started = time.perf_counter()
            quad = corners if which == "located" else dec._outline(grey, corners)
            texts = read(dec._rectify(grey, quad, side, margin)) if quad is not None else []
            gained = score(first + texts, count, truths) - base
            outcomes[name] = (gained, (time.perf_counter() - started) * 1000)
        found.append(outcomes)
    return found


def greedy_order(frames: list[dict[str, tuple[int, float]]]) -> list[dict]:
    """Stages in the order that gains most codes per millisecond, given that a frame a stage reads is done."""
    remaining = set(frames[0]) if frames else set()
    open_frames = list(frames)
    order: list[dict] = []
    codes, frame_ms = 0, 0.0
    while remaining and open_frames:
        def rate(name: str) -> float:
            gained = sum(f[name][0] for f in open_frames)
            spent = sum(f[name][1] for f in open_frames)
            return gained / spent if spent else 0.0
        best = max(sorted(remaining), key=rate)
        if rate(best) <= 0:
            break
        step_rate = rate(best)
        remaining.discard(best)
        codes += sum(f[best][0] for f in open_frames)
        frame_ms += sum(f[best][1] for f in frames) / len(frames)
        open_frames = [f for f in open_frames if f[best][0] == 0]
        order.append({"stage": best, "codes": codes, "unread_frame_ms": round(frame_ms, 1),
                      "gain_per_100ms": round(100 * step_rate, 2)})
    return order


if __name__ == "__main__":
    sys.exit(main())
