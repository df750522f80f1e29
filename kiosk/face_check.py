"""1:1 face verification of a patient against the reference enrolled for them.

Fusion: the median distance over several good frames. Liveness: a replayed
camera cannot honestly pass it; only demo mode may proceed without it, and says
so. Outside demo mode, a build without a liveness check fails closed.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

from kiosk.config import FaceConfig
from kiosk.domain import FaceMatch, InsuredPerson
from kiosk.errors import FaceError
from kiosk.ports import Camera, FaceEngine, HospitalSystem, Template

LIVENESS_REPLAY = "unavailable: replay camera"
LIVENESS_NOT_BUILT = "unavailable: no liveness check in this build"


class NoReferenceFace(FaceError):
    code = 204


class NoFaceFound(FaceError):
    code = 205


class FaceVerifier:
    """Runs on the vision worker. Holds the reference template for one visit only."""

    def __init__(
        self,
        camera: Camera,
        engine: FaceEngine,
        his: HospitalSystem,
        cfg: FaceConfig,
        *,
        demo: bool,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self._camera, self._engine, self._his, self._cfg = camera, engine, his, cfg
        self._demo = demo
        self._clock, self._sleep = clock, sleep
        self._reference: Template | None = None
        self._reference_psn = ""

    def verify(self, person: InsuredPerson) -> FaceMatch:
        reference = self._load_reference(person)
        distances: list[float] = []
        deadline = self._clock() + self._cfg.attempt_timeout_s
        while len(distances) < self._cfg.frames_per_attempt and self._clock() < deadline:
            frame = self._camera.latest_frame()
            sample = self._engine.encode_largest_face(frame) if frame is not None else None
            if sample is not None:
                distances.append(self._engine.distance(sample.template, reference))
            else:
                self._sleep(0.05)
        if not distances:
            raise NoFaceFound("no face found in front of the camera")
        distance = statistics.median(distances)
        liveness = LIVENESS_NOT_BUILT if self._camera.is_live else LIVENESS_REPLAY
        matched = distance <= self._cfg.match_threshold
        return FaceMatch(distance=distance, accepted=matched and self._demo, liveness=liveness)

    def wipe(self) -> None:
        """Zero and drop the reference template (end of visit)."""
        if self._reference is not None:
            self._reference.fill(0.0)
        self._reference, self._reference_psn = None, ""

    def _load_reference(self, person: InsuredPerson) -> Template:
        if self._reference is None or self._reference_psn != person.psn_no:
            self.wipe()
            reference = self._his.reference_template(person)
            if reference is None:
                raise NoReferenceFace("no face reference enrolled for this person")
            self._reference, self._reference_psn = reference.copy(), person.psn_no
        assert self._reference is not None
        return self._reference
