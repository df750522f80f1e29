"""Which score for the arcface encoder's templates: AS-norm against the cohort, or the plain cosine
similarity? And which share of look-alike pairs the threshold rule allows: a fixed 1 % (until session
15) or the far target itself? Decided on the development people only (bench/face_validation.txt left out
entirely).

    .venv/bin/python bench/face_scores.py --data ../shared/data

For each score: identity-disjoint 3-fold cross-validation (each fold's threshold and cohort fitted on the
other folds, the rule calibrate-face uses), the fold thresholds (a score whose thresholds move a lot from
fold to fold will not hold on new people), and leave one set out (fitted without a population). Prints a
table, then one JSON object on its last line.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # bench/queue.py must not shadow the standard library's queue

import argparse
import json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.face.dlib_engine import DlibFaceEngine  # noqa: E402
from kiosk.face_score import CohortScorer  # noqa: E402
import kiosk.face_evaluation as evaluation  # noqa: E402
import scripts.face_calibration as calibration  # noqa: E402

VARIANTS = (("as_norm", True, None), ("cosine_pair_share_0.01", False, 0.01), ("cosine", False, None))


def _scored_as(normalised: bool) -> None:
    """Every cohort scorer the calibration builds from here on uses this score."""
    def scorer(cohort: calibration.Cohort, k: int) -> CohortScorer:
        built = CohortScorer(cohort.embeddings, k=k, labels=cohort.labels)
        built.normalised = normalised
        return built

    calibration.Cohort.scorer = scorer  # type: ignore[method-assign]


def _pair_share(share: float | None) -> None:
    """The threshold rule's share of look-alike pairs from here on: fixed, or (None) the far target."""
    def rule(pair_scores, target_far):  # type: ignore[no-untyped-def]
        return _PAIR_RULE(pair_scores, target_far if share is None else share)

    evaluation.threshold_for_pairs = rule  # type: ignore[assignment]


_PAIR_RULE = evaluation.threshold_for_pairs


def _figures(tallies: dict[str, calibration.Tally]) -> dict[str, dict]:
    return {name: {key: tally.figures()[key] for key in ("far", "far_upper95", "frr_visit", "impostor_attempts")}
            for name, tally in sorted(tallies.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--far", type=float, default=0.001)
    args = parser.parse_args()
    faces = args.data / "faces"
    validation = {line.strip() for line in (ROOT / "bench" / "face_validation.txt").read_text().splitlines()
                  if line.strip() and not line.startswith("#")}
    images = [rel for rel in calibration.images_of_sets(faces, calibration.hard_sets(faces))
              if calibration.identity_of(rel) not in validation]
    photos = calibration.encode_images(calibration.gated_templates(DlibFaceEngine(encoder="arcface")), faces, images)
    plan, out = calibration.TrialPlan(), {}
    for name, normalised, share in VARIANTS:
        _scored_as(normalised)
        _pair_share(share)
        tallies, points = calibration.cross_validate(photos, plan, target_far=args.far, cohort_k=35, folds=3)
        unseen = calibration.leave_one_set_out(photos, plan, target_far=args.far, cohort_k=35)
        out[name] = {"folds": _figures(tallies), "fold_thresholds": [round(p.threshold, 3) for p in points],
                     "leave_one_set_out": _figures(unseen)}
        print(f"\n{name}: fold thresholds {out[name]['fold_thresholds']}")
        for label, figures in (("3-fold", out[name]["folds"]), ("leave one set out", out[name]["leave_one_set_out"])):
            for set_name, f in figures.items():
                print(f"  {label:<18} {set_name:<12} far {f['far']:.4f} (<= {f['far_upper95']:.4f}, "
                      f"{f['impostor_attempts']} attempts)  frr_visit {f['frr_visit']:.3f}")
    print(json.dumps({"people": "development only", **out}))


if __name__ == "__main__":
    main()
