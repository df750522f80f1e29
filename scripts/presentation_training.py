"""Fit the passive presentation-attack model (drivers/face/presentation.py) on a split of sources.

    .venv/bin/python -m scripts.presentation_training --data ../shared/data --out drivers/face/presentation_v1.npz

Sources (a repository, a NUAA subject, a Pointing'04 person) are split, never frames: everything from a
validation source is left out of the fit, so bench/face.py can score the model on sources it has never
seen. The model file records the sources it was fitted on; the benchmark's headline skips them.

Per frame: the largest face (the engine's fast detector, as the kiosk runs it), its colour-texture
features, label attack (replay or print) or bona fide. Logistic regression with L2, each (source, label)
group weighted equally. Sequence decision: the share of a sequence's frames with P(attack) >= 0.5;
``share_threshold`` is put midway between the highest share of a fitted bona fide sequence and the lowest
of a fitted attack sequence.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# Kept apart before fitting: whole sources, scored by bench/face.py as out-of-sample.
VALIDATION_SOURCES = frozenset({
    "lestari15_CNN-face-detection", "nhtlongcs_liveness-detection", "Krzysiek354_Python_Face_Detection",
    "nuaa/0002", "nuaa/0003", "pointing04/Person07", "pointing04/Person11", "pointing04/Person13",
    "blink_repeating",
})
FRAME_STEP = 3  # every third video frame (neighbouring frames add little)


def labelled_frames(data: Path) -> Iterator[tuple[str, str, str, np.ndarray]]:
    """(kind, source, item, RGB frame) for every PAD frame of the folder: kind is replay, print or bona_fide."""
    from scripts.face_calibration import load_rgb
    from scripts.face_sequences import frames_of, source_of_sequence

    with open(data / "video" / "sequences.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            kind = sequence_kind(row["path"], row.get("description", ""))
            for index, (_, frame) in enumerate(frames_of(data / "video" / row["path"])()):
                if index % FRAME_STEP == 0:
                    yield kind, source_of_sequence(row["path"]), row["path"], frame
    labels = data / "pad" / "labels.csv"
    if labels.exists():
        with open(labels, newline="") as handle:
            for row in csv.DictReader(handle):
                name = row["file"]
                if name.startswith("screen/"):
                    kind, source = name.split("/")[1], name.split("/")[2]
                elif name.startswith("nuaa/"):
                    kind, source = ("print" if row["label"] == "attack" else "bona_fide"), "nuaa/" + row["subject"]
                else:
                    continue  # the two minivision samples: EXIF-rotated phone shots of unknown kind
                yield kind, source, "pad/" + name, load_rgb(data / "pad" / name)


def sequence_kind(path: str, description: str) -> str:
    if path.startswith("replay_attack") or description.lower().startswith("replay attack"):
        return "replay"
    if path.startswith("nuaa_print_attack_seq"):
        return "print"
    return "bona_fide"


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, l2: float = 1.0,
                 steps: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        g = weights * (p - y)
        w -= 0.1 * (z.T @ g / len(y) + l2 * w / len(y))
        b -= 0.1 * float(g.mean())
    return mean, scale, w, b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "drivers" / "face" / "presentation_v1.npz")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from drivers.face.dlib_engine import DlibFaceEngine
    from drivers.face.presentation import PresentationModel, crop_features, face_crop

    engine = DlibFaceEngine()
    rows = []
    for kind, source, item, frame in labelled_frames(args.data):
        if source in VALIDATION_SOURCES:
            continue
        obs = engine.analyse(frame)
        crop = None if obs is None else face_crop(frame, obs.box)
        if crop is not None:
            rows.append((kind, source, item, crop_features(crop)))
    x = np.asarray([r[3] for r in rows])
    y = np.asarray([r[0] != "bona_fide" for r in rows], dtype=np.float64)
    groups = Counter((r[1], r[0] != "bona_fide") for r in rows)
    weights = np.asarray([1.0 / groups[(r[1], r[0] != "bona_fide")] for r in rows])
    mean, scale, w, b = fit_logistic(x, y, weights / weights.mean())
    model = PresentationModel(mean, scale, w, b)
    shares: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for kind, _, item, features in rows:
        if not item.startswith("pad/"):
            shares[(kind, item)].append(model.probability(features) >= 0.5)
    bona = [float(np.mean(v)) for (k, _), v in shares.items() if k == "bona_fide"]
    attack = [float(np.mean(v)) for (k, _), v in shares.items() if k != "bona_fide"]
    model.share_threshold = round((max(bona) + min(attack)) / 2, 3)
    model.fitted_sources = tuple(sorted({r[1] for r in rows}))
    model.save(args.out)
    print(f"fitted on {len(rows)} frames of {len(model.fitted_sources)} sources; bona fide sequence shares "
          f"<= {max(bona):.2f}, attack sequence shares >= {min(attack):.2f}; share threshold "
          f"{model.share_threshold}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
