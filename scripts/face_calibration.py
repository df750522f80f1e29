"""Face operating point from labelled photographs: encode a folder, score pairs, pick the threshold.

Reads any folder with the layout of ``../shared/data/faces``: ``<set>/<identity>/<image>`` for the
sets named in ``identities_hard.csv`` (or given), plus ``pairs.csv`` / ``pairs_hard.csv``. Used by
``kiosk-provision calibrate-face`` (a hospital recalibrating on its own camera and population) and by
``bench/face.py``. Images are read, encoded and dropped; only 128-float templates stay in memory,
and the cohort file written holds templates and identity labels, never pixels.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.face_score import CohortScorer, CohortStats, OperatingPoint, score_from

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
DEFAULT_DISTANCE = 0.6  # face_recognition's default tolerance, reported for comparison


def identity_of(relpath: str) -> str:
    """``set/identity`` of ``set/identity/image``."""
    return "/".join(relpath.split("/")[:2])


def set_of(relpath: str) -> str:
    return relpath.split("/")[0]


def hard_sets(faces_dir: Path) -> list[str]:
    listing = faces_dir / "identities_hard.csv"
    if listing.exists():
        with open(listing, newline="") as handle:
            return sorted({row["set"] for row in csv.DictReader(handle)})
    return sorted(p.name for p in faces_dir.iterdir() if p.is_dir())


def images_of_sets(faces_dir: Path, sets: Iterable[str]) -> list[str]:
    found = []
    for name in sets:
        for path in sorted((faces_dir / name).glob("*/*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and not path.parent.name.startswith("_"):
                found.append(path.relative_to(faces_dir).as_posix())
    return found


def read_pairs(path: Path, *, skip_near_duplicates: bool = True) -> list[tuple[str, str, bool]]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [(r["file_a"], r["file_b"], r["same"] == "1") for r in csv.DictReader(handle)
                if not (skip_near_duplicates and r.get("near_duplicate", "0") == "1")]


def load_rgb(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def photo_templates(engine: Any) -> Callable[[np.ndarray], np.ndarray | None]:
    """The template of the largest face of a photograph (searched thoroughly), or None when none is found."""
    def encode(image: np.ndarray) -> np.ndarray | None:
        sample = engine.encode_largest_face(image, thorough=True)
        return None if sample is None else sample.template

    return encode


def encode_images(encode: Callable[[np.ndarray], np.ndarray | None], faces_dir: Path,
                  relpaths: Iterable[str]) -> dict[str, np.ndarray | None]:
    """relpath -> template (None when no face was found: a failure to acquire)."""
    return {rel: encode(load_rgb(faces_dir / rel)) for rel in dict.fromkeys(relpaths)}


@dataclass
class Cohort:
    embeddings: np.ndarray
    labels: list[str]

    def scorer(self, k: int) -> CohortScorer:
        return CohortScorer(self.embeddings, k=k, labels=self.labels)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            np.savez_compressed(handle, embeddings=self.embeddings.astype(np.float32),
                                labels=np.asarray(self.labels))

    @classmethod
    def load(cls, path: Path) -> Cohort:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["embeddings"].astype(np.float64), [str(x) for x in data["labels"]])

    @classmethod
    def from_templates(cls, templates: dict[str, np.ndarray | None]) -> Cohort:
        kept = [(rel, t) for rel, t in templates.items() if t is not None]
        return cls(np.asarray([t for _, t in kept]), [identity_of(rel) for rel, _ in kept])


@dataclass
class PairScores:
    """Scores of genuine (same) and impostor (different) pairs; None entries failed to acquire."""

    same: list[tuple[float, float] | None]  # (cohort score, raw distance)
    different: list[tuple[float, float] | None]

    def rates(self, point: OperatingPoint) -> dict[str, float]:
        def accepted(s: tuple[float, float] | None) -> bool:
            return s is not None and s[0] >= point.threshold

        def accepted_default(s: tuple[float, float] | None) -> bool:
            return s is not None and s[1] <= DEFAULT_DISTANCE

        acquired = [s for s in self.different if s is not None]
        n_same, n_diff = max(1, len(self.same)), max(1, len(acquired))
        return {  # a genuine pair without a face is a reject; far counts acquired impostor pairs only
            "far": sum(map(accepted, acquired)) / n_diff,
            "frr": sum(not accepted(s) for s in self.same) / n_same,
            "far_default": sum(map(accepted_default, acquired)) / n_diff,
            "frr_default": sum(not accepted_default(s) for s in self.same) / n_same,
            "genuine_pairs": len(self.same), "impostor_pairs": len(self.different),
            "failed_to_acquire": sum(s is None for s in self.same + self.different),
        }


def score_pair(scorer: CohortScorer, templates: dict[str, np.ndarray | None], a: str, b: str,
               cache: dict[tuple[str, tuple[str, ...]], CohortStats]) -> tuple[float, float] | None:
    ta, tb = templates.get(a), templates.get(b)
    if ta is None or tb is None:
        return None
    exclude = tuple(sorted({identity_of(a), identity_of(b)}))  # the people scored are never their own cohort
    stats = []
    for rel, template in ((a, ta), (b, tb)):
        key = (rel, exclude)
        if key not in cache:
            cache[key] = scorer.stats(template, exclude=exclude)
        stats.append(cache[key])
    distance = float(np.linalg.norm(ta - tb))
    return score_from(distance, stats[0], stats[1]), distance


def set_pairs(faces_dir: Path, set_name: str, images: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Genuine pairs from pairs_hard.csv within the set; impostors: every different-identity image pair."""
    genuine = [(a, b) for a, b, same in read_pairs(faces_dir / "pairs_hard.csv")
               if same and set_of(a) == set_name and set_of(b) == set_name]
    members = [rel for rel in images if set_of(rel) == set_name]
    impostors = [(a, b) for a, b in itertools.combinations(members, 2) if identity_of(a) != identity_of(b)]
    return genuine, impostors


def score_sets(faces_dir: Path, sets: list[str], templates: dict[str, np.ndarray | None],
               scorer: CohortScorer) -> dict[str, PairScores]:
    cache: dict[tuple[str, tuple[str, ...]], CohortStats] = {}
    images = list(templates)
    result = {}
    for name in sets:
        genuine, impostors = set_pairs(faces_dir, name, images)
        result[name] = PairScores([score_pair(scorer, templates, a, b, cache) for a, b in genuine],
                                  [score_pair(scorer, templates, a, b, cache) for a, b in impostors])
    return result


def choose_operating_point(scores: dict[str, PairScores], target_far: float, *, margin: float = 0.0,
                           grey_far: float = 0.01) -> OperatingPoint:
    """Lowest threshold whose false-accept rate is at most ``target_far`` in every set (plus a margin).

    The grey zone starts where the false-accept rate reaches ``grey_far``: scores there are retried
    and then referred to staff, never accepted.
    """
    def threshold_for(far: float) -> float:
        worst = -np.inf
        for pair_scores in scores.values():
            impostor = np.sort([s[0] for s in pair_scores.different if s is not None])[::-1]
            if len(impostor) == 0:
                continue
            allowed = int(np.floor(far * len(impostor)))  # this many impostors may pass: the next must not
            blocked = float(impostor[min(allowed, len(impostor) - 1)])
            worst = max(worst, float(np.nextafter(blocked, np.inf)))
        if worst == -np.inf:
            raise ValueError("no impostor pairs to calibrate on")
        return worst

    threshold = threshold_for(target_far) + margin
    threshold = float(np.ceil(threshold * 1000) / 1000)  # rounded up: never below the calibrated point
    return OperatingPoint(threshold=threshold, grey_floor=round(min(threshold, threshold_for(grey_far)), 3))
