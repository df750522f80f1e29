"""Liveness, quality gate and score decisions: pure code on synthetic landmark geometry.

A 68-point face with depth is projected as a real head turning; the same points
on a plane stand for a photograph. (The real sequences of ../shared/data/video are
in test_face_engine.py.)
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from kiosk.face_quality import FaceObservation, QualityRules, check
from kiosk.face_score import CohortScorer, OperatingPoint, Verdict, score_band
from kiosk.liveness import (
    Challenge,
    LivenessRules,
    LivenessSession,
    StepOutcome,
    draw_challenges,
    eye_openness,
    parallax,
    yaw_proxy,
)


def head(yaw_deg: float = 0.0, *, flat: bool = False, eyes_open: float = 1.0, tilt_deg: float = 0.0) -> np.ndarray:
    """68 landmarks (iBUG order) of a synthetic head, projected at ``yaw_deg`` (positive: the person's right)."""
    pts = np.zeros((68, 3))
    pts[0:17, 0] = np.linspace(-70, 70, 17)
    pts[0:17, 1] = 10 + 60 * np.sin(np.linspace(0, np.pi, 17))
    pts[0:17, 2] = -60 + 50 * np.sin(np.linspace(0, np.pi, 17))
    pts[17:27] = np.c_[np.r_[np.linspace(-55, -15, 5), np.linspace(15, 55, 5)], np.full(10, -45), np.full(10, 10)]
    pts[27:31] = np.c_[np.zeros(4), np.linspace(-30, 5, 4), np.linspace(15, 40, 4)]  # nose bridge, forward
    pts[31:36] = np.c_[np.linspace(-15, 15, 5), np.full(5, 12), np.r_[15, 22, 25, 22, 15]]
    for start, cx in ((36, -35.0), (42, 35.0)):
        lid = 6 * eyes_open
        pts[start:start + 6] = [(cx - 14, -25, 5), (cx - 5, -25 - lid, 8), (cx + 5, -25 - lid, 8),
                                (cx + 14, -25, 5), (cx + 5, -25 + lid, 8), (cx - 5, -25 + lid, 8)]
    pts[48:68] = np.c_[25 * np.cos(np.linspace(0, 2 * np.pi, 20)), 35 + 8 * np.sin(np.linspace(0, 2 * np.pi, 20)),
                       np.full(20, 12)]
    if flat:
        pts[:, 2] = 0.0
    a, t = np.radians(-yaw_deg), np.radians(tilt_deg)  # turning to one's right: nose to the image's left
    rot_y = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    turned = pts @ (rot_x @ rot_y).T
    depth = 600.0 + turned[:, 2:3] * -1
    return 320 + 600 * turned[:, :2] / depth + np.array([0, 0])


def run(session: LivenessSession, frames: list[np.ndarray | None], dt: float = 0.1):
    status = session.status
    for i, points in enumerate(frames):
        status = session.feed(i * dt, points)
        if status.outcome is not StepOutcome.WAITING:
            break
    return status


def test_geometry_of_the_synthetic_head() -> None:
    assert abs(yaw_proxy(head(0))) < 0.02
    assert yaw_proxy(head(30)) < -0.15 < 0.15 < yaw_proxy(head(-30))
    assert eye_openness(head(0, eyes_open=0.1)) < 0.3 * eye_openness(head(0))


def test_a_real_head_turning_passes_the_asked_direction_only() -> None:
    sweep = [head(a) for a in range(0, 41, 5)]
    assert run(LivenessSession([Challenge.TURN_RIGHT]), sweep).outcome is StepOutcome.PASSED
    left = run(LivenessSession([Challenge.TURN_LEFT], LivenessRules(step_timeout_s=1.0)), sweep * 3)
    assert left.outcome is StepOutcome.FAILED and left.reason == "timeout"


def test_a_flat_picture_has_no_parallax_a_head_does() -> None:
    assert parallax(head(0, flat=True), head(35, flat=True)) < 0.01
    assert parallax(head(0), head(35)) > 0.08
    # a photograph of a turned head, then bent towards the camera: still a plane
    assert parallax(head(0, flat=True), head(10, flat=True, tilt_deg=15)) < 0.01


def test_a_turn_that_moves_like_a_picture_fails_as_flat_motion() -> None:
    # a photograph swung hard towards the camera: perspective moves the nose across the jaw (the yaw
    # proxy changes as in a turn) but every landmark moves by one homography
    photo = head(0, flat=True)
    frames = [photo] * 3 + [_swing(photo, 0.01)] * 4
    assert yaw_proxy(frames[-1]) - yaw_proxy(photo) > 0.2
    status = run(LivenessSession([Challenge.TURN_LEFT]), frames)
    assert status.outcome is StepOutcome.FAILED and status.reason == "flat_motion"


def _swing(points: np.ndarray, g: float) -> np.ndarray:
    centre = points.mean(axis=0)
    x, y = (points - centre).T
    w = 1 + g * x
    return np.c_[x / w, y / w] + centre


def test_blink_needs_closing_and_reopening() -> None:
    blink = [head(0)] * 5 + [head(0, eyes_open=0.2)] * 2 + [head(0)] * 2
    assert run(LivenessSession([Challenge.BLINK]), blink).outcome is StepOutcome.PASSED
    closed_only = [head(0)] * 5 + [head(0, eyes_open=0.2)] * 50
    status = run(LivenessSession([Challenge.BLINK], LivenessRules(step_timeout_s=2.0)), closed_only)
    assert status.outcome is StepOutcome.FAILED and status.reason == "timeout"
    jitter = [head(0, eyes_open=1.0 - 0.2 * (i % 2)) for i in range(40)]  # a 20 % wobble is not a blink
    assert run(LivenessSession([Challenge.BLINK], LivenessRules(step_timeout_s=2.0)), jitter).reason == "timeout"


def test_two_steps_in_order_and_missing_faces_do_not_pass() -> None:
    frames = [head(0)] * 5 + [head(0, eyes_open=0.2)] * 2 + [head(0)] * 3 + [head(a) for a in range(0, 41, 5)]
    session = LivenessSession([Challenge.BLINK, Challenge.TURN_RIGHT])
    assert run(session, frames).outcome is StepOutcome.PASSED
    nobody = run(LivenessSession([Challenge.BLINK], LivenessRules(step_timeout_s=1.0)), [None] * 30)
    assert nobody.outcome is StepOutcome.FAILED and nobody.reason == "timeout"


def test_challenges_are_drawn_at_random_and_distinct() -> None:
    draws = {draw_challenges(random.Random(seed)) for seed in range(50)}
    assert len(draws) == 6 and all(len(set(d)) == 2 for d in draws)
    with pytest.raises(ValueError):
        LivenessSession([])


def observation(**changes) -> FaceObservation:
    values = dict(box=(100, 420, 340, 220), landmarks=head(0) - 320 + np.array([320, 220]), faces_in_view=1,
                  second_face_area=0, frame_size=(480, 640), sharpness=120.0, brightness=120.0)
    values.update(changes)
    return FaceObservation(**values)


@pytest.mark.parametrize(("changes", "prompt"), [
    ({}, ""),
    ({"box": (100, 200, 160, 140)}, "face.prompt.closer"),
    ({"box": (0, 420, 340, 220)}, "face.prompt.centre"),
    ({"brightness": 20.0}, "face.prompt.more_light"),
    ({"brightness": 240.0}, "face.prompt.less_light"),
    ({"sharpness": 5.0}, "face.prompt.hold_still"),
    ({"faces_in_view": 2, "second_face_area": 40000}, "face.prompt.one_person"),
    ({"faces_in_view": 2, "second_face_area": 2000}, ""),  # someone small far behind: the largest face counts
    ({"landmarks": head(35)}, "face.prompt.look_straight"),
    ({"landmarks": head(0, eyes_open=0.1)}, "face.prompt.open_eyes"),
])
def test_quality_gate_names_what_to_fix(changes: dict, prompt: str) -> None:
    assert check(observation(**changes), QualityRules()) == prompt


def test_quality_gate_without_a_face() -> None:
    assert check(None) == "face.prompt.none"


def test_cohort_score_favours_a_pair_closer_than_the_crowd() -> None:
    rng = np.random.default_rng(7)
    cohort = rng.normal(size=(200, 128)) * 0.05
    scorer = CohortScorer(cohort, k=20, labels=[f"p{i // 4}" for i in range(200)])
    person = rng.normal(size=128) * 0.05
    same, other = person + rng.normal(size=128) * 0.005, rng.normal(size=128) * 0.05
    assert scorer.score(person, same) > 5 > scorer.score(person, other)
    assert scorer.stats(person, exclude=["p0"]).mean > 0
    with pytest.raises(ValueError):
        CohortScorer(cohort[:1])


def test_operating_point_fuses_and_has_a_grey_zone() -> None:
    point = OperatingPoint(threshold=6.0, grey_floor=4.0)
    assert point.decide([7, 7.5, 1]) == (Verdict.MATCH, 7.0)  # one bad frame does not spoil a good attempt
    assert point.decide([5.0])[0] is Verdict.GREY
    assert point.decide([3.9])[0] is Verdict.MISMATCH
    assert [score_band(s, point) for s in (9, 6.5, 5, 1)] == ["clear", "near", "grey", "far"]
    with pytest.raises(ValueError):
        OperatingPoint(threshold=3.0, grey_floor=4.0)
    with pytest.raises(ValueError):
        point.decide([])


def test_presentation_vote_needs_enough_frames_and_a_share() -> None:
    from kiosk.liveness import PresentationRules, PresentationVote

    vote = PresentationVote(PresentationRules(share_threshold=0.5, min_frames=4))
    for p in (0.9, 0.9, None, 0.9):
        vote.feed(p)
    assert not vote.attack and not vote.decided  # three measured frames: too few to call
    vote.feed(0.1)
    assert vote.decided and vote.attack and vote.share == 0.75
    for _ in range(4):
        vote.feed(0.2)
    assert not vote.attack and vote.share == 3 / 8


def test_no_face_prompt_from_the_scene() -> None:
    import numpy as np

    from kiosk.face_quality import no_face_prompt

    grey = np.full((120, 160, 3), 120, np.uint8)
    window = grey.copy()
    window[:, :40] = 255
    assert no_face_prompt(grey) == "face.prompt.uncover"
    assert no_face_prompt(window) == "face.prompt.backlight"
    assert no_face_prompt(None) == no_face_prompt(np.zeros((0, 0, 3), np.uint8)) == "face.prompt.none"


def test_depth_relief_tells_a_head_from_a_screen_or_a_print() -> None:
    from drivers.camera.simulated_depth import SimulatedDepthCamera
    from kiosk.liveness import DepthRules, DepthVote, depth_relief

    box = (140, 400, 380, 240)
    rules = DepthRules()
    reliefs = {}
    for scene in ("face", "screen", "print"):
        camera = SimulatedDepthCamera(scene, box=box, seed=1)
        depth = camera.latest_depth()
        assert depth is not None and depth.dtype.name == "uint16"
        reliefs[scene] = depth_relief(depth, box, rules)
    assert reliefs["face"] is not None and reliefs["face"] >= 2 * rules.min_relief_mm
    assert all(reliefs[s] is not None and reliefs[s] < rules.min_relief_mm / 2 for s in ("screen", "print")), reliefs
    nothing = SimulatedDepthCamera("nothing", box=box).latest_depth()
    assert nothing is not None and depth_relief(nothing, box, rules) is None  # 2.5 m away: out of range
    holes = SimulatedDepthCamera("face", box=box, dropout=0.7).latest_depth()
    assert holes is not None and depth_relief(holes, box, rules) is None  # too little measured to judge
    vote = DepthVote(rules)
    for value in (30.0, None, 2.0, 3.0):
        vote.feed(value)
    assert vote.frames == 3 and vote.flat and not vote.live


def test_simulated_depth_camera_faults() -> None:
    import pytest as _pytest

    from drivers.camera.simulated_depth import SimulatedDepthCamera

    camera = SimulatedDepthCamera("face")
    camera.dead = True
    assert camera.latest_depth() is None
    with _pytest.raises(ValueError, match="unknown depth scene"):
        SimulatedDepthCamera("hologram")
