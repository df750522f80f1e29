"""Liveness trials from a folder laid out like ../shared/data/video (sequences.csv).

* ``nuaa_print_attack_seq/<seq>``: a printed photo moved before a webcam; frames ordered by their
  trailing picture number; an attack: must fail every challenge.
* ``pointing04_pan_sweep/<series>``: stills of a real head panning -90..+90 degrees (angle in the file
  name). In ascending pan order the head turns to the person's own right; reversed, to the left.
* ``*.mp4`` videos: real faces; the blink video is a bona fide blink trial.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.liveness import Challenge

STILL_INTERVAL_S = 0.25


@dataclass(frozen=True)
class Trial:
    name: str
    attack: bool
    expected: Challenge  # for bona fide trials: the challenge the motion answers
    challenges: tuple[Challenge, ...]
    frames: Callable[[], Iterator[tuple[float, np.ndarray]]]  # (seconds, RGB frame), read lazily
    kind: str = "bona_fide"  # bona_fide, print or replay
    source: str = ""  # repository, NUAA subject or Pointing'04 person (scripts/presentation_training.py)


def liveness_trials(video_dir: Path) -> list[Trial]:
    listing = video_dir / "sequences.csv"
    if not listing.exists():
        return []
    trials: list[Trial] = []
    with open(listing, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        path = video_dir / row["path"]
        description = row.get("description", "").lower()
        source = source_of_sequence(row["path"])
        if path.is_dir() and "attack" in row["path"]:
            ordered = sorted(_images(path), key=lambda p: _trailing_number(p.stem))
            trials.append(Trial(row["path"], True, Challenge.BLINK, tuple(Challenge), _stills(ordered), "print", source))
        elif path.is_dir() and "pan" in row["path"]:
            ordered = sorted(_images(path), key=lambda p: pan_angle(p.stem))
            every = tuple(Challenge)[1:]
            trials.append(Trial(row["path"] + " (ascending)", False, Challenge.TURN_RIGHT, every, _stills(ordered),
                                source=source))
            trials.append(Trial(row["path"] + " (reversed)", False, Challenge.TURN_LEFT, every,
                                _stills(ordered[::-1]), source=source))
        elif path.is_file() and (row["path"].startswith("replay_attack") or description.startswith("replay attack")):
            trials.append(Trial(row["path"], True, Challenge.BLINK, tuple(Challenge), _video(path), "replay", source))
        elif path.is_file() and (row["path"].startswith("bona_fide_clip") or description.startswith("bona fide")):
            # a live person who was not asked anything: bona fide when any challenge is answered by the clip
            trials.append(Trial(row["path"], False, Challenge.BLINK, tuple(Challenge), _video(path), source=source))
        elif path.is_file() and "blink" in description:
            trials.append(Trial(row["path"], False, Challenge.BLINK, (Challenge.BLINK,), _video(path), source=source))
    return trials


def source_of_sequence(path: str) -> str:
    """The source of a video/sequences.csv row: the repository, NUAA subject or Pointing'04 person."""
    parts = path.split("/")
    if parts[0] in ("replay_attack", "bona_fide_clip"):
        return parts[1]
    if parts[0] == "nuaa_print_attack_seq":
        return "nuaa/" + parts[1][:4]
    if parts[0] == "pointing04_pan_sweep":
        return "pointing04/" + parts[1].split("_")[0]
    return parts[0]


def frames_of(path: Path) -> Callable[[], Iterator[tuple[float, np.ndarray]]]:
    """The frames of a sequence folder (in name order) or of a video file."""
    if path.is_dir():
        return _stills(sorted(_images(path), key=lambda p: _trailing_number(p.stem)))
    return _video(path)


def _images(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"}]


def _trailing_number(stem: str) -> int:
    match = re.search(r"(\d+)$", stem)
    return int(match.group(1)) if match else 0


def pan_angle(stem: str) -> int:
    match = re.search(r"([+-]\d+)([+-]\d+)$", stem)  # ...<tilt><pan>, e.g. person02146+0-90
    return int(match.group(2)) if match else 0


def _stills(paths: list[Path]) -> Callable[[], Iterator[tuple[float, np.ndarray]]]:
    def frames() -> Iterator[tuple[float, np.ndarray]]:
        from scripts.face_calibration import load_rgb

        for index, path in enumerate(paths):
            yield index * STILL_INTERVAL_S, load_rgb(path)

    return frames


def _video(path: Path) -> Callable[[], Iterator[tuple[float, np.ndarray]]]:
    def frames() -> Iterator[tuple[float, np.ndarray]]:
        import cv2

        capture = cv2.VideoCapture(str(path))
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        index = 0
        try:
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                yield index / fps, cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            capture.release()

    return frames
