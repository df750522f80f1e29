"""Face benchmark: accuracy at the shipped operating point, liveness on real sequences, speed against
face_recognition's naive pipeline, on any folder laid out like ../shared/data.

    .venv/bin/python bench/face.py --data ../shared/data

1. Accuracy: per hard set (from faces/identities_hard.csv), single image against single image: genuine
   pairs from pairs_hard.csv, impostors = every different-identity image pair within the set. ``far``
   and ``frr`` at the shipped operating point (cohort-normalised score, see kiosk/face_score.py; the
   people being scored are left out of the cohort), ``far_default`` / ``frr_default`` at
   face_recognition's default distance 0.6 in the same run. A photo with no face found counts as a
   reject (it raises frr, never lowers far; far is over acquired impostor pairs). Plus ``held_out``:
   each set scored at a threshold calibrated on the other sets only (how it may fare on new people).
   ``easy_errors``: errors on faces/pairs.csv without near-duplicates.
2. Liveness (kiosk/liveness.py) on video/: each print-attack sequence tried against every challenge
   (accepted if any passes), the blink video against a blink challenge, each head-pan series against a
   turn in the direction it turns (and, reversed, the other way). Single-frame pad/ images reported.
3. Speed on 640x480 frames: our pipeline (reduced-frame detection, landmarks, encoding) against
   face_recognition.face_locations + face_encodings, decisions compared on the easy set.

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
from kiosk.face_score import OperatingPoint  # noqa: E402
from kiosk.liveness import LivenessSession, StepOutcome  # noqa: E402
from scripts.face_calibration import (  # noqa: E402
    Cohort,
    PairScores,
    choose_operating_point,
    encode_images,
    hard_sets,
    images_of_sets,
    load_rgb,
    photo_templates,
    read_pairs,
    score_pair,
    score_sets,
)
from scripts.face_sequences import liveness_trials  # noqa: E402
from scripts.composition import load_cohort  # noqa: E402


def accuracy(engine: DlibFaceEngine, faces: Path, cfg: FaceConfig, cohort: Cohort) -> dict:
    point = OperatingPoint(cfg.score_threshold, cfg.grey_floor)
    scorer = cohort.scorer(cfg.cohort_k)
    sets = hard_sets(faces)
    started = time.perf_counter()
    templates = encode_images(photo_templates(engine), faces, images_of_sets(faces, sets))
    print(f"encoded {len(templates)} images of {len(sets)} sets in {time.perf_counter() - started:.0f} s")
    scores = score_sets(faces, sets, templates, scorer)
    result: dict = {name: scores[name].rates(point) for name in sets}
    pooled = PairScores([s for p in scores.values() for s in p.same], [s for p in scores.values() for s in p.different])
    result["all"] = pooled.rates(point)
    for name in sets:  # threshold from the other sets only
        others = {k: v for k, v in scores.items() if k != name}
        if others:
            held = choose_operating_point(others, target_far=0.001)
            rates = scores[name].rates(held)
            result[name]["held_out"] = {"threshold": held.threshold, "far": rates["far"], "frr": rates["frr"]}
    print(f"\n{'set':<14}{'far':>9}{'frr':>8}{'far@0.6':>9}{'frr@0.6':>9}{'genuine':>9}{'impostor':>10}"
          f"{'no face':>9}  held-out far/frr")
    for name, r in result.items():
        held = r.get("held_out")
        held_text = f"{held['far']:.4f}/{held['frr']:.3f} (t={held['threshold']})" if held else ""
        print(f"{name:<14}{r['far']:>9.4f}{r['frr']:>8.3f}{r['far_default']:>9.4f}{r['frr_default']:>9.3f}"
              f"{r['genuine_pairs']:>9}{r['impostor_pairs']:>10}{r['failed_to_acquire']:>9}  {held_text}")
    return result


def easy_set(engine: DlibFaceEngine, faces: Path, cfg: FaceConfig, cohort: Cohort, naive) -> tuple[int, int, int, int]:
    """(our errors at the shipped point, pairs, decisions differing from the naive pipeline's, its errors).

    The naive pipeline decides as face_recognition does by default: compare_faces, distance <= 0.6."""
    pairs = read_pairs(faces / "pairs.csv")
    files = [f for a, b, _ in pairs for f in (a, b)]
    ours = encode_images(photo_templates(engine), faces, files)
    theirs = encode_images(naive, faces, files)
    scorer, point = cohort.scorer(cfg.cohort_k), OperatingPoint(cfg.score_threshold, cfg.grey_floor)
    cache_ours: dict = {}
    cache_theirs: dict = {}
    errors = differ = naive_errors = 0
    for a, b, same in pairs:
        s_ours = score_pair(scorer, ours, a, b, cache_ours)
        s_theirs = score_pair(scorer, theirs, a, b, cache_theirs)
        ours_match = s_ours is not None and s_ours[0] >= point.threshold
        theirs_match = s_theirs is not None and s_theirs[1] <= 0.6  # face_recognition.compare_faces default
        errors += ours_match != same
        naive_errors += theirs_match != same
        differ += ours_match != theirs_match
    return errors, len(pairs), differ, naive_errors


def liveness(engine: DlibFaceEngine, data: Path) -> dict:
    attacks = attacks_accepted = bona_fide = bona_fide_rejected = wrong_direction_accepted = 0
    rows = []
    for trial in liveness_trials(data / "video"):
        tracks = [(t, engine.analyse(frame)) for t, frame in trial.frames()]
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
        if trial.attack:
            attacks += 1
            attacks_accepted += bool(passed)
        else:
            bona_fide += 1
            bona_fide_rejected += trial.expected.value not in passed
            wrong_direction_accepted += any(c != trial.expected.value for c in passed)
        rows.append((trial.name, "attack" if trial.attack else "bona fide", len(tracks),
                     sum(o is not None for _, o in tracks), outcomes))
    print(f"\n{'sequence':<44}{'kind':<11}{'frames':>7}{'faces':>7}  outcome per challenge (parallax)")
    for name, kind, n, found, outcomes in rows:
        text = ", ".join(f"{c}: {o}{'/' + r if r else ''} ({p})" for c, (o, r, p) in outcomes.items())
        print(f"{name:<44}{kind:<11}{n:>7}{found:>7}  {text}")
    return {"attacks": attacks, "attacks_accepted": attacks_accepted, "bona_fide": bona_fide,
            "bona_fide_rejected": bona_fide_rejected, "wrong_direction_accepted": wrong_direction_accepted}


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
    for path in sorted(faces.rglob("*")):
        if path.suffix.lower() in {".jpg", ".png"} and len(frames) < limit:
            image = load_rgb(path)
            if image.shape[:2] == (480, 640):
                frames.append(image)
    if not frames:  # no 640x480 photographs: use any, resized
        frames = [cv2.resize(load_rgb(p), (640, 480)) for p in sorted(faces.rglob("*.jpg"))[:limit]]
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
    sets = accuracy(engine, faces, cfg, cohort)
    easy_errors, easy_pairs, easy_differ, naive_errors = easy_set(engine, faces, cfg, cohort, naive)
    print(f"\neasy set: {easy_errors} errors in {easy_pairs} pairs; decisions differing from the naive "
          f"pipeline (its templates, compare_faces at 0.6): {easy_differ}; naive errors: {naive_errors}")
    live = liveness(engine, args.data)
    pad = single_frame_pad(engine, args.data)
    timing = speed(engine, faces, naive, args.speed_frames)
    print(json.dumps({"sets": sets, "easy_errors": easy_errors, "easy_pairs": easy_pairs,
                      "easy_decisions_differing_from_naive": easy_differ, "naive_easy_errors": naive_errors, "liveness": live,
                      "single_frame_pad": pad, **timing,
                      "operating_point": {"score_threshold": cfg.score_threshold, "grey_floor": cfg.grey_floor}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
