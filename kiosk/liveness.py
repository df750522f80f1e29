"""Active liveness from landmark tracks: a randomised challenge (blink, turn left, turn right).

Pure: fed 68-point landmarks (dlib/iBUG order, unmirrored camera pixels) with
timestamps; decides nothing from images. Two independent guards:

* the asked motion must happen (eye closure and reopening relative to the
  person's own open-eye baseline; a head turn of the asked direction starting
  from a frontal pose), and
* a head turn must not move the landmarks as a flat picture would: a rotated or
  bent photo maps its landmarks between two views by a homography (to within a
  few hundredths of the inter-ocular distance); a real head has depth (nose
  tip against cheeks and jaw) and leaves a much larger residual ("parallax").

Directions are the patient's own: turning to one's right moves the nose towards
the left edge of an unmirrored camera frame.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

Landmarks = npt.NDArray[np.float64]  # 68 x 2


class Challenge(Enum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"


def draw_challenges(rng: random.Random, steps: int = 2) -> tuple[Challenge, ...]:
    """Distinct steps in random order; at most one turn direction is implied by chance."""
    return tuple(rng.sample(list(Challenge), steps))


# ---- landmark geometry -------------------------------------------------------------------------

def yaw_proxy(points: Landmarks) -> float:
    """Nose tip position between the jaw's ends: 0 frontal, >0 nose towards image right."""
    left, right, nose = points[0, 0], points[16, 0], points[30, 0]
    width = right - left
    return float((nose - left) / width - 0.5) if width > 1e-6 else 0.0


def eye_openness(points: Landmarks) -> float:
    """Eye aspect ratio (Soukupová and Čech, 2016), mean of both eyes."""

    def ear(eye: Landmarks) -> float:
        vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        horizontal = np.linalg.norm(eye[0] - eye[3])
        return float(vertical / (2.0 * horizontal)) if horizontal > 1e-6 else 0.0

    return 0.5 * (ear(points[36:42]) + ear(points[42:48]))


def interocular(points: Landmarks) -> float:
    return float(np.linalg.norm(points[36:42].mean(axis=0) - points[42:48].mean(axis=0)))


def homography(src: Landmarks, dst: Landmarks) -> npt.NDArray[np.float64]:
    """Least-squares homography src -> dst (normalised DLT, Hartley and Zisserman 4.4)."""
    ts, td = _normaliser(src), _normaliser(dst)
    s, d = _apply(ts, src), _apply(td, dst)
    rows = []
    for (x, y), (u, v) in zip(s, d, strict=True):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    h = vt[-1].reshape(3, 3)
    return np.linalg.inv(td) @ h @ ts


def parallax(a: Landmarks, b: Landmarks) -> float:
    """Mean residual of the best homography a -> b, in inter-ocular distances of b."""
    mapped = _apply(homography(a, b), a)
    return float(np.linalg.norm(mapped - b, axis=1).mean() / max(interocular(b), 1e-6))


def _normaliser(points: Landmarks) -> npt.NDArray[np.float64]:
    centre = points.mean(axis=0)
    spread = np.sqrt(((points - centre) ** 2).sum(axis=1)).mean() or 1.0
    k = np.sqrt(2.0) / spread
    return np.array([[k, 0, -k * centre[0]], [0, k, -k * centre[1]], [0, 0, 1.0]])


def _apply(h: npt.NDArray[np.float64], points: Landmarks) -> Landmarks:
    ones = np.ones((len(points), 1))
    projected = np.hstack([points, ones]) @ h.T
    return projected[:, :2] / projected[:, 2:3]


# ---- the challenge ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LivenessRules:
    frontal_yaw: float = 0.15  # |yaw proxy| of a frontal pose (about 20 degrees)
    turn_delta: float = 0.20  # yaw proxy change asked for a turn (about 30 degrees)
    closed_ratio: float = 0.60  # eyes closed below this share of the open baseline
    reopen_ratio: float = 0.85
    min_open_frames: int = 3
    blink_max_yaw: float = 0.25
    min_parallax: float = 0.08  # measured: flat pictures stay below 0.06, real heads turning ~30 deg give 0.09-0.16
    step_timeout_s: float = 12.0  # generous for elderly patients


class StepOutcome(Enum):
    WAITING = "waiting"
    PASSED = "passed"
    FAILED = "failed"


@dataclass
class _StepState:
    challenge: Challenge
    started: float
    open_ears: list[float] = field(default_factory=list)
    closed: bool = False
    frontal: Landmarks | None = None
    flat_turns: int = 0


@dataclass(frozen=True)
class LivenessStatus:
    outcome: StepOutcome
    step: Challenge | None  # the step being asked for (None once finished)
    step_index: int
    reason: str = ""  # on failure: timeout, flat_motion


class LivenessSession:
    """One challenge run: feed every analysed frame in time order until the outcome is not WAITING."""

    def __init__(self, steps: Sequence[Challenge], rules: LivenessRules | None = None) -> None:
        if not steps:
            raise ValueError("a liveness challenge needs at least one step")
        self.steps = tuple(steps)
        self.rules = rules or LivenessRules()
        self._index = 0
        self._state: _StepState | None = None
        self._final: LivenessStatus | None = None
        self.max_parallax = 0.0

    @property
    def status(self) -> LivenessStatus:
        if self._final is not None:
            return self._final
        return LivenessStatus(StepOutcome.WAITING, self.steps[self._index], self._index)

    def feed(self, t: float, points: Landmarks | None) -> LivenessStatus:
        if self._final is not None:
            return self._final
        if self._state is None:
            self._state = _StepState(self.steps[self._index], started=t)
        if t - self._state.started > self.rules.step_timeout_s:
            return self._finish(StepOutcome.FAILED, "timeout")
        if points is None:
            return self.status
        step = self._state
        done = self._blink(step, points) if step.challenge is Challenge.BLINK else self._turn(step, points)
        if step.flat_turns >= 3:
            return self._finish(StepOutcome.FAILED, "flat_motion")
        if done:
            self._index += 1
            self._state = None
            if self._index == len(self.steps):
                return self._finish(StepOutcome.PASSED, "")
        return self.status

    def _finish(self, outcome: StepOutcome, reason: str) -> LivenessStatus:
        self._final = LivenessStatus(outcome, None, self._index, reason)
        return self._final

    def _blink(self, step: _StepState, points: Landmarks) -> bool:
        rules = self.rules
        if abs(yaw_proxy(points)) > rules.blink_max_yaw:
            return False
        ear = eye_openness(points)
        if len(step.open_ears) < rules.min_open_frames:
            step.open_ears.append(ear)
            return False
        baseline = float(np.median(step.open_ears[-15:]))
        if ear < rules.closed_ratio * baseline:
            step.closed = True
        elif step.closed and ear >= rules.reopen_ratio * baseline:
            return True
        elif not step.closed:
            step.open_ears.append(ear)
        return False

    def _turn(self, step: _StepState, points: Landmarks) -> bool:
        yaw = yaw_proxy(points)
        if not _turned(step, yaw, self.rules):
            if abs(yaw) <= self.rules.frontal_yaw:
                step.frontal = points  # the latest frontal pose is the turn's starting point
            return False
        assert step.frontal is not None
        depth = parallax(step.frontal, points)
        self.max_parallax = max(self.max_parallax, depth)
        if depth >= self.rules.min_parallax:
            return True
        step.flat_turns += 1
        return False


def _turned(step: _StepState, yaw: float, rules: LivenessRules) -> bool:
    if step.frontal is None:
        return False
    moved = yaw - yaw_proxy(step.frontal)
    # turning to one's own right moves the nose towards the image's left: the proxy falls
    wanted = -moved if step.challenge is Challenge.TURN_RIGHT else moved
    return wanted >= rules.turn_delta


# ---- the passive cue: screen or print ----------------------------------------------------------

@dataclass(frozen=True)
class PresentationRules:
    """``share_threshold`` is fitted with the model (drivers/face/presentation_v1.npz) on sources kept
    apart from the ones it is scored on; the others are policy."""

    share_threshold: float = 0.5  # refuse when this share of the face frames looks like a screen or print
    frame_probability: float = 0.5  # a frame looks like an attack at or above this probability
    min_frames: int = 6  # decide only on this many measured frames


class PresentationVote:
    """Counts frames whose face looks like a screen or a print (fed the engine's per-frame probability)."""

    def __init__(self, rules: PresentationRules | None = None) -> None:
        self.rules = rules or PresentationRules()
        self.frames = 0
        self.attack_frames = 0

    def feed(self, probability: float | None) -> None:
        if probability is None:
            return
        self.frames += 1
        self.attack_frames += probability >= self.rules.frame_probability

    @property
    def share(self) -> float:
        return self.attack_frames / self.frames if self.frames else 0.0

    @property
    def decided(self) -> bool:
        return self.frames >= self.rules.min_frames

    @property
    def attack(self) -> bool:
        return self.decided and self.share >= self.rules.share_threshold


# ---- a depth camera, where the site has one ----------------------------------------------------

@dataclass(frozen=True)
class DepthRules:
    """Physical, not fitted: an adult face has 20-40 mm between the nose tip and the cheeks and jaw; a
    phone, a monitor or a sheet of paper, even tilted or bent, is a plane or a shallow curve."""

    min_relief_mm: float = 12.0  # spread of the face's depth around its best-fitting plane (peak to peak, robust)
    min_distance_mm: float = 250.0
    max_distance_mm: float = 1500.0
    min_coverage: float = 0.5  # share of the face box with a measurement
    min_frames: int = 3


def depth_relief(depth: npt.NDArray[np.uint16], box: tuple[int, int, int, int],
                 rules: DepthRules | None = None) -> float | None:
    """The face's relief in millimetres (95th minus 5th percentile of the residual to its best plane),
    or None when the depth camera measured too little of the face or it is out of range."""
    r = rules or DepthRules()
    top, right, bottom, left = box
    # the inner face (eyes to chin, cheek to cheek): the box's edges catch background
    height, width = bottom - top, right - left
    region = depth[top + height // 6: bottom - height // 10, left + width // 6: right - width // 6]
    if region.size == 0:
        return None
    ys, xs = np.nonzero(region)
    if len(ys) < r.min_coverage * region.size:
        return None
    values = region[ys, xs].astype(np.float64)
    if not r.min_distance_mm <= float(np.median(values)) <= r.max_distance_mm:
        return None
    design = np.column_stack([xs, ys, np.ones(len(xs))]).astype(np.float64)
    coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual = values - design @ coefficients
    return float(np.percentile(residual, 95) - np.percentile(residual, 5))


class DepthVote:
    """Counts face frames whose depth is flat; refuses when most measured frames are."""

    def __init__(self, rules: DepthRules | None = None) -> None:
        self.rules = rules or DepthRules()
        self.frames = 0
        self.flat_frames = 0

    def feed(self, relief_mm: float | None) -> None:
        if relief_mm is None:
            return
        self.frames += 1
        self.flat_frames += relief_mm < self.rules.min_relief_mm

    @property
    def flat(self) -> bool:
        return self.frames >= self.rules.min_frames and self.flat_frames * 2 > self.frames

    @property
    def live(self) -> bool:
        return self.frames >= self.rules.min_frames and not self.flat
