"""Honest face figures: identity-disjoint splits, the kiosk's visit decision, exact bounds, the shipped
cohort kept apart from the people the benchmark scores out-of-sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kiosk.face_evaluation import (
    identity_folds,
    operating_point,
    attempts_needed,
    threshold_for_far,
    threshold_for_pairs,
    upper_bound,
    visit_outcome,
)
from kiosk.face_score import OperatingPoint
from scripts.face_calibration import (
    Cohort,
    Encoded,
    TrialPlan,
    cross_validate,
    identity_of,
    plan_visits,
    session_of,
    too_few,
)

ROOT = Path(__file__).resolve().parents[1]


def test_folds_split_people_not_images_and_are_stable() -> None:
    people = [f"set/p{i}" for i in range(10)]
    folds = identity_folds(people, 3)
    assert sorted(p for fold in folds for p in fold) == sorted(people)
    assert all(len(set(a) & set(b)) == 0 for i, a in enumerate(folds) for b in folds[i + 1:])
    assert identity_folds(list(reversed(people)), 3) == folds  # order of input does not matter


def test_threshold_holds_the_target_in_every_set_not_only_the_pool() -> None:
    scores = {"easy": list(np.linspace(-5, 0, 1000)), "hard": list(np.linspace(-5, 4, 1000))}
    threshold = threshold_for_far(scores, 0.001)
    for values in scores.values():
        assert sum(s >= threshold for s in values) == 0  # 1,000 attempts cannot vouch for one pass
    assert threshold > 4.0  # the hard set decides
    many = {"hard": list(np.linspace(-5, 4, 10_000))}  # 10,000 attempts vouch for 5 passes, not 10
    passed = sum(s >= threshold_for_far(many, 0.001) for s in many["hard"])
    assert 0 < passed < 10 and upper_bound(passed, 10_000) <= 0.001 < upper_bound(passed + 1, 10_000)
    point = operating_point(scores, 0.001, grey_far=0.01)
    assert point.grey_floor <= point.threshold and point.threshold >= threshold
    with pytest.raises(ValueError):
        threshold_for_far({"empty": []}, 0.001)


def test_the_share_of_look_alike_pairs_is_the_far_target() -> None:
    """False accepts come in pairs of people: a far of 1 in 1,000 lets no more than 1 pair in 1,000 look
    alike, so a stricter target raises the pair rule, and the operating point follows its target."""
    rng = np.random.default_rng(3)
    pairs = {"set": {(f"a{i}", f"b{i}"): list(rng.normal(1.0 + 0.02 * i, 0.3, 6)) for i in range(60)}}
    impostors = {"set": [s for v in pairs["set"].values() for s in v]}
    assert threshold_for_pairs(pairs, 0.001) > threshold_for_pairs(pairs, 0.01) > threshold_for_pairs(pairs, 0.1)
    strict = operating_point(impostors, 0.001, pair_scores=pairs)
    loose = operating_point(impostors, 0.01, pair_scores=pairs)
    assert strict.threshold >= round(threshold_for_pairs(pairs, 0.001), 3) > loose.threshold


def test_visit_retries_grey_only() -> None:
    point = OperatingPoint(threshold=5.0, grey_floor=3.0)
    assert visit_outcome([[6, 6, 6]], point)
    assert visit_outcome([[4, 4, 4], [6, 5.5, 7]], point)  # grey, then a match
    assert not visit_outcome([[1, 1, 1], [9, 9, 9]], point)  # a clear mismatch ends the check
    assert not visit_outcome([[4, 4, 4]] * 3, point)  # grey every time: staff
    assert visit_outcome([[9, 9, 1, 1, 9]], point)  # the median of the frames decides


def test_exact_upper_bound() -> None:
    assert upper_bound(0, 2995) == pytest.approx(0.001, rel=0.01)  # the rule of three
    assert upper_bound(0, 30) == pytest.approx(1 - 0.05 ** (1 / 30), rel=1e-4)
    assert 0.1 < upper_bound(10, 100) < 0.2 and upper_bound(5, 5) == 1.0
    assert attempts_needed(0.001) == 2995


def test_sessions_from_file_names() -> None:
    assert session_of("nuaa_client/0007/0007_00_00_01_25.jpg") == "00"
    assert session_of("pointing04/Person02/person02233-15+0.jpg") == "2"
    assert session_of("site/any/photo.jpg") == ""


def _synthetic(people: int, photos: int, spread: float, seed: int = 0) -> dict[str, Encoded]:
    rng = np.random.default_rng(seed)
    out = {}
    for p in range(people):
        centre = rng.normal(size=128)
        centre /= np.linalg.norm(centre) * 1.5
        for i in range(photos):
            out[f"s/p{p:02d}/{i}.jpg"] = Encoded(centre + rng.normal(scale=spread, size=128), usable=True)
    return out


def test_cross_validation_never_scores_a_person_the_fold_was_fitted_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import scripts.face_calibration as calibration

    photos = _synthetic(9, 6, 0.01)
    seen: list[tuple[set[str], set[str]]] = []
    real_fit, real_evaluate = calibration.fit, calibration.evaluate
    fitted: list[set[str]] = []

    def spy_fit(photos_, people, plan, **kw):  # type: ignore[no-untyped-def]
        fitted.append(set(people))
        return real_fit(photos_, people, plan, **kw)

    def spy_evaluate(photos_, people, cohort: Cohort, point, plan, k):  # type: ignore[no-untyped-def]
        seen.append((set(people), cohort.identities | fitted[-1]))
        return real_evaluate(photos_, people, cohort, point, plan, k)

    monkeypatch.setattr(calibration, "fit", spy_fit)
    monkeypatch.setattr(calibration, "evaluate", spy_evaluate)
    tallies, points = cross_validate(photos, TrialPlan(frames=2, attempts=2), target_far=0.01, cohort_k=5)
    assert len(seen) == 3 and all(scored and not (scored & used) for scored, used in seen)
    assert set().union(*(scored for scored, _ in seen)) == {identity_of(r) for r in photos}
    figures = tallies["s"].figures()
    assert figures["people"] == 9 and figures["genuine_visits"] == 54 and figures["frr_visit"] == 0.0


def test_visits_draw_probes_from_another_session_where_there_is_one() -> None:
    photos = {f"nuaa_client/0007/0007_{s}_00_01_{i}.jpg": Encoded(np.zeros(128), True)
              for s in ("00", "01") for i in range(4)}
    photos.update({f"nuaa_client/0009/0009_01_00_01_{i}.jpg": Encoded(np.ones(128), True) for i in range(4)})
    for visit in plan_visits(photos, {"nuaa_client/0007", "nuaa_client/0009"}, TrialPlan(frames=3)):
        if visit.genuine and "0007" in visit.reference:
            assert all(session_of(p) != session_of(visit.reference) for b in visit.bursts for p in b)
        if not visit.genuine:
            assert all(identity_of(p) != identity_of(visit.reference) for b in visit.bursts for p in b)


def test_too_few_people_is_refused_with_what_is_needed() -> None:
    message = too_few(_synthetic(4, 5, 0.05), 0.001)
    assert "at least 6 people" in message and "2995 impostor photo pairs" in message and "s: 4 people" in message
    assert too_few(_synthetic(8, 10, 0.05), 0.001) == ""


def test_shipped_cohort_holds_none_of_the_validation_people(shared_data: Path) -> None:
    """The benchmark's out-of-sample 'shipped' figures score exactly the people the cohort has not seen."""
    from kiosk.config import FaceConfig
    from scripts.composition import load_cohort

    cohort = load_cohort(FaceConfig())
    listed = [line.strip() for line in (ROOT / "bench" / "face_validation.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert len(listed) >= 9 and not (set(listed) & cohort.identities)
    faces = shared_data / "faces"
    assert all((faces / person).is_dir() for person in listed)
    scored_sets = {p.split("/")[0] for p in listed}
    for name in scored_sets:  # every hard set keeps people for validation and gives people to the cohort
        assert any(label.startswith(name + "/") for label in cohort.identities)


@pytest.mark.slow
def test_the_shipped_operating_point_is_what_the_rule_gives_on_the_development_people(shared_data: Path) -> None:
    """The defaults in kiosk/config.py, the cohort file and docs/benchmarks.md must not drift from the rule:
    fitted again here on the development people (the validation people left out), as calibrate-face does."""
    from drivers.face.dlib_engine import DlibFaceEngine
    from kiosk.config import FaceConfig
    from scripts.composition import load_cohort
    from scripts.face_calibration import encode_images, fit, gated_templates, hard_sets, images_of_sets

    shipped = FaceConfig()
    faces = shared_data / "faces"
    validation = {line.strip() for line in (ROOT / "bench" / "face_validation.txt").read_text().splitlines()
                  if line.strip() and not line.startswith("#")}
    images = [rel for rel in images_of_sets(faces, hard_sets(faces)) if identity_of(rel) not in validation]
    photos = encode_images(gated_templates(DlibFaceEngine(encoder=shipped.encoder)), faces, images)
    cohort, point = fit(photos, {identity_of(r) for r in photos}, TrialPlan(), target_far=0.001,
                        cohort_k=shipped.cohort_k)
    assert (point.threshold, point.grey_floor) == (shipped.score_threshold, shipped.grey_floor)
    assert point.band(0) == (shipped.small_face_threshold, shipped.small_face_grey_floor)
    assert cohort.identities == load_cohort(shipped).identities
