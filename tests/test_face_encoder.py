"""The face encoder behind the engine (face.encoder): the arcface default on real photographs, its pinned
weights, and templates or cohorts of the other encoder refused with a clear message instead of scored."""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drivers.camera.replay import ReplayCamera
from drivers.face import arcface_encoder
from drivers.face.arcface_encoder import MODEL_SHA256, SHIPPED_COHORT, ArcFaceEncoder
from drivers.face.dlib_engine import DlibFaceEngine
from kiosk.config import FaceConfig
from kiosk.domain import InsuredPerson, StaffMember
from kiosk.errors import ConfigError, FaceEngineUnavailable
from kiosk.face_check import FaceVerifier, NoReferenceFace
from offline_queue.roster import FileRoster
from scripts.composition import load_cohort, operating_point
from scripts.staff_enrolment import duplicate_of

pytestmark = pytest.mark.slow
PERSON = InsuredPerson("P1", "C", "N", "1", "", "", "310", Decimal(0), "110101")
OBAMA = "faces/face_recognition/obama/obama-480p.jpg"


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_arcface_templates_are_unit_length_and_tell_two_people_apart(shared_data: Path) -> None:
    engine = DlibFaceEngine(presentation=False)
    faces = shared_data / "faces/face_recognition"
    obama = [engine.encode_largest_face(rgb(faces / "obama" / name), thorough=True)
             for name in ("obama-480p.jpg", "obama2.jpg")]
    biden = engine.encode_largest_face(rgb(faces / "biden/biden.jpg"), thorough=True)
    assert all(s is not None for s in (*obama, biden))
    templates = [s.template for s in (*obama, biden)]  # type: ignore[union-attr]
    assert all(t.shape == (512,) and abs(np.linalg.norm(t) - 1.0) < 1e-6 for t in templates)
    same, other = float(templates[0] @ templates[1]), float(templates[0] @ templates[2])
    assert same > 0.5 > 0.3 > other, (same, other)


def test_the_dlib_encoder_is_still_there_for_sites_without_the_licence(shared_data: Path) -> None:
    sample = DlibFaceEngine(presentation=False, encoder="dlib").encode_largest_face(rgb(shared_data / OBAMA),
                                                                                    thorough=True)
    assert sample is not None and sample.template.shape == (128,)
    with pytest.raises(ValueError, match="unknown face encoder"):
        DlibFaceEngine(encoder="facenet")


def test_weights_other_than_the_pinned_ones_are_refused(tmp_path: Path, shared_data: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    landmarks = np.zeros((68, 2))
    other = tmp_path / "w600k_mbf.onnx"
    other.write_bytes(b"not the network the calibration belongs to")
    with pytest.raises(FaceEngineUnavailable, match="not the ones the shipped calibration belongs to"):
        ArcFaceEncoder(other).encode(np.zeros((112, 112, 3), np.uint8), landmarks)
    with pytest.raises(FaceEngineUnavailable, match="cannot read"):
        ArcFaceEncoder(tmp_path / "missing.onnx").warm_up()
    monkeypatch.setattr(arcface_encoder.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FaceEngineUnavailable, match="run scripts/setup.sh"):
        ArcFaceEncoder().warm_up()
    assert len(MODEL_SHA256) == 64


def test_a_cohort_must_belong_to_the_configured_encoder(tmp_path: Path) -> None:
    assert load_cohort(FaceConfig()).encoder == "arcface"  # the shipped one
    with pytest.raises(ConfigError, match="calibrate-face --encoder dlib"):
        load_cohort(FaceConfig(encoder="dlib"))
    with pytest.raises(ConfigError, match="made with the arcface encoder"):
        load_cohort(FaceConfig(encoder="dlib", cohort_file=str(SHIPPED_COHORT)))


class _Reference:
    def __init__(self, template: np.ndarray) -> None:
        self.template = template

    def pending_fees(self, person: InsuredPerson) -> tuple:
        return ()

    def reference_template(self, person: InsuredPerson) -> np.ndarray | None:
        return self.template.copy()


def test_a_reference_of_the_other_encoder_is_refused_not_scored() -> None:
    cfg = FaceConfig()
    camera = ReplayCamera([np.zeros((240, 320, 3), np.uint8)], fps=30)
    verifier = FaceVerifier(camera, DlibFaceEngine(presentation=False), _Reference(np.full(128, 0.1)), cfg,
                            point=operating_point(cfg), scorer=load_cohort(cfg).scorer(cfg.cohort_k), demo=True,
                            clock=time.monotonic, sleep=time.sleep)
    with pytest.raises(NoReferenceFace, match="another face encoder .*enrol again"):
        verifier.verify(PERSON)
    with pytest.raises(NoReferenceFace, match="another face encoder"):
        verifier.verify_template(np.full(128, 0.1))


def test_a_roster_enrolled_with_the_other_encoder_is_not_compared(tmp_path: Path) -> None:
    roster = FileRoster(tmp_path / "staff.roster", tmp_path / "keys" / "staff.key")
    old = StaffMember("D1", "Old enrolment", "", "", np.full(128, 0.1))
    roster.add(old)
    probe = np.zeros(512)
    probe[0] = 1.0
    assert roster.nearest(probe) is None  # nobody enrolled with this encoder yet
    roster.add(dataclasses.replace(old, staff_no="D2", template=probe.copy()))
    assert roster.nearest(probe) == ("D2", 0.0)
    assert duplicate_of(("D2", 0.0), "D3", 512)[0] == "refuse"
    near = probe.copy()
    near[1] = 0.9  # cosine ~0.74 with the enrolled one: a look-alike warning, not a refusal
    near /= np.linalg.norm(near)
    assert duplicate_of(("D2", float(np.linalg.norm(near - probe))), "D3", 512)[0] == "warn"


def test_a_template_from_outside_is_checked_before_use() -> None:
    """What the hospital system or a roster file hands over: only a finite vector of an encoder's size."""
    from kiosk.ports import is_template

    assert is_template([0.1] * 512) and is_template([0.1] * 128)
    hostile = [[0.1] * 100, ["x"] * 128, [[0.1] * 128], [float("nan")] * 512, [float("inf")] * 128, {"a": 1}, None]
    assert not any(is_template(value) for value in hostile)


def test_a_clinician_enrolled_with_the_other_encoder_is_asked_to_enrol_again(tmp_path: Path) -> None:
    from kiosk import clinician_login as cl
    from kiosk.clinician_effects import LoginEffects

    roster = FileRoster(tmp_path / "staff.roster", tmp_path / "keys" / "staff.key")
    roster.add(StaffMember("D1", "Old enrolment", "", "", np.full(128, 0.1)))
    cfg = FaceConfig()
    camera = ReplayCamera([np.zeros((240, 320, 3), np.uint8)], fps=30)
    face = FaceVerifier(camera, DlibFaceEngine(presentation=False), _Reference(np.zeros(512)), cfg,
                        point=operating_point(cfg), scorer=load_cohort(cfg).scorer(cfg.cohort_k), demo=True,
                        clock=time.monotonic, sleep=time.sleep)
    effects = LoginEffects(roster=roster, face=face, point=operating_point(cfg), location=None,  # type: ignore[arg-type]
                           judge=lambda reading, _last: None, audit=lambda _event: None)  # type: ignore[arg-type,return-value]
    result = effects.run(cl.VerifyStaffFace(staff_no="D1", attempt=1))
    assert isinstance(result, cl.FaceResult) and result.match is None and result.error == "enrol_again"
