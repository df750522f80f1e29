"""1:1 face verification of a patient (or clinician) against the reference enrolled for them.

Per attempt: frames that pass the quality gate are encoded and scored against the
reference (cohort-normalised, kiosk/face_score.py); the median of several good
frames gives the verdict. A match on a live camera then runs the randomised
liveness challenge (kiosk/liveness.py), re-checking identity on frontal frames
during it so nobody can be swapped in after the match. A replayed camera cannot
honestly pass liveness: only demo mode proceeds without it, and says so.

Prompts (catalogue keys) are reported through ``on_prompt`` for the screen and voice.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kiosk.config import FaceConfig
from kiosk.domain import FaceMatch, InsuredPerson
from kiosk.errors import FaceError
from kiosk.face_quality import NO_FACE_HINT_S, FaceObservation, QualityRules, check, no_face_prompt
from kiosk.face_score import CohortScorer, CohortStats, OperatingPoint, Verdict
from kiosk.liveness import (
    DepthRules,
    DepthVote,
    LivenessRules,
    LivenessSession,
    PresentationRules,
    PresentationVote,
    StepOutcome,
    depth_relief,
    draw_challenges,
    yaw_proxy,
)
from kiosk.ports import Camera, DepthCamera, FaceEngine, HospitalSystem, Template

LIVENESS_REPLAY = "unavailable: replay camera"
PRESENTATION_ATTACK = "failed: presentation_attack"
FLAT_DEPTH = "failed: flat_depth"  # the depth camera saw a plane where the face is
NO_DEPTH = "failed: depth_unavailable"  # a site with a depth camera never decides without it
IDENTITY_RECHECK_EVERY = 4  # frontal frames between identity re-checks during the challenge


class NoReferenceFace(FaceError):
    code = 204


class NoFaceFound(FaceError):
    code = 205


CROP_MARGIN = 0.5  # of the face box's size on each side: the platform sees the whole head, not the room


@dataclass
class LiveCapture:
    """Face swipe: the selected face and how liveness went. ``crop`` (the face with a margin, a copy the
    caller zeroes after sending) is there only when liveness passed, or on demo mode's replay camera."""

    crop: object  # Frame | None
    match: FaceMatch  # verdict "captured"; accepted: the crop may be sent


def face_crop(frame: object, box: tuple[int, int, int, int]) -> object:
    import numpy as np

    pixels = np.asarray(frame)
    top, right, bottom, left = box
    dy, dx = int((bottom - top) * CROP_MARGIN), int((right - left) * CROP_MARGIN)
    height, width = pixels.shape[:2]
    region = pixels[max(0, top - dy):min(height, bottom + dy), max(0, left - dx):min(width, right + dx)]
    return np.array(region, order="C", copy=True)  # the caller zeroes it after sending


class FaceVerifier:
    """Runs on the vision worker. Holds the reference template for one session only."""

    def __init__(
        self,
        camera: Camera,
        engine: FaceEngine,
        his: HospitalSystem,
        cfg: FaceConfig,
        *,
        point: OperatingPoint,
        scorer: CohortScorer,
        demo: bool,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        rng: random.Random | None = None,
        quality: QualityRules | None = None,
        presentation: PresentationRules | None = None,
        depth: DepthCamera | None = None,
        depth_rules: DepthRules | None = None,
        on_prompt: Callable[[str], None] = lambda _key: None,
    ) -> None:
        self._camera, self._engine, self._his, self._cfg = camera, engine, his, cfg
        self._point, self._scorer, self._demo = point, scorer, demo
        self._clock, self._sleep = clock, sleep
        self._rng = rng or random.SystemRandom()
        self._quality = quality or QualityRules()
        self._presentation = presentation or PresentationRules()
        self._depth, self._depth_rules = depth, depth_rules or DepthRules()
        self.on_prompt = on_prompt
        self._reference: Template | None = None
        self._reference_stats: CohortStats | None = None
        self._reference_psn = ""

    def verify(self, person: InsuredPerson) -> FaceMatch:
        reference = self._load_reference(person)
        assert self._reference_stats is not None
        return self._attempt(reference, self._reference_stats)

    def verify_template(self, reference: Template) -> FaceMatch:
        """One attempt against a reference the caller holds (and wipes), e.g. a clinician's."""
        self._check_encoder(reference)
        return self._attempt(reference, self._scorer.stats(reference))

    def _check_encoder(self, reference: Template) -> None:
        if len(reference) != self._scorer.dimension:
            raise NoReferenceFace(f"the face reference was enrolled with another face encoder ({len(reference)} "
                                  f"numbers; this terminal's has {self._scorer.dimension}): enrol again")

    def _good_frames(self, vote: PresentationVote, relief: DepthVote) -> Iterator[tuple[Any, FaceObservation]]:
        """Frames that pass the quality gate, until the attempt's time runs out (the caller stops earlier
        when it has enough). Every frame feeds the passive cue and the depth vote; the patient is told
        what to do. Raises NoFaceFound when none came."""
        last_prompt = "face.prompt.none"
        started = last_face = self._clock()
        good = 0
        while self._clock() < started + self._cfg.attempt_timeout_s:
            frame = self._camera.latest_frame()
            obs = self._engine.analyse(frame) if frame is not None else None
            vote.feed(None if obs is None else obs.attack_probability)
            self._feed_depth(relief, frame, obs)
            last_prompt = check(obs, self._quality)
            if obs is not None:
                last_face = self._clock()
            elif self._clock() - last_face >= NO_FACE_HINT_S:  # someone is there, but no face is found
                last_prompt = no_face_prompt(frame)
            self.on_prompt(last_prompt or "face.prompt.hold")
            if last_prompt or frame is None or obs is None:
                self._sleep(0.03)
                continue
            good += 1
            yield frame, obs
        if not good:
            raise NoFaceFound(f"no usable face in front of the camera ({last_prompt})")

    def _attempt(self, reference: Template, stats: CohortStats) -> FaceMatch:
        scores: list[float] = []
        heights: list[int] = []  # of the scored faces: the smallest picks the operating point's band
        vote = PresentationVote(self._presentation)
        relief = DepthVote(self._depth_rules)
        for frame, obs in self._good_frames(vote, relief):
            probe = self._engine.encode(frame, obs)
            scores.append(self._scorer.score(probe, reference, stats_b=stats))
            heights.append(obs.height)
            probe.fill(0.0)
            if len(scores) >= self._cfg.frames_per_attempt:
                break
        verdict, fused = self._point.decide(scores, min(heights))
        if verdict is not Verdict.MATCH:
            liveness = f"not run: {verdict.value}"
        elif not self._camera.is_live:
            liveness = LIVENESS_REPLAY
        else:
            liveness = self._challenge(reference, stats, vote, relief, self._point.band(min(heights))[1])
        live = liveness == "passed" or (self._demo and liveness == LIVENESS_REPLAY)
        return FaceMatch(score=fused, verdict=verdict.value, accepted=verdict is Verdict.MATCH and live,
                         liveness=liveness)

    def capture_live(self) -> LiveCapture:
        """Face swipe: gather ``frames_per_attempt`` frames through the quality gate, keep the sharpest, then
        the liveness challenge with the kept face as the identity it re-checks against (nobody can be
        swapped in after the capture). Nothing leaves this method unless liveness passed (or demo mode's
        replay camera, which says so)."""
        vote = PresentationVote(self._presentation)
        relief = DepthVote(self._depth_rules)
        best: tuple[float, Any] | None = None
        good = 0
        for frame, obs in self._good_frames(vote, relief):
            good += 1
            if best is None or obs.sharpness > best[0]:
                if best is not None:
                    best[1].fill(0)  # a sharper one came: the kept copy is not needed any more
                best = (obs.sharpness, frame.copy())
            if good >= self._cfg.frames_per_attempt:
                break
        assert best is not None  # _good_frames raised NoFaceFound otherwise
        frame = best[1]
        obs = self._engine.analyse(frame)  # again: the engine encodes the observation it made last
        if obs is None:
            raise NoFaceFound("the selected frame lost its face")
        reference = self._engine.encode(frame, obs)
        try:
            if not self._camera.is_live:
                liveness = LIVENESS_REPLAY
            else:
                liveness = self._challenge(reference, self._scorer.stats(reference), vote, relief,
                                           self._point.band(obs.height)[1])
        finally:
            reference.fill(0.0)
        sendable = liveness == "passed" or (self._demo and liveness == LIVENESS_REPLAY)
        crop = face_crop(frame, obs.box) if sendable else None
        frame.fill(0)  # type: ignore[attr-defined]
        return LiveCapture(crop, FaceMatch(score=0.0, verdict="captured", accepted=sendable, liveness=liveness))

    def _feed_depth(self, relief: DepthVote, frame: object, obs: FaceObservation | None) -> None:
        if self._depth is None or obs is None or frame is None:
            return
        depth = self._depth.latest_depth()
        if depth is None:
            return
        scale_y, scale_x = depth.shape[0] / obs.frame_size[0], depth.shape[1] / obs.frame_size[1]
        top, right, bottom, left = obs.box
        box = (int(top * scale_y), int(right * scale_x), int(bottom * scale_y), int(left * scale_x))
        relief.feed(depth_relief(depth, box, self._depth_rules))

    def _challenge(self, reference: Template, stats: CohortStats, vote: PresentationVote, relief: DepthVote,
                   grey_floor: float) -> str:
        """The motion challenge; the passive cue (and the depth camera, where there is one) keeps
        counting through it and refuses a screen or print. ``grey_floor``: of the attempt's band, below
        which a re-checked face is somebody else."""
        steps = draw_challenges(self._rng, self._cfg.liveness_steps)
        rules = LivenessRules(step_timeout_s=self._cfg.liveness_step_timeout_s)
        session = LivenessSession(steps, rules)
        frontal_frames = 0
        status = session.status
        while status.outcome is StepOutcome.WAITING:
            self.on_prompt(f"face.challenge.{status.step.value}" if status.step else "face.prompt.hold")
            frame = self._camera.latest_frame()
            obs = self._engine.analyse(frame) if frame is not None else None
            status = session.feed(self._clock(), None if obs is None else obs.landmarks)
            vote.feed(None if obs is None else obs.attack_probability)
            self._feed_depth(relief, frame, obs)
            if vote.attack:
                return PRESENTATION_ATTACK
            if relief.flat:
                return FLAT_DEPTH
            if obs is None or frame is None:
                self._sleep(0.02)
                continue
            if abs(yaw_proxy(obs.landmarks)) <= rules.frontal_yaw:
                frontal_frames += 1
                if frontal_frames % IDENTITY_RECHECK_EVERY == 0:
                    probe = self._engine.encode(frame, obs)
                    score = self._scorer.score(probe, reference, stats_b=stats)
                    probe.fill(0.0)
                    if score < grey_floor:
                        return "failed: identity_changed"
        if status.outcome is not StepOutcome.PASSED:
            return f"failed: {status.reason}"
        if vote.attack:
            return PRESENTATION_ATTACK
        if self._depth is not None and not relief.live:
            return FLAT_DEPTH if relief.flat else NO_DEPTH
        return "passed"

    def close(self) -> None:
        """Close the depth camera, if any (the colour camera and the engine belong to the caller)."""
        if self._depth is not None:
            self._depth.close()

    def wipe(self) -> None:
        """Zero and drop the reference template (end of visit)."""
        if self._reference is not None:
            self._reference.fill(0.0)
        self._reference, self._reference_stats, self._reference_psn = None, None, ""

    def _load_reference(self, person: InsuredPerson) -> Template:
        if self._reference is None or self._reference_psn != person.psn_no:
            self.wipe()
            reference = self._his.reference_template(person)
            if reference is None:
                raise NoReferenceFace("no face reference enrolled for this person")
            self._check_encoder(reference)
            self._reference, self._reference_psn = reference.copy(), person.psn_no
            self._reference_stats = self._scorer.stats(self._reference)
            reference.fill(0.0)
        assert self._reference is not None
        return self._reference
