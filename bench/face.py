"""Face benchmark: the kiosk's decision on people it has never seen, liveness on real sequences, speed
against face_recognition's naive pipeline, on any folder laid out like ../shared/data.

    .venv/bin/python bench/face.py --data ../shared/data

1. Accuracy (scripts/face_calibration.py). The unit is the kiosk's decision: one enrolled reference
   photo against a burst of ``frames_per_attempt`` probe photos of the same or another person (median of
   the frames' cohort-normalised scores), and a visit of up to ``max_attempts`` bursts (grey: try again;
   clear mismatch: staff). Probes come from another session than the reference where the data has one.
   * ``sets.<name>`` (the headline): identity-disjoint 3-fold cross-validation inside every set; each
     fold's people are scored with a cohort and operating point fitted on everybody else.
   * ``leave_one_set_out.<name>``: fitted on the other sets only (a population never seen).
   * ``shipped.<name>``: the shipped cohort and operating point as they are, on every person of the
     folder who is not in the shipped cohort (out-of-sample: on ../shared/data these are our validation
     people, bench/face_validation.txt; on new data, everyone). ``shipped_in_sample.<name>``: the people
     the shipped point was fitted on, named as in-sample.
   Rates come with counts and exact 95 % upper bounds. ``easy_errors``: single photo against single
   photo on faces/pairs.csv (without near-duplicates) at the shipped point, against face_recognition's
   own decision (distance <= 0.6) in the same run.
2. Liveness on video/: the motion challenge (kiosk/liveness.py) and the passive screen/print vote
   (drivers/face/presentation.py). Each print or replay attack is tried against every challenge
   (accepted if one passes and the vote lets it through), the blink video against a blink challenge,
   each head-pan series against a turn in the direction it turns (and, reversed, the other way), bona
   fide clips by the vote. Headline on the sources the presentation model was not fitted on.
   Single-frame pad/ images reported.
3. Speed on 640x480 frames: our pipeline (reduced-frame detection, landmarks, encoding) against
   face_recognition.face_locations + face_encodings.

Prints tables, then one JSON object on its last line.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # bench/queue.py must not shadow the standard library's queue

import argparse
import csv
import json
import time

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.face.dlib_engine import DlibFaceEngine  # noqa: E402
from kiosk.config import FaceConfig  # noqa: E402
from kiosk.face_quality import check  # noqa: E402
from drivers.face.presentation import PresentationModel  # noqa: E402
from kiosk.liveness import LivenessSession, PresentationRules, PresentationVote, StepOutcome  # noqa: E402
from scripts.face_calibration import (  # noqa: E402
    Cohort,
    Tally,
    TrialPlan,
    VisitScorer,
    cross_validate,
    encode_images,
    evaluate,
    gated_templates,
    hard_sets,
    images_of_sets,
    leave_one_set_out,
    load_rgb,
    people_by_set,
    read_pairs,
)
from scripts.face_sequences import liveness_trials  # noqa: E402
from scripts.composition import load_cohort, operating_point  # noqa: E402

COLUMNS = ("far", "far_upper95", "frr", "frr_visit", "frr_visit_upper95", "far_visit", "impostor_attempts",
           "genuine_visits", "people")


def _table(title: str, tallies: dict[str, Tally]) -> dict[str, dict]:
    figures = {name: tally.figures() for name, tally in sorted(tallies.items())}
    print(f"\n{title}\n{'set':<14}" + "".join(f"{c:>18}" for c in COLUMNS))
    for name, f in figures.items():
        print(f"{name:<14}" + "".join(f"{f[c]:>18}" for c in COLUMNS))
    return figures


def accuracy(engine: DlibFaceEngine, faces: Path, cfg: FaceConfig, cohort: Cohort) -> dict:
    plan = TrialPlan(frames=cfg.frames_per_attempt, attempts=cfg.max_attempts)
    sets = hard_sets(faces)
    started = time.perf_counter()
    photos = encode_images(gated_templates(engine), faces, images_of_sets(faces, sets))
    print(f"encoded {len(photos)} images of {len(sets)} sets in {time.perf_counter() - started:.0f} s "
          f"({sum(p is None for p in photos.values())} without a face)")
    folds, points = cross_validate(photos, plan, target_far=0.001, cohort_k=cfg.cohort_k)
    result = {"sets": _table("identity-disjoint 3-fold (headline)", folds),
              "fold_points": [{"threshold": p.threshold, "grey_floor": p.grey_floor} for p in points]}
    result["leave_one_set_out"] = _table("leave one set out", leave_one_set_out(
        photos, plan, target_far=0.001, cohort_k=cfg.cohort_k))
    point = operating_point(cfg)
    everyone = {p for group in people_by_set(photos).values() for p in group}
    unseen = everyone - cohort.identities
    result["shipped"] = _table(f"shipped point on people not in the shipped cohort ({len(unseen)})",
                               evaluate(photos, unseen, cohort, point, plan, cfg.cohort_k))
    result["shipped_in_sample"] = _table(
        "shipped point on the people it was fitted on (in-sample)",
        evaluate(photos, everyone & cohort.identities, cohort, point, plan, cfg.cohort_k))
    result["scored_people_in_shipped_cohort"] = sorted(unseen & cohort.identities)
    return result


def easy_set(engine: DlibFaceEngine, faces: Path, cfg: FaceConfig, cohort: Cohort, naive) -> tuple[int, int, int, int]:
    """(our errors at the shipped point, pairs, decisions differing from the naive pipeline's, its errors).

    The naive pipeline decides as face_recognition does by default: compare_faces, distance <= 0.6."""
    pairs = read_pairs(faces / "pairs.csv")
    files = [f for a, b, _ in pairs for f in (a, b)]
    ours = encode_images(gated_templates(engine), faces, files)
    theirs = encode_images(naive, faces, files)
    scorer, point = VisitScorer(ours, cohort.scorer(cfg.cohort_k)), operating_point(cfg)
    errors = differ = naive_errors = 0
    for a, b, same in pairs:
        ours_match = (ours[a] is not None and ours[b] is not None
                      and scorer.frame(a, b) >= point.band(min(ours[a].face_px, ours[b].face_px))[0])
        theirs_match = (theirs[a] is not None and theirs[b] is not None
                        and float(np.linalg.norm(theirs[a] - theirs[b])) <= 0.6)
        errors += ours_match != same
        naive_errors += theirs_match != same
        differ += ours_match != theirs_match
    return errors, len(pairs), differ, naive_errors


def liveness(engine: DlibFaceEngine, data: Path) -> dict:
    """Every sequence against the challenges it can answer, plus the passive screen/print vote.

    An attack is accepted when a challenge passes and the vote does not refuse it; a bona fide sequence
    is rejected when its challenge fails or the vote refuses it (clips of people who were not asked
    anything are judged by the vote alone when a face is found in them: their motion answered no prompt;
    one with no face at all is a rejection, counted beside). The headline counts only sources the
    presentation model was not fitted on; the rest is reported as in-sample."""
    model = PresentationModel.load()
    rules = PresentationRules(share_threshold=model.share_threshold)
    fitted = set(model.fitted_sources)
    counts = {"out_of_sample": _live_counts(), "in_sample": _live_counts()}
    rows = []
    for trial in liveness_trials(data / "video"):
        tracks = [(t, engine.analyse(frame)) for t, frame in trial.frames()]
        vote = PresentationVote(rules)
        for _, obs in tracks:
            vote.feed(None if obs is None else obs.attack_probability)
        outcomes = {}
        for challenge in trial.challenges:
            session = LivenessSession([challenge])
            status = session.status
            for t, obs in tracks:
                status = session.feed(t, None if obs is None else obs.landmarks)
                if status.outcome is not StepOutcome.WAITING:
                    break
            outcomes[challenge.value] = (status.outcome.value, status.reason, round(session.max_parallax, 3))
        passed = [c for c, (o, _, _) in outcomes.items() if o == StepOutcome.PASSED.value]
        unprompted = not trial.attack and len(trial.challenges) > 2  # a clip of someone not asked anything
        faces_found = sum(o is not None for _, o in tracks)
        answered = bool(passed) if trial.attack else (trial.expected.value in passed or (unprompted and faces_found > 0))
        accepted = answered and not vote.attack
        c = counts["in_sample" if trial.source in fitted else "out_of_sample"]
        if trial.attack:
            c["attacks"] += 1
            c["attacks_accepted"] += accepted
            c["motion_only_accepted"] += answered
            c[f"{trial.kind}_attacks"] += 1
            c[f"{trial.kind}_accepted"] += accepted
        else:
            c["bona_fide"] += 1
            c["bona_fide_rejected"] += not accepted
            c["bona_fide_rejected_by_vote"] += vote.attack
            c["bona_fide_without_face"] += faces_found == 0
            c["bona_fide_clips_answering_no_challenge"] += unprompted and not passed
        rows.append((trial.name, trial.kind, trial.source in fitted, len(tracks), faces_found,
                     round(vote.share, 2), accepted, outcomes))
    print(f"\n{'sequence':<64}{'kind':<10}{'fit':>4}{'frames':>7}{'faces':>6}{'vote':>6}{'accepted':>9}  per challenge")
    for name, kind, in_fit, n, found, share, accepted, outcomes in rows:
        text = ", ".join(f"{c}: {o}{'/' + r if r else ''}" for c, (o, r, _) in outcomes.items())
        print(f"{name[-63:]:<64}{kind:<10}{'yes' if in_fit else '':>4}{n:>7}{found:>6}{share:>6}{str(accepted):>9}  {text}")
    headline = counts["out_of_sample"]
    for name, c in counts.items():
        c["apcer"] = round(c["attacks_accepted"] / c["attacks"], 4) if c["attacks"] else None
        c["bpcer"] = round(c["bona_fide_rejected"] / c["bona_fide"], 4) if c["bona_fide"] else None
        print(f"{name}: {c}")
    return {**headline, "in_sample": counts["in_sample"], "share_threshold": model.share_threshold}


def _live_counts() -> dict:
    return {"attacks": 0, "attacks_accepted": 0, "motion_only_accepted": 0, "replay_attacks": 0,
            "replay_accepted": 0, "print_attacks": 0, "print_accepted": 0, "bona_fide": 0, "bona_fide_rejected": 0,
            "bona_fide_rejected_by_vote": 0, "bona_fide_without_face": 0, "bona_fide_clips_answering_no_challenge": 0}


def single_frame_pad(engine: DlibFaceEngine, data: Path) -> dict:
    """Single frames cannot show motion: reported to show what a still photo gets past without liveness."""
    labels = data / "pad" / "labels.csv"
    if not labels.exists():
        return {}
    counts: dict[str, dict[str, int]] = {}
    with open(labels, newline="") as handle:
        for row in csv.DictReader(handle):
            image = load_rgb(data / "pad" / row["file"])
            obs = engine.analyse(image, thorough=True)
            entry = counts.setdefault(row["label"], {"images": 0, "face_found": 0, "quality_gate_passed": 0})
            entry["images"] += 1
            entry["face_found"] += obs is not None
            entry["quality_gate_passed"] += obs is not None and check(obs) == ""
    print("\nsingle-frame pad/: " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return counts


def speed(engine: DlibFaceEngine, faces: Path, naive, limit: int) -> dict:
    import cv2

    frames = []
    # the sets' photographs as the accuracy part finds them (a folder of symbolic links too), then the rest,
    # each once
    listed = [faces / rel for rel in images_of_sets(faces, hard_sets(faces))] + sorted(faces.rglob("*"))
    photos = [p for p in dict.fromkeys(listed) if p.suffix.lower() in {".jpg", ".png"}]
    for path in photos:
        if len(frames) < limit:
            image = load_rgb(path)
            if image.shape[:2] == (480, 640):
                frames.append(image)
    if not frames:  # no 640x480 photographs: use any, resized
        frames = [cv2.resize(load_rgb(p), (640, 480)) for p in [q for q in photos if q.suffix.lower() == ".jpg"][:limit]]
    if not frames:  # nothing to time on (the folder holds no photographs of its own): the JSON still comes
        print("\nspeed: no photographs under faces/ to time on; skipped")
        return {"speed_skipped": "no photographs under faces/"}
    for frame in frames[:2]:  # warm both pipelines
        engine.encode_largest_face(frame)
        naive(frame)

    def ours(frame: np.ndarray) -> None:
        obs = engine.analyse(frame)
        if obs is not None:
            engine.encode(frame, obs)

    timings = {}
    for name, pipeline in (("ours", ours), ("naive", naive)):
        started = time.perf_counter()
        for frame in frames:
            pipeline(frame)
        timings[name] = (time.perf_counter() - started) * 1000 / len(frames)
    # first good frame to a decision: three good frames encoded and fused
    good = [f for f in frames if check(engine.analyse(f)) == ""][:3] or frames[:3]
    started = time.perf_counter()
    for frame in good:
        ours(frame)
    decision_ms = (time.perf_counter() - started) * 1000
    print(f"\nspeed on {len(frames)} frames of 640x480: ours {timings['ours']:.1f} ms/frame, naive "
          f"{timings['naive']:.1f} ms/frame, speed-up {timings['naive'] / timings['ours']:.2f}x; "
          f"first good frame to decision ({len(good)} frames fused) {decision_ms:.0f} ms")
    return {"ms_per_frame": round(timings["ours"], 1), "naive_ms_per_frame": round(timings["naive"], 1),
            "speedup": round(timings["naive"] / timings["ours"], 2), "frames": len(frames),
            "first_good_frame_to_decision_ms": round(decision_ms)}


def _naive():
    import face_recognition

    def pipeline(image: np.ndarray) -> np.ndarray | None:
        boxes = face_recognition.face_locations(image)
        if not boxes:
            return None
        largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        return np.asarray(face_recognition.face_encodings(image, [largest])[0])

    return pipeline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--speed-frames", type=int, default=60)
    parser.add_argument("--only", default="accuracy,easy,liveness,speed",
                        help="comma-separated parts to run (accuracy, easy, liveness, speed)")
    args = parser.parse_args()
    faces = args.data / "faces"
    if not faces.is_dir():
        print(json.dumps({"error": f"no faces folder in {args.data}"}))
        return 2
    cfg = FaceConfig()
    cohort = load_cohort(cfg)
    engine, naive = DlibFaceEngine(), _naive()
    print(f"operating point: score >= {cfg.score_threshold} (grey from {cfg.grey_floor}), cohort of "
          f"{len(cohort.labels)} templates, k={cfg.cohort_k}")
    parts = set(args.only.split(","))
    out: dict = {"operating_point": {"score_threshold": cfg.score_threshold, "grey_floor": cfg.grey_floor,
                                     "small_face_threshold": cfg.small_face_threshold,
                                     "small_face_grey_floor": cfg.small_face_grey_floor,
                                     "cohort_templates": len(cohort.labels), "cohort_people": len(cohort.identities)}}
    if "accuracy" in parts:
        out.update(accuracy(engine, faces, cfg, cohort))
    if "easy" in parts:
        easy_errors, easy_pairs, easy_differ, naive_errors = easy_set(engine, faces, cfg, cohort, naive)
        print(f"\neasy set: {easy_errors} errors in {easy_pairs} pairs; decisions differing from the naive "
              f"pipeline (its templates, compare_faces at 0.6): {easy_differ}; naive errors: {naive_errors}")
        out.update({"easy_errors": easy_errors, "easy_pairs": easy_pairs,
                    "easy_decisions_differing_from_naive": easy_differ, "naive_easy_errors": naive_errors})
    if "liveness" in parts:
        out["liveness"] = liveness(engine, args.data)
        out["single_frame_pad"] = single_frame_pad(engine, args.data)
    if "speed" in parts:
        out.update(speed(engine, faces, naive, args.speed_frames))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
