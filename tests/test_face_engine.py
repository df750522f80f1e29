"""The dlib face engine and the 1:1 verifier on real photographs from ../shared/data."""

from __future__ import annotations

import csv
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiosk.config import FaceConfig
from kiosk.domain import InsuredPerson
from kiosk.face_check import LIVENESS_NOT_BUILT, LIVENESS_REPLAY, FaceVerifier, NoFaceFound, NoReferenceFace

from drivers.camera.replay import ReplayCamera, load_frames
from drivers.face.dlib_engine import DlibFaceEngine

pytestmark = pytest.mark.slow
ENGINE = DlibFaceEngine()
PERSON = InsuredPerson("P1", "C", "N", "1", "", "", "310", Decimal(0), "110101")


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_easy_pairs_are_separated_at_the_default_threshold(shared_data: Path) -> None:
    faces = shared_data / "faces"
    with open(faces / "pairs.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["near_duplicate"] == "0"
                and r["file_a"].startswith("face_recognition/") and r["file_b"].startswith("face_recognition/")]
    assert len(rows) >= 20
    cache: dict[str, np.ndarray] = {}

    def template(name: str) -> np.ndarray:
        if name not in cache:
            sample = ENGINE.encode_largest_face(rgb(faces / name))
            assert sample is not None, name
            cache[name] = sample.template
        return cache[name]

    threshold = FaceConfig().match_threshold
    errors = [r for r in rows[:40]
              if (ENGINE.distance(template(r["file_a"]), template(r["file_b"])) <= threshold) != (r["same"] == "1")]
    assert errors == []


def test_group_photo_gives_the_largest_face_first(shared_data: Path) -> None:
    frame = rgb(shared_data / "faces/face_recognition/_multi_face/obama_and_biden.jpg")
    boxes = ENGINE.detect(frame)
    assert len(boxes) >= 2
    areas = [(b - t) * (r - lf) for t, r, b, lf in boxes]
    assert areas == sorted(areas, reverse=True)
    height, width = frame.shape[:2]
    assert all(0 <= lf < r <= width and 0 <= t < b <= height for t, r, b, lf in boxes)


class Reference:
    def __init__(self, template: np.ndarray | None) -> None:
        self.template = template

    def pending_fees(self, person: InsuredPerson) -> tuple:
        return ()

    def reference_template(self, person: InsuredPerson) -> np.ndarray | None:
        return None if self.template is None else self.template.copy()


def verifier(camera: ReplayCamera, reference: np.ndarray | None, *, demo: bool) -> FaceVerifier:
    return FaceVerifier(camera, ENGINE, Reference(reference), FaceConfig(frames_per_attempt=2, attempt_timeout_s=5),
                        demo=demo, clock=time.monotonic, sleep=time.sleep)


def test_verifier_accepts_the_same_person_and_refuses_another(shared_data: Path) -> None:
    obama = shared_data / "faces/face_recognition/obama"
    photos = sorted(p for p in obama.iterdir() if p.suffix in {".jpg", ".png"})
    reference = ENGINE.encode_largest_face(rgb(photos[0])).template
    same = ReplayCamera(load_frames(photos[-1]), fps=30)
    same.start()
    match = verifier(same, reference, demo=True).verify(PERSON)
    assert match.accepted and match.liveness == LIVENESS_REPLAY
    biden = ReplayCamera(load_frames(next((shared_data / "faces/face_recognition/biden").iterdir())), fps=30)
    biden.start()
    assert not verifier(biden, reference, demo=True).verify(PERSON).accepted
    same.stop()
    biden.stop()


def test_outside_demo_mode_no_liveness_means_no_pass(shared_data: Path) -> None:
    photo = next((shared_data / "faces/face_recognition/obama").glob("*.jpg"))
    camera = ReplayCamera(load_frames(photo), fps=30)
    camera.is_live = True  # as a webcam would be
    camera.start()
    match = verifier(camera, ENGINE.encode_largest_face(rgb(photo)).template, demo=False).verify(PERSON)
    camera.stop()
    assert match.distance < 0.1 and not match.accepted and match.liveness == LIVENESS_NOT_BUILT


def test_no_reference_and_no_face(tmp_path: Path) -> None:
    blank = ReplayCamera([np.full((240, 320, 3), 128, np.uint8)], fps=30)
    blank.start()
    with pytest.raises(NoReferenceFace):
        verifier(blank, None, demo=True).verify(PERSON)
    fast = FaceVerifier(blank, ENGINE, Reference(np.zeros(128)), FaceConfig(attempt_timeout_s=1), demo=True,
                        clock=time.monotonic, sleep=time.sleep)
    with pytest.raises(NoFaceFound):
        fast.verify(PERSON)
    blank.stop()


def test_wipe_zeroes_the_reference() -> None:
    camera = ReplayCamera([np.zeros((10, 10, 3), np.uint8)], fps=30)
    v = verifier(camera, np.ones(128), demo=True)
    held = v._load_reference(PERSON)
    v.wipe()
    assert not held.any() and v._reference is None
