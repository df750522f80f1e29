"""The voucher platform's side of face swipe, the voucher password and family accounts, for the sandbox
(PROTOCOL.md section 10). ``POST /voucher/<method>``:

- ``cn.nhsa.ec.auth`` ``{"idNo", "faceImage" (base64 JPEG), "liveness", "deviceNo", ...}`` -> ``authNo``. The
  enrolled face of the person with that ID number stands in for the public-security photo database, matched
  with the project's own engine, cohort and operating point. Codes: ``mismatch``, ``locked`` (after
  ``FAILURES_TO_LOCK`` failures, for ``lock_s``; ``retryAfter``), ``no_photo`` (nothing enrolled: a family
  account may help), ``rate_limited`` (this device asked more than ``device_limit`` times a minute),
  ``unknown_person``, ``liveness_required`` (the terminal did not pass liveness; a demo sandbox accepts the
  demo's replay camera).
- ``cn.nhsa.auth.check`` ``{"authNo"}`` -> the holder and an ecToken (single use, two minutes).
- ``cn.nhsa.ec.password`` ``{"ecToken", "password", "amount"}``: every seeded person's sandbox password is
  ``SANDBOX_PASSWORD``, kept as a salted scrypt hash; ``wrong_password`` with ``remaining``, and
  ``password_locked`` after ``PASSWORD_TRIES`` wrong ones (for the day).
- ``cn.nhsa.ec.family`` ``{"idNo", "qrCode"}``: the member's voucher code authorises for the patient when the
  binding is on file (seed ``[[family]]``); ``not_bound``, ``unknown_person``, ``expired``, ``unknown``.

Faces arrive in memory and are dropped after matching; nothing here writes an image or a password.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from drivers.gateway.envelope import dumps

SANDBOX_PASSWORD = "147258"
FAILURES_TO_LOCK = 5
PASSWORD_TRIES = 3

# (frame RGB, reference template) -> (matched, reason): the project's engine, cohort and operating point
FaceMatcher = Callable[[Any, list[float]], tuple[bool, str]]


def project_face_matcher() -> FaceMatcher:
    """The kiosk's own decision (engine in its own process, shipped cohort, default operating point), built
    on first use."""
    from drivers.face.process_engine import ProcessFaceEngine
    from kiosk.config import FaceConfig
    from kiosk.face_score import CohortScorer, OperatingPoint, Verdict

    state: dict[str, Any] = {}

    def match(frame: Any, reference: list[float]) -> tuple[bool, str]:
        if not state:
            from drivers.face.arcface_encoder import SHIPPED_COHORT

            with np.load(SHIPPED_COHORT, allow_pickle=False) as data:
                cohort = data["embeddings"].astype(np.float64)
            cfg = FaceConfig()
            state.update(engine=ProcessFaceEngine(), scorer=CohortScorer(cohort, k=cfg.cohort_k),
                         point=OperatingPoint(cfg.score_threshold, cfg.grey_floor))
        sample = state["engine"].encode_largest_face(frame, thorough=True)
        if sample is None:
            return False, "no_face"
        score = state["scorer"].score(sample.template, np.asarray(reference, dtype=np.float64))
        verdict, _ = state["point"].decide([score], sample.box[2] - sample.box[0])
        return verdict is Verdict.MATCH, verdict.value

    def close() -> None:
        if "engine" in state:
            state["engine"].close()

    match.close = close  # type: ignore[attr-defined]
    return match


class SandboxVoucherPlatform:
    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock, *, matcher: FaceMatcher | None = None,
                 lock_s: float = 1800.0, device_limit: int = 30, accept_replay: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self._conn, self._lock, self.clock = conn, lock, clock
        self._matcher = matcher
        self.lock_s, self.device_limit, self.accept_replay = lock_s, device_limit, accept_replay
        self._match_lock = threading.Lock()

    def close(self) -> None:
        close = getattr(self._matcher, "close", None)
        if close is not None:
            close()

    def handle(self, method: str, body: bytes) -> tuple[int, bytes]:
        handlers = {"cn.nhsa.ec.auth": self.face_auth, "cn.nhsa.auth.check": self.check,
                    "cn.nhsa.ec.password": self.password, "cn.nhsa.ec.family": self.family}
        if method not in handlers:
            return 404, b'{"error":"not found"}'
        try:
            request = json.loads(body)
            if not isinstance(request, dict):
                raise ValueError("the request is a JSON object")
            answer = handlers[method](request)
        except (ValueError, KeyError, TypeError) as exc:
            return 400, dumps({"code": "bad_request", "error": str(exc)})
        return 200, dumps(answer)

    # -- face swipe ---------------------------------------------------------------------------------

    def face_auth(self, req: dict[str, Any]) -> dict[str, Any]:
        certno, device = str(req["idNo"]).upper(), str(req.get("deviceNo", ""))
        image = base64.b64decode(str(req["faceImage"]), validate=True) if req.get("faceImage") else b""
        now = self.clock()
        with self._lock:
            self._conn.execute("DELETE FROM face_attempts WHERE at < ?", (now - 60,))
            recent = self._conn.execute("SELECT COUNT(*) FROM face_attempts WHERE device = ?", (device,)).fetchone()[0]
            if recent >= self.device_limit:
                return {"code": "rate_limited", "message": "too many attempts from this terminal", "retryAfter": 60}
            self._conn.execute("INSERT INTO face_attempts VALUES (?, ?)", (device, now))
            person = self._conn.execute("SELECT psn_no FROM persons WHERE certno = ?", (certno,)).fetchone()
            if person is None:
                return {"code": "unknown_person", "message": "no insured person with this ID number"}
            lock = self._conn.execute("SELECT * FROM face_locks WHERE certno = ?", (certno,)).fetchone()
            if lock is not None and lock["locked_until"] > now:
                return {"code": "locked", "message": "face identification locked for this ID number",
                        "retryAfter": int(lock["locked_until"] - now) + 1}
            row = self._conn.execute("SELECT template FROM face_templates WHERE psn_no = ?",
                                     (person["psn_no"],)).fetchone()
        liveness = str(req.get("liveness", ""))
        if liveness != "passed" and not (self.accept_replay and liveness == "unavailable: replay camera"):
            return {"code": "liveness_required", "message": "the terminal must pass liveness before sending a face"}
        if row is None:
            return {"code": "no_photo", "message": "no usable photo on file: use a family account or the counter"}
        matched = self._match(image, json.loads(row["template"]))
        with self._lock:
            if not matched:
                # a lock that has run out starts the count afresh
                failures = 1 if lock is None or lock["locked_until"] else lock["failures"] + 1
                locked_until = now + self.lock_s if failures >= FAILURES_TO_LOCK else 0.0
                self._conn.execute("INSERT OR REPLACE INTO face_locks VALUES (?, ?, ?)",
                                   (certno, 0 if locked_until else failures, locked_until))
                return {"code": "mismatch", "message": "the face does not match this ID number",
                        "remaining": max(0, FAILURES_TO_LOCK - failures)}
            self._conn.execute("DELETE FROM face_locks WHERE certno = ?", (certno,))
            auth_no = "AUTH" + secrets.token_hex(12)
            self._conn.execute("INSERT INTO face_auths VALUES (?, ?, ?, 0)", (auth_no, person["psn_no"], now + 120))
        return {"code": "0", "data": {"authNo": auth_no}}

    def _match(self, image: bytes, reference: list[float]) -> bool:
        buffer = np.frombuffer(image, dtype=np.uint8) if image else np.zeros(0, np.uint8)
        decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
        if decoded is None:
            return False
        frame = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
        if self._matcher is None:
            self._matcher = project_face_matcher()
        with self._match_lock:
            matched, _ = self._matcher(frame, reference)
        frame.fill(0)
        decoded.fill(0)
        return matched

    def check(self, req: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        with self._lock:
            row = self._conn.execute("SELECT * FROM face_auths WHERE auth_no = ?", (str(req["authNo"]),)).fetchone()
            if row is None or row["used"] or row["expires"] < now:
                return {"code": "auth_invalid", "message": "authNo unknown, used or expired"}
            self._conn.execute("UPDATE face_auths SET used = 1 WHERE auth_no = ?", (row["auth_no"],))
            return {"code": "0", "data": self._issue_token(row["psn_no"], "FACE:" + row["auth_no"], now)}

    def _issue_token(self, psn_no: str, payload: str, now: float) -> dict[str, str]:
        """An ecToken as a scanned voucher yields (the vouchers table 1101 looks tokens up in)."""
        token = secrets.token_hex(20)
        self._conn.execute("INSERT INTO vouchers VALUES (?, ?, ?, ?, ?)", (payload, psn_no, token, now, now + 600))
        p = self._conn.execute("SELECT certno, psn_name, insuplc_admdvs FROM persons WHERE psn_no = ?",
                               (psn_no,)).fetchone()
        return {"idNo": p["certno"], "idType": "01", "userName": p["psn_name"], "ecToken": token,
                "insuOrg": p["insuplc_admdvs"]}

    # -- voucher password ---------------------------------------------------------------------------

    def password(self, req: dict[str, Any]) -> dict[str, Any]:
        token, given = str(req["ecToken"]), str(req["password"]).encode("utf-8")
        today = dt.date.today().isoformat()
        with self._lock:
            row = self._conn.execute("SELECT psn_no, token_expires FROM vouchers WHERE ec_token = ?",
                                     (token,)).fetchone()
            if row is None or row["token_expires"] < self.clock():
                return {"code": "token_invalid", "message": "ecToken unknown or expired"}
            psn_no = row["psn_no"]
            stored = self._conn.execute("SELECT * FROM voucher_passwords WHERE psn_no = ?", (psn_no,)).fetchone()
            if stored is None:  # the sandbox's password, hashed on first use
                salt = secrets.token_bytes(16)
                self._conn.execute("INSERT INTO voucher_passwords VALUES (?, ?, ?, 0, '')",
                                   (psn_no, salt, _hash(SANDBOX_PASSWORD.encode(), salt)))
                stored = self._conn.execute("SELECT * FROM voucher_passwords WHERE psn_no = ?", (psn_no,)).fetchone()
            if stored["locked_day"] == today:
                return {"code": "password_locked", "message": "voucher password locked for today", "remaining": 0}
            if hmac.compare_digest(_hash(given, stored["salt"]), stored["hash"]):
                self._conn.execute("UPDATE voucher_passwords SET failures = 0 WHERE psn_no = ?", (psn_no,))
                return {"code": "0"}
            failures = stored["failures"] + 1
            locked = failures >= PASSWORD_TRIES
            self._conn.execute("UPDATE voucher_passwords SET failures = ?, locked_day = ? WHERE psn_no = ?",
                               (0 if locked else failures, today if locked else "", psn_no))
        if locked:
            return {"code": "password_locked", "message": "voucher password locked for today", "remaining": 0}
        return {"code": "wrong_password", "message": "wrong voucher password", "remaining": PASSWORD_TRIES - failures}

    # -- family account -----------------------------------------------------------------------------

    def family(self, req: dict[str, Any]) -> dict[str, Any]:
        certno, payload, now = str(req["idNo"]).upper(), str(req["qrCode"]), self.clock()
        with self._lock:
            member = self._conn.execute(
                "SELECT v.psn_no, v.code_expires, p.psn_name FROM vouchers v JOIN persons p USING (psn_no)"
                " WHERE v.payload = ?", (payload,)).fetchone()
            if member is None:
                return {"code": "unknown", "message": "the member's voucher code is unknown"}
            if member["code_expires"] < now:
                return {"code": "expired", "message": "the member's voucher code has expired"}
            patient = self._conn.execute("SELECT psn_no FROM persons WHERE certno = ?", (certno,)).fetchone()
            if patient is None:
                return {"code": "unknown_person", "message": "no insured person with this ID number"}
            bound = self._conn.execute("SELECT 1 FROM family_bindings WHERE member_psn_no = ? AND patient_psn_no = ?",
                                       (member["psn_no"], patient["psn_no"])).fetchone()
            if bound is None:
                return {"code": "not_bound", "message": "this voucher is not bound to the person as family"}
            data = self._issue_token(patient["psn_no"], "FAMILY:" + secrets.token_hex(12), now)
        return {"code": "0", "data": {**data, "authorisedBy": member["psn_name"]}}


def _hash(password: bytes, salt: bytes) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=2 ** 14, r=8, p=1)

