"""Face operating point from labelled photographs, and its figures on people it has never seen.

Reads any folder with the layout of ``../shared/data/faces``: ``<set>/<identity>/<image>`` for the
sets named in ``identities_hard.csv`` (or given). Used by ``kiosk-provision calibrate-face`` (a hospital
calibrating on its own camera and population) and by ``bench/face.py``. Images are read, encoded and
dropped; only 128-float templates stay in memory, and the cohort file holds templates and identity
labels, never pixels.

The unit scored is the kiosk's own decision: one enrolled reference photo against a burst of probe
frames (the median of the frames' cohort-normalised scores, kiosk/face_score.py), and a visit of up to
``attempts`` such bursts (a grey burst is tried again). Probe frames come from another session than the
reference wherever the person has one. Every fitted thing (the cohort, the threshold, the grey floor) is
learned from people other than the ones scored: ``cross_validate`` splits by identity.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.ports import FACE_ENCODERS
from kiosk.face_evaluation import attempts_needed, identity_folds, operating_point, rate, visit_outcome
from kiosk.face_quality import check
from kiosk.face_score import CohortScorer, CohortStats, OperatingPoint, Verdict

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
# a still photograph cannot be asked to step closer or to the centre: those prompts do not make it unusable
FRAMING_PROMPTS = {"face.prompt.centre", "face.prompt.closer"}
MIN_PEOPLE_PER_SET = 6  # three folds of at least two people each


def identity_of(relpath: str) -> str:
    """``set/identity`` of ``set/identity/image``."""
    return "/".join(relpath.split("/")[:2])


def set_of(relpath: str) -> str:
    return relpath.split("/")[0]


def session_of(relpath: str) -> str:
    """The capture session where the file name tells it (NUAA: ``ID_SS_...``; Pointing'04: the series
    digit after the person number), else ''. Probes are drawn from another session than the reference."""
    name = relpath.rsplit("/", 1)[-1]
    nuaa = re.match(r"\d{4}_(\d{2})_", name)
    if nuaa:
        return nuaa.group(1)
    pointing = re.match(r"person\d{2}(\d)\d{2}[+-]", name)
    return pointing.group(1) if pointing else ""


def hard_sets(faces_dir: Path) -> list[str]:
    listing = faces_dir / "identities_hard.csv"
    if listing.exists():
        with open(listing, newline="") as handle:
            return sorted({row["set"] for row in csv.DictReader(handle)})
    return sorted(p.name for p in faces_dir.iterdir() if p.is_dir() and not p.name.startswith("_"))


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


@dataclass(frozen=True)
class Encoded:
    """A photograph reduced to what scoring needs: its template and whether the kiosk would use it."""

    template: np.ndarray
    usable: bool  # passes the quality gate (framing prompts aside: a still cannot move)
    face_px: int | None = None  # height of the face box (the operating point's small-face band)


def gated_templates(engine: Any) -> Callable[[np.ndarray], Encoded | None]:
    """Template plus the quality gate's word on the photo, as the kiosk would judge a frame."""
    def encode(image: np.ndarray) -> Encoded | None:
        obs = engine.analyse(image, thorough=True)
        if obs is None:
            return None
        prompt = check(obs)
        return Encoded(engine.encode(image, obs), usable=prompt == "" or prompt in FRAMING_PROMPTS, face_px=obs.height)

    return encode


def encode_images(encode: Callable[[np.ndarray], Any], faces_dir: Path, relpaths: Iterable[str],
                  progress: Callable[[int], None] = lambda _done: None) -> dict[str, Any]:
    """relpath -> what ``encode`` made of it (None when no face was found: a failure to acquire)."""
    out = {}
    for index, rel in enumerate(dict.fromkeys(relpaths), start=1):
        out[rel] = encode(load_rgb(faces_dir / rel))
        progress(index)
    return out


@dataclass
class Cohort:
    embeddings: np.ndarray
    labels: list[str]

    def scorer(self, k: int) -> CohortScorer:
        return CohortScorer(self.embeddings, k=k, labels=self.labels)

    @property
    def identities(self) -> set[str]:
        return set(self.labels)

    @property
    def encoder(self) -> str:
        """The face encoder whose templates these are (told by their size)."""
        size = int(self.embeddings.shape[1]) if self.embeddings.ndim == 2 else 0
        return next((name for name, n in FACE_ENCODERS.items() if n == size), f"unknown ({size} numbers)")

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
    def from_templates(cls, templates: dict[str, Any], people: Iterable[str] | None = None) -> Cohort:
        wanted = None if people is None else set(people)
        kept = [(rel, _template(t)) for rel, t in templates.items()
                if t is not None and (wanted is None or identity_of(rel) in wanted)]
        return cls(np.asarray([t for _, t in kept]), [identity_of(rel) for rel, _ in kept])


def _template(value: Any) -> np.ndarray:
    return value.template if isinstance(value, Encoded) else value


# ---- trials: what the kiosk decides -------------------------------------------------------------

@dataclass(frozen=True)
class Visit:
    """One reference photo and the bursts of probe photos of a visit (up to the visit's attempts)."""

    set_name: str
    reference: str
    bursts: tuple[tuple[str, ...], ...]
    genuine: bool


@dataclass(frozen=True)
class TrialPlan:
    frames: int = 5  # face.frames_per_attempt
    attempts: int = 3  # face.max_attempts
    impostor_visits_per_reference: int = 2
    seed: int = 7
    small_face_px: int = 100  # QualityRules.min_face_px: bursts with smaller faces form their own band


def plan_visits(photos: dict[str, Encoded | None], people: Iterable[str], plan: TrialPlan) -> list[Visit]:
    """Genuine visits (each usable photo of a person as the reference, probes of the same person from
    another session where there is one) and impostor visits (each reference against every other person
    of the same set)."""
    rng = np.random.default_rng(plan.seed)
    usable: dict[str, list[str]] = {}
    for rel, enc in photos.items():
        if enc is not None and enc.usable:
            usable.setdefault(identity_of(rel), []).append(rel)
    chosen = sorted(p for p in set(people) if p in usable)
    visits: list[Visit] = []

    def bursts(pool: Sequence[str]) -> tuple[tuple[str, ...], ...]:
        size = min(plan.frames, len(pool))
        return tuple(tuple(str(x) for x in rng.choice(pool, size, replace=False)) for _ in range(plan.attempts))

    for person in chosen:
        own = usable[person]
        for reference in own:
            others = [p for p in own if p != reference]
            elsewhere = [p for p in others if session_of(p) != session_of(reference)]
            pool = elsewhere or others
            if pool:
                visits.append(Visit(set_of(person), reference, bursts(pool), True))
            for stranger in chosen:
                if stranger != person and set_of(stranger) == set_of(person):
                    for _ in range(plan.impostor_visits_per_reference):
                        visits.append(Visit(set_of(person), reference, bursts(usable[stranger]), False))
    return visits


class VisitScorer:
    """Frame scores against a cohort from which the two people of a pair are always left out."""

    def __init__(self, photos: dict[str, Any], scorer: CohortScorer) -> None:
        self._photos, self._scorer = photos, scorer
        self._stats: dict[tuple[str, tuple[str, ...]], CohortStats] = {}

    def frame(self, reference: str, probe: str) -> float:
        exclude = tuple(sorted({identity_of(reference), identity_of(probe)}))
        ta, tb = _template(self._photos[reference]), _template(self._photos[probe])
        stats = [self._stat(rel, t, exclude) for rel, t in ((reference, ta), (probe, tb))]
        return self._scorer.score_from(float(np.linalg.norm(ta - tb)), stats[0], stats[1])

    def _stat(self, rel: str, template: np.ndarray, exclude: tuple[str, ...]) -> CohortStats:
        key = (rel, exclude)
        if key not in self._stats:
            self._stats[key] = self._scorer.stats(template, exclude=exclude)
        return self._stats[key]

    def visit(self, visit: Visit) -> list[list[float]]:
        return [[self.frame(visit.reference, p) for p in burst] for burst in visit.bursts]

    def face_px(self, visit: Visit) -> list[int | None]:
        """Each burst's smallest face height, as the kiosk measures its probe frames."""
        def height(rel: str) -> int | None:
            value = self._photos[rel]
            return value.face_px if isinstance(value, Encoded) else None

        sizes = [[height(p) for p in burst] for burst in visit.bursts]
        return [None if None in burst else min(burst) for burst in sizes]  # type: ignore[type-var]


@dataclass
class Tally:
    """Counts of one set's decisions: per attempt (one burst), per visit, and per single frame."""

    genuine_attempts: int = 0
    genuine_attempts_rejected: int = 0
    impostor_attempts: int = 0
    impostor_attempts_accepted: int = 0
    genuine_visits: int = 0
    genuine_visits_rejected: int = 0
    impostor_visits: int = 0
    impostor_visits_accepted: int = 0
    genuine_frames: int = 0
    genuine_frames_rejected: int = 0
    impostor_frames: int = 0
    impostor_frames_accepted: int = 0
    people: set[str] = field(default_factory=set)

    def add(self, visit: Visit, scores: list[list[float]], point: OperatingPoint,
            face_px: Sequence[int | None] = ()) -> None:
        self.people.add(identity_of(visit.reference))
        sizes = list(face_px) or [None] * len(scores)
        first_verdict, _ = point.decide(scores[0], sizes[0])
        accepted_visit = visit_outcome(scores, point, sizes)
        frames = scores[0]
        frames_accepted = sum(s >= point.band(sizes[0])[0] for s in frames)
        if visit.genuine:
            self.genuine_attempts += 1
            self.genuine_attempts_rejected += first_verdict is not Verdict.MATCH
            self.genuine_visits += 1
            self.genuine_visits_rejected += not accepted_visit
            self.genuine_frames += len(frames)
            self.genuine_frames_rejected += len(frames) - frames_accepted
        else:  # every attempt of an impostor visit is an impostor attempt
            self.impostor_attempts += len(scores)
            self.impostor_attempts_accepted += sum(point.decide(s, px)[0] is Verdict.MATCH
                                                   for s, px in zip(scores, sizes, strict=True))
            self.impostor_visits += 1
            self.impostor_visits_accepted += accepted_visit
            self.impostor_frames += len(frames)
            self.impostor_frames_accepted += frames_accepted

    def figures(self) -> dict[str, Any]:
        far = rate(self.impostor_attempts_accepted, self.impostor_attempts)
        frr = rate(self.genuine_attempts_rejected, self.genuine_attempts)
        far_visit = rate(self.impostor_visits_accepted, self.impostor_visits)
        frr_visit = rate(self.genuine_visits_rejected, self.genuine_visits)
        return {
            "far": far["rate"], "frr": frr["rate"], "far_visit": far_visit["rate"], "frr_visit": frr_visit["rate"],
            "far_upper95": far["upper95"], "far_visit_upper95": far_visit["upper95"],
            "frr_visit_upper95": frr_visit["upper95"],
            "impostor_attempts": self.impostor_attempts, "genuine_attempts": self.genuine_attempts,
            "impostor_visits": self.impostor_visits, "genuine_visits": self.genuine_visits,
            "far_frame": rate(self.impostor_frames_accepted, self.impostor_frames)["rate"],
            "frr_frame": rate(self.genuine_frames_rejected, self.genuine_frames)["rate"],
            "people": len(self.people),
        }


def fit(photos: dict[str, Any], people: Iterable[str], plan: TrialPlan, *, target_far: float,
        cohort_k: int) -> tuple[Cohort, OperatingPoint]:
    """Cohort and operating point from these people only (the threshold holds ``target_far`` per set)."""
    chosen = set(people)
    cohort = Cohort.from_templates(photos, chosen)
    if len(cohort.identities) < 3:
        raise ValueError("fitting needs photographs of at least three people")
    scorer = VisitScorer(photos, cohort.scorer(cohort_k))
    bands: dict[str, tuple[dict[str, list[float]], dict[str, dict[tuple[str, str], list[float]]]]] = {
        "normal": ({}, {}), "small": ({}, {})}
    for visit in plan_visits(photos, chosen, plan):
        if not visit.genuine:
            key = (identity_of(visit.reference), identity_of(visit.bursts[0][0]))
            for burst, px in zip(scorer.visit(visit), scorer.face_px(visit), strict=True):
                impostors, pairs = bands["small" if px is not None and px < plan.small_face_px else "normal"]
                fused = float(np.median(burst))
                impostors.setdefault(visit.set_name, []).append(fused)
                pairs.setdefault(visit.set_name, {}).setdefault(key, []).append(fused)
    (normal, normal_pairs), (small, small_pairs) = bands["normal"], bands["small"]
    return cohort, operating_point(normal, target_far, pair_scores=normal_pairs, small_impostor_scores=small,
                                   small_pair_scores=small_pairs, small_face_px=plan.small_face_px)


def evaluate(photos: dict[str, Any], people: Iterable[str], cohort: Cohort, point: OperatingPoint,
             plan: TrialPlan, cohort_k: int) -> dict[str, Tally]:
    """Tallies per set of the kiosk's decisions on these people, with this cohort and point."""
    scorer = VisitScorer(photos, cohort.scorer(cohort_k))
    tallies: dict[str, Tally] = {}
    for visit in plan_visits(photos, people, plan):
        tallies.setdefault(visit.set_name, Tally()).add(visit, scorer.visit(visit), point, scorer.face_px(visit))
    return tallies


def people_by_set(photos: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {}
    for rel, enc in photos.items():
        if enc is not None:
            found.setdefault(set_of(rel), set()).add(identity_of(rel))
    return {name: sorted(people) for name, people in sorted(found.items())}


def cross_validate(photos: dict[str, Any], plan: TrialPlan, *, target_far: float, cohort_k: int,
                   folds: int = 3) -> tuple[dict[str, Tally], list[OperatingPoint]]:
    """Identity-disjoint k-fold inside every set: each fold's people are scored with a cohort and an
    operating point fitted on everybody else (all sets' other people)."""
    by_set = people_by_set(photos)
    split = {name: identity_folds(people, folds) for name, people in by_set.items()}
    everyone = {p for people in by_set.values() for p in people}
    totals: dict[str, Tally] = {}
    points = []
    for index in range(folds):
        held = {p for groups in split.values() for p in groups[index]}
        cohort, point = fit(photos, everyone - held, plan, target_far=target_far, cohort_k=cohort_k)
        points.append(point)
        _merge(totals, evaluate(photos, held, cohort, point, plan, cohort_k))
    return totals, points


def leave_one_set_out(photos: dict[str, Any], plan: TrialPlan, *, target_far: float,
                      cohort_k: int) -> dict[str, Tally]:
    """Each set scored with a cohort and point fitted on the other sets only (a new population)."""
    by_set = people_by_set(photos)
    totals: dict[str, Tally] = {}
    for name, people in by_set.items():
        others = {p for other, group in by_set.items() if other != name for p in group}
        if len(others) < 3:
            continue
        cohort, point = fit(photos, others, plan, target_far=target_far, cohort_k=cohort_k)
        _merge(totals, evaluate(photos, people, cohort, point, plan, cohort_k))
    return totals


def _merge(into: dict[str, Tally], more: dict[str, Tally]) -> None:
    for name, tally in more.items():
        total = into.setdefault(name, Tally())
        for key, value in vars(tally).items():
            if key == "people":
                total.people |= value
            else:
                setattr(total, key, getattr(total, key) + value)


def too_few(photos: dict[str, Any], target_far: float) -> str:
    """Why these photographs cannot support an operating point for ``target_far`` ('' when they can)."""
    needed = attempts_needed(target_far)
    per_person = Counter(identity_of(rel) for rel, e in photos.items() if e is not None)
    problems = []
    for name, people in people_by_set(photos).items():
        counts = [per_person[p] for p in people]
        pairs = sum(counts) ** 2 - sum(c * c for c in counts)  # ordered pairs of photos of different people
        if len(people) < MIN_PEOPLE_PER_SET or pairs < needed:
            problems.append(f"{name}: {len(people)} people, {pairs} impostor photo pairs")
    if not problems:
        return ""
    return (f"too few people to calibrate for far {target_far:g}: every set needs at least "
            f"{MIN_PEOPLE_PER_SET} people (cross-validation holds two out per fold) and {needed} impostor "
            f"photo pairs (zero false accepts in {needed} attempts bounds the rate below {target_far:g} at "
            f"95 % confidence); " + "; ".join(problems))
