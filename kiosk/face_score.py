"""1:1 face scores normalised against a cohort, and the decision taken from them.

A raw embedding distance means different things for different people: dlib's
128-d space crowds some populations (East Asian webcam subjects sit at 0.3-0.5
from each other, where the library's default 0.6 accepts almost everyone). The
score here is adaptive symmetric normalisation (AS-norm): the distance is
compared with each side's distances to its K nearest faces in a cohort of other
people, so a probe that looks like many people must be much closer to its
reference than one that looks like nobody else.

    score = ((mu_a - d) / sd_a + (mu_b - d) / sd_b) / 2

That is for dlib's templates. The arcface encoder's unit-length templates are scored by their plain
cosine similarity, times ten (``cosine_score``): on the development people, cross-validated by person,
its thresholds came out the same from fold to fold (0.32-0.36) where AS-norm's ranged from 4.7 to 10.2,
and fitted without a population it kept fewer impostors (docs/benchmarks.md, session 14). The cohort
still names the people the calibration saw.

Higher is more alike. The threshold on this score is calibrated for a target
false-accept rate (``scripts/calibrate_face.py``) and shipped in config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from kiosk.ports import FACE_ENCODERS

Vector = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CohortStats:
    mean: float
    std: float


class CohortScorer:
    """Scores template pairs against a cohort (N x D embeddings of people not being verified)."""

    def __init__(self, cohort: npt.ArrayLike, *, k: int = 50, labels: Sequence[str] = ()) -> None:
        self._cohort = np.asarray(cohort, dtype=np.float64)
        if self._cohort.ndim != 2 or len(self._cohort) < 2:
            raise ValueError("the cohort needs at least two embeddings")
        if labels and len(labels) != len(self._cohort):
            raise ValueError("one label per cohort embedding")
        self._labels = np.asarray(list(labels) or [""] * len(self._cohort))
        self.k = max(2, min(k, len(self._cohort)))
        self.dimension = int(self._cohort.shape[1])  # the template size of the encoder the cohort was made with
        self.normalised = self.dimension != FACE_ENCODERS["arcface"]  # arcface: plain cosine, no AS-norm

    def without(self, labels: Sequence[str]) -> CohortScorer:
        """The same scorer with some people left out (someone scored must never be their own cohort)."""
        keep = ~np.isin(self._labels, list(labels))
        return CohortScorer(self._cohort[keep], k=self.k, labels=list(self._labels[keep]))

    def stats(self, template: npt.ArrayLike, *, exclude: Sequence[str] = ()) -> CohortStats:
        """Mean and spread of the template's distances to its K nearest cohort members.

        ``exclude`` leaves out cohort members with those labels (benchmarks: the people being scored).
        """
        if not self.normalised:
            return UNUSED_STATS
        members = self._cohort
        if exclude:
            members = members[~np.isin(self._labels, list(exclude))]
        distances = np.linalg.norm(members - np.asarray(template, dtype=np.float64), axis=1)
        nearest = np.partition(distances, min(self.k, len(distances)) - 1)[: self.k]
        return CohortStats(float(nearest.mean()), max(float(nearest.std()), 1e-6))

    def score(self, probe: npt.ArrayLike, reference: npt.ArrayLike, *, stats_b: CohortStats | None = None) -> float:
        """``stats_b``: the reference's cohort statistics when the caller keeps them for a session."""
        distance = float(np.linalg.norm(np.asarray(probe, dtype=np.float64) - np.asarray(reference, dtype=np.float64)))
        return self.score_from(distance, self.stats(probe), stats_b or self.stats(reference))

    def score_from(self, distance: float, sa: CohortStats, sb: CohortStats) -> float:
        return score_from(distance, sa, sb) if self.normalised else cosine_score(distance)


UNUSED_STATS = CohortStats(0.0, 1.0)
COSINE_SCALE = 10.0  # cosine similarity 0.35 scores 3.5: thresholds stay in the config's range and readable


def score_from(distance: float, sa: CohortStats, sb: CohortStats) -> float:
    return 0.5 * ((sa.mean - distance) / sa.std + (sb.mean - distance) / sb.std)


def cosine_score(distance: float) -> float:
    """Ten times the cosine similarity of two unit-length templates ``distance`` apart."""
    return COSINE_SCALE * (1.0 - distance * distance / 2.0)


class Verdict(Enum):
    MATCH = "match"
    GREY = "grey"  # too close to call: retry, then staff
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class OperatingPoint:
    """``threshold``: lowest fused score accepted; ``grey_floor``: scores in [grey_floor, threshold) retry.

    Small faces carry less detail and look-alike strangers score higher on them, so a burst whose
    smallest face is under ``small_face_px`` pixels tall is judged by its own, stricter band
    (``small_threshold``, ``small_grey_floor``; None: the same as the others). With the kiosk's default
    quality gate (faces of at least 100 px) the small band never applies; a site that lets smaller
    faces through gets it.
    """

    threshold: float
    grey_floor: float
    small_threshold: float | None = None
    small_grey_floor: float | None = None
    small_face_px: int = 100

    def __post_init__(self) -> None:
        if self.grey_floor > self.threshold:
            raise ValueError("the grey zone must lie below the threshold")
        if (self.small_threshold is None) != (self.small_grey_floor is None):
            raise ValueError("the small-face band needs both a threshold and a grey floor")
        if self.small_threshold is not None and self.small_grey_floor is not None \
                and self.small_grey_floor > self.small_threshold:
            raise ValueError("the small-face grey zone must lie below its threshold")

    def band(self, face_px: int | None) -> tuple[float, float]:
        """(threshold, grey floor) for a burst whose smallest face is ``face_px`` tall (None: unknown)."""
        if face_px is not None and face_px < self.small_face_px and self.small_threshold is not None:
            assert self.small_grey_floor is not None
            return self.small_threshold, self.small_grey_floor
        return self.threshold, self.grey_floor

    def decide(self, scores: Sequence[float], face_px: int | None = None) -> tuple[Verdict, float]:
        """Fuses several good frames (median, robust to one bad frame) into one verdict."""
        if not scores:
            raise ValueError("no scores to decide on")
        threshold, grey_floor = self.band(face_px)
        fused = float(np.median(np.asarray(scores, dtype=np.float64)))
        if fused >= threshold:
            return Verdict.MATCH, fused
        if fused >= grey_floor:
            return Verdict.GREY, fused
        return Verdict.MISMATCH, fused


def score_band(score: float, point: OperatingPoint) -> str:
    """Coarse band for audit records (never the raw template): clear/near/grey/far."""
    if score >= point.threshold + 2.0:
        return "clear"
    if score >= point.threshold:
        return "near"
    if score >= point.grey_floor:
        return "grey"
    return "far"
