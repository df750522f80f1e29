"""QR benchmark: our frame decoder against zxing-cpp, zbar, OpenCV QRCodeDetector, OpenCV
QRCodeDetectorAruco and WeChat QR, on every image of a folder laid out like ../shared/data/qr.

    .venv/bin/python bench/qr.py --data ../shared/data/qr

Scoring (../shared/data/MANIFEST.md): on a BoofCV image a decoder scores the number of distinct payloads
it returns, bounded by the number of labelled codes; on a ZXing image it scores 1 when a decoded text
equals the truth (CRLF normalised). Prints a table per category, then one JSON object on its last line.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # bench/queue.py must not shadow the standard library's queue

import argparse
import json
import time
from collections.abc import Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.qr.frame_decoder import CAMERA_BUDGET_MS, FrameDecoder  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}


def labelled_codes(label: Path) -> tuple[int, set[str] | None]:
    """(codes in the image, exact truths or None) from a BoofCV corner file or a ZXing text file."""
    text = label.read_text(encoding="utf-8", errors="replace")
    if label.parent.name.startswith("boofcv_"):
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        if "SETS" in lines:
            return len([ln for ln in lines[lines.index("SETS") + 1:] if ln.strip()]), None
        return (1 if lines else 0), None  # pathological: four corner lines, one code
    return 1, {text.replace("\r\n", "\n")}


VALIDATION_FILE = Path(__file__).with_name("qr_validation.txt")


def validation_images() -> set[str]:
    """``category/name`` of the images set aside for validation (never used to choose or order stages)."""
    lines = VALIDATION_FILE.read_text(encoding="utf-8").splitlines()
    return {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}


def in_split(image_path: Path, split: str, held: set[str]) -> bool:
    """all, train (what stages may be fitted on) or validation (our own held-out third)."""
    if split == "all":
        return True
    return (f"{image_path.parent.name}/{image_path.name}" in held) == (split == "validation")


def peers() -> dict[str, Callable[[np.ndarray], list[str]]]:
    import zxingcpp
    from pyzbar import pyzbar

    opencv = cv2.QRCodeDetector()
    aruco = cv2.QRCodeDetectorAruco()
    wechat = cv2.wechat_qrcode_WeChatQRCode()
    ours = FrameDecoder(budget_ms=CAMERA_BUDGET_MS)  # exactly as the kiosk's camera path runs it

    def zbar(grey: np.ndarray) -> list[str]:
        return [s.data.decode("utf-8", "replace") for s in pyzbar.decode(grey, symbols=[pyzbar.ZBarSymbol.QRCODE])]

    def multi(detector: object) -> Callable[[np.ndarray], list[str]]:
        def run(grey: np.ndarray) -> list[str]:
            try:
                ok, texts, _points, _straight = detector.detectAndDecodeMulti(grey)  # type: ignore[attr-defined]
            except cv2.error:
                return []
            return [t for t in texts if t] if ok else []
        return run

    return {
        "ours": ours.decode,
        "zxing-cpp": lambda g: [r.text for r in zxingcpp.read_barcodes(g, formats=zxingcpp.BarcodeFormat.QRCode)
                                if r.text],
        "zbar": zbar,
        "opencv": multi(opencv),
        "opencv-aruco": multi(aruco),
        "wechat": lambda g: [t for t in wechat.detectAndDecode(g)[0] if t],
    }


def timed_decode(decode: Callable[[np.ndarray], list[str]], image: np.ndarray, tally: dict) -> list[str]:
    """What ``decode`` reads, its time added to ``tally['ms']``; a decoder that raises (OpenCV's WeChat
    decoder on Shift_JIS payloads, say) reads nothing there, counted in ``tally['crashes']``."""
    started = time.perf_counter()
    try:
        found = decode(image)
    except Exception:  # noqa: BLE001 - one peer's fault on one image must not end the run
        found = []
        tally["crashes"] = tally.get("crashes", 0) + 1
    tally["ms"] += (time.perf_counter() - started) * 1000
    return found


def score(found: list[str], count: int, truths: set[str] | None) -> int:
    distinct = {f.replace("\r\n", "\n") for f in found}
    if truths is not None:
        return 1 if distinct & truths else 0
    return min(len(distinct), count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/qr", help="folder of categories")
    parser.add_argument("--only", default="", help="comma-separated decoder names (all by default)")
    parser.add_argument("--split", choices=("all", "train", "validation"), default="all",
                        help="all images, or only the training part, or only our validation third (bench/qr_validation.txt)")
    args = parser.parse_args()
    held = validation_images()
    decoders = peers()
    if args.only:
        decoders = {name: decoders[name] for name in args.only.split(",")}
    totals = {name: {"decoded": 0, "labelled": 0, "ms": 0.0, "images": 0, "crashes": 0} for name in decoders}
    print(f"{'category':<22}" + "".join(f"{name:>14}" for name in decoders))
    for category in sorted(p for p in args.data.iterdir() if p.is_dir()):
        row = {name: [0, 0] for name in decoders}
        for image_path in sorted(p for p in category.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            label = image_path.with_suffix(".txt")
            if not label.exists() or not in_split(image_path, args.split, held):
                continue
            count, truths = labelled_codes(label)
            image = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
            if image is None or count == 0:
                continue
            for name, decode in decoders.items():
                found = timed_decode(decode, image, totals[name])
                totals[name]["images"] += 1
                got = score(found, count, truths)
                row[name][0] += got
                row[name][1] += count
                totals[name]["decoded"] += got
                totals[name]["labelled"] += count
        print(f"{category.name:<22}" + "".join(f"{d:>8}/{n:<5}" for d, n in row.values()))
    result = {name: {"decoded": t["decoded"], "labelled": t["labelled"],
                     "rate": round(t["decoded"] / t["labelled"], 4) if t["labelled"] else 0.0,
                     "mean_ms": round(t["ms"] / t["images"], 2) if t["images"] else 0.0, "crashes": t["crashes"]}
              for name, t in totals.items()}
    if "ours" in result:
        result["ours"]["budget_ms"] = CAMERA_BUDGET_MS
    print_summary(result, 22, split=args.split)
    return 0


def print_summary(result: dict[str, dict[str, float]], label_width: int, **extra: str) -> None:
    """The rate and mean-time rows, then the JSON line (also used by bench/qr_synthetic.py); ``extra``: more
    top-level keys for it (the split)."""
    print(f"{'rate':<{label_width}}" + "".join(f"{r['rate']:>14.3f}" for r in result.values()))
    print(f"{'mean ms':<{label_width}}" + "".join(f"{r['mean_ms']:>14.1f}" for r in result.values()))
    print(json.dumps({"decoders": result, **extra}))


if __name__ == "__main__":
    sys.exit(main())
