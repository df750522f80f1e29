"""The dlib face engine in its own process, so the GUI thread is never stalled by it.

dlib holds Python's GIL while it detects and encodes (measured: a 66 ms gap in every other thread per
encoding), which would freeze the touchscreen and its camera preview. Here the vision lane's thread
sends the frame through a pipe and waits (releasing the GIL); a child process runs
:class:`DlibFaceEngine`. ``analyse`` keeps the frame and landmarks in the child under a token so that
``encode`` of the same observation does not send the frame again. Frames cross only the pipe (memory),
never a file.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import threading
from dataclasses import replace
from typing import Any

import numpy as np

from kiosk.errors import FaceEngineUnavailable
from kiosk.face_quality import FaceObservation
from kiosk.ports import FaceSample, Frame, Template

log = logging.getLogger(__name__)


def _serve(conn: Any, detect_side_px: int, encoder: str) -> None:  # runs in the child
    from drivers.face.dlib_engine import DlibFaceEngine

    engine = DlibFaceEngine(detect_side_px, encoder=encoder)
    kept: tuple[int, np.ndarray, FaceObservation] | None = None
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        op = request[0]
        try:
            if op == "analyse":
                _, token, shape, raw, thorough = request
                frame = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
                obs = engine.analyse(frame, thorough=thorough)
                kept = (token, frame, obs) if obs is not None else None
                conn.send(("ok", None if obs is None else replace(obs, handle=token)))
            elif op == "encode":
                _, token = request
                if kept is None or kept[0] != token:
                    conn.send(("error", "observation expired"))
                    continue
                conn.send(("ok", engine.encode(kept[1], kept[2])))
                kept = None
            elif op == "largest":
                _, shape, raw, thorough = request
                sample = engine.encode_largest_face(np.frombuffer(raw, dtype=np.uint8).reshape(shape), thorough=thorough)
                conn.send(("ok", sample))
            elif op == "warm":
                engine.warm_up()
                conn.send(("ok", None))
            elif op == "stop":
                return
        except Exception as exc:  # noqa: BLE001 - reported to the caller, the child keeps serving
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ProcessFaceEngine:
    def __init__(self, detect_side_px: int = 320, *, encoder: str = "arcface") -> None:
        self._side, self._encoder = detect_side_px, encoder
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self._conn: Any = None
        self._process: Any = None

    def _ensure(self) -> Any:
        if self._process is None or not self._process.is_alive():
            context = mp.get_context("spawn")  # never fork a process that runs Qt and worker threads
            parent, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child, self._side, self._encoder), name="face-engine", daemon=True)
            self._process.start()
            child.close()
            self._conn = parent
        return self._conn

    def _call(self, *request: Any) -> Any:
        with self._lock:
            conn = self._ensure()
            try:
                conn.send(request)
                status, value = conn.recv()
            except (EOFError, OSError, BrokenPipeError) as exc:
                self._process = None
                raise FaceEngineUnavailable(f"face engine process stopped ({exc})") from None
        if status != "ok":
            raise FaceEngineUnavailable(f"face engine: {value}")
        return value

    def warm_up(self) -> None:
        self._call("warm")

    def analyse(self, frame: Frame, *, thorough: bool = False) -> FaceObservation | None:
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        return self._call("analyse", next(self._tokens), frame.shape, frame.tobytes(), thorough)

    def encode(self, frame: Frame, obs: FaceObservation) -> Template:
        return np.asarray(self._call("encode", obs.handle), dtype=np.float64)

    def encode_largest_face(self, frame: Frame, *, thorough: bool = False) -> FaceSample | None:
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        return self._call("largest", frame.shape, frame.tobytes(), thorough)  # one request: nothing in between

    def close(self) -> None:
        with self._lock:
            if self._process is not None and self._process.is_alive():
                try:
                    self._conn.send(("stop",))
                except (OSError, BrokenPipeError):
                    pass
                self._process.join(timeout=3)
                if self._process.is_alive():
                    self._process.kill()
            self._process = None
