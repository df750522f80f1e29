"""Face swipe through the voucher platform (PROTOCOL.md section 10), the voucher password above the limit and
the family account: the pure machine, the sandbox's platform side with real photographs over HTTP, and whole
visits on the real services (sandbox, outbox, engine) that must leave neither the PIN nor a face anywhere."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from kiosk import visit as v
from kiosk.domain import CertType
from kiosk.errors import FaceAuthRefused
from kiosk.face_check import face_crop
from kiosk.id_number import id_number_problem
from kiosk.identity import citizen_id_check_char

from drivers.card.virtual_card import load_holders
from drivers.face.dlib_engine import DlibFaceEngine
from drivers.gateway.sandbox.server import SandboxGateway
from drivers.gateway.sandbox.voucher_platform import FAILURES_TO_LOCK, SANDBOX_PASSWORD
from drivers.gateway.voucher_platform import HttpVoucherPlatform
from scripts.composition import Services
from scripts.face_calibration import load_rgb

from test_visit_integration import pump

HOLDERS = load_holders()
DEMO_ID = HOLDERS["demo"].citizen_id  # 王秀英, whose face the services fixture enrols (the demo portrait)
OTHER_ID = "110105198211154560"  # 李建国, another seeded person
NO_PHOTO_ID = "110101194803162229"  # 孙桂兰: nothing enrolled; 王秀英 is bound to her as family


# ---- the ID number typed on the keypad ------------------------------------------------------------

def test_id_number_rules() -> None:
    assert id_number_problem(DEMO_ID) is None and id_number_problem("11010219580611301x") is None
    assert citizen_id_check_char("11010119560307123") == "9"
    assert id_number_problem("11010119560307123") == "length"
    assert id_number_problem("1101011956030712X9") == "characters"
    assert id_number_problem("110101195613071239") == "birth_date"  # month 13
    assert id_number_problem("110101195603071238") == "checksum"


# ---- the machine alone ---------------------------------------------------------------------------

def _to_face(m: v.VisitMachine) -> list[v.Effect]:
    assert m.handle(v.FaceSwipeChosen()) == [] and m.state == v.State.CONSENT
    assert m.handle(v.ConsentGiven()) == [] and m.state == v.State.ENTER_ID
    assert m.handle(v.IdNumberEntered(id_no="110101195603071238")) == []  # a typing slip: nothing sent
    assert m.state == v.State.ENTER_ID and m.ctx.extra["id_problem"] == "checksum"
    return m.handle(v.IdNumberEntered(id_no=DEMO_ID))


def test_machine_face_swipe_retries_then_offers_the_other_ways() -> None:
    m = v.VisitMachine(max_face_attempts=3)
    effects = _to_face(m)
    assert m.state == v.State.FACE_VERIFY and effects == [v.IdentifyByFace(m.visit_id, DEMO_ID, 1)]
    assert DEMO_ID not in repr(effects[0]) and DEMO_ID not in repr(v.IdNumberEntered(id_no=DEMO_ID))
    assert m.handle(v.FaceAuthFailed(m.visit_id, reason="mismatch")) == [v.IdentifyByFace(m.visit_id, DEMO_ID, 2)]
    assert m.handle(v.FaceAuthFailed(m.visit_id, reason="liveness")) == [v.IdentifyByFace(m.visit_id, DEMO_ID, 3)]
    assert m.handle(v.FaceAuthFailed(m.visit_id, reason="mismatch")) == []
    assert m.state == v.State.ERROR and m.ctx.error_message == "face_swipe.attempts_exhausted"


@pytest.mark.parametrize("reason", ["locked", "rate_limited", "unknown_person", "liveness_required"])
def test_machine_platform_refusals_end_at_once(reason: str) -> None:
    m = v.VisitMachine()
    _to_face(m)
    assert m.handle(v.FaceAuthFailed(m.visit_id, reason=reason, retry_after_s=1800)) == []
    assert m.state == v.State.ERROR and m.ctx.error_message == f"face_swipe.{reason}"


def test_machine_no_photo_leads_to_the_family_account() -> None:
    m = v.VisitMachine()
    _to_face(m)
    m.handle(v.FaceAuthFailed(m.visit_id, reason="no_photo"))
    assert m.state == v.State.FAMILY_ACCOUNT
    assert m.handle(v.VoucherScanned(payload="https://example.com/x")) == []
    assert m.ctx.extra["family_hint"] == "refused.link"
    effects = m.handle(v.VoucherScanned(payload="EC" + "a" * 40))
    assert effects == [v.AuthoriseByFamily(m.visit_id, DEMO_ID, "EC" + "a" * 40)]
    assert "a" * 40 not in repr(effects[0]) and DEMO_ID not in repr(effects[0])
    assert m.handle(v.VoucherScanned(payload="EC" + "b" * 40)) == []  # one at a time
    m.handle(v.FamilyAuthFailed(m.visit_id, reason="not_bound"))
    assert m.state == v.State.FAMILY_ACCOUNT and m.ctx.extra["family_hint"] == "refused.not_bound"
    m.handle(v.Cancel())
    assert m.state == v.State.IDLE and m.ctx.typed_id == ""


def test_password_event_never_shows_the_pin() -> None:
    assert "135790" not in repr(v.PasswordEntered(password="135790"))
    assert "135790" not in repr(v.CheckVoucherPassword("v1", "tok" * 8, "135790", "12.00"))


# ---- the platform's side with real photographs --------------------------------------------------

@pytest.fixture(scope="module")
def engine() -> DlibFaceEngine:
    return DlibFaceEngine()


def _crop(engine: DlibFaceEngine, path: Path) -> np.ndarray:
    frame = load_rgb(path)
    obs = engine.analyse(frame, thorough=True)
    assert obs is not None, path
    return face_crop(frame, obs.box)


def _enrol(sandbox: SandboxGateway, engine: DlibFaceEngine, certno: str, path: Path) -> None:
    sample = engine.encode_largest_face(load_rgb(path), thorough=True)
    assert sample is not None
    sandbox.enroll_face(sandbox.psn_no_for_certno(certno), [float(x) for x in sample.template])


@pytest.mark.slow
def test_platform_identifies_the_right_face_and_locks_after_five_failures(
        sandbox: SandboxGateway, demo_config, engine: DlibFaceEngine, shared_data: Path) -> None:
    faces = shared_data / "faces" / "face_recognition"
    _enrol(sandbox, engine, DEMO_ID, faces / "obama" / "obama.jpg")
    _enrol(sandbox, engine, OTHER_ID, faces / "biden" / "biden.jpg")
    now = [1_000_000.0]
    sandbox.vouchers.clock = lambda: now[0]
    platform = HttpVoucherPlatform(demo_config.gateway, demo_config.terminal)
    genuine, other = _crop(engine, faces / "obama" / "obama2.jpg"), _crop(engine, faces / "biden" / "biden2.jpg")

    holder = platform.check(platform.face_auth(DEMO_ID, genuine.copy(), liveness="passed"))
    assert holder.id_no == DEMO_ID and holder.document().cert_type is CertType.VOUCHER
    assert platform.check(platform.face_auth(OTHER_ID, other.copy(), liveness="passed")).id_no == OTHER_ID
    with pytest.raises(FaceAuthRefused) as refused:
        platform.face_auth(DEMO_ID, genuine.copy(), liveness="unavailable: replay camera")
    assert refused.value.reason == "liveness_required"  # only frames that passed liveness count
    with pytest.raises(FaceAuthRefused) as refused:
        platform.face_auth(NO_PHOTO_ID, genuine.copy(), liveness="passed")
    assert refused.value.reason == "no_photo"

    for _ in range(FAILURES_TO_LOCK):  # another seeded person's face for this ID number
        with pytest.raises(FaceAuthRefused) as refused:
            platform.face_auth(DEMO_ID, other.copy(), liveness="passed")
        assert refused.value.reason == "mismatch"
    with pytest.raises(FaceAuthRefused) as refused:  # locked now, even for the right face
        platform.face_auth(DEMO_ID, genuine.copy(), liveness="passed")
    assert refused.value.reason == "locked" and 1 <= refused.value.retry_after_s <= sandbox.vouchers.lock_s + 1
    assert platform.check(platform.face_auth(OTHER_ID, other.copy(), liveness="passed")).id_no == OTHER_ID
    now[0] += sandbox.vouchers.lock_s + 1  # the configured time has passed
    assert platform.check(platform.face_auth(DEMO_ID, genuine.copy(), liveness="passed")).id_no == DEMO_ID
    platform.close()


def test_platform_rate_limits_a_terminal(sandbox: SandboxGateway, demo_config) -> None:
    sandbox.vouchers.device_limit = 3
    platform = HttpVoucherPlatform(demo_config.gateway, demo_config.terminal)
    face = np.zeros((40, 40, 3), np.uint8)
    reasons = []
    for _ in range(4):
        with pytest.raises(FaceAuthRefused) as refused:
            platform.face_auth("110101199901011234", face.copy(), liveness="passed")
        reasons.append(refused.value.reason)
    assert reasons == ["unknown_person"] * 3 + ["rate_limited"]


def test_platform_refuses_garbage(sandbox: SandboxGateway) -> None:
    for body in (b"not json", b"[]", b'{"idNo": "x", "faceImage": "%%%"}', b"{}"):
        status, answer = sandbox.vouchers.handle("cn.nhsa.ec.auth", body)
        assert status == 400 and json.loads(answer)["code"] == "bad_request"
    assert sandbox.vouchers.handle("cn.nhsa.unknown", b"{}")[0] == 404
    assert json.loads(sandbox.vouchers.handle("cn.nhsa.auth.check", b'{"authNo": "AUTHnope"}')[1])["code"] == "auth_invalid"


# ---- whole visits on the real services -----------------------------------------------------------

def _messages(sandbox: SandboxGateway, infno: str) -> list[dict]:
    conn = sqlite3.connect(f"file:{sandbox.ledger_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT request FROM messages WHERE infno = ? ORDER BY created", (infno,)).fetchall()
    finally:
        conn.close()
    return [json.loads(r[0]) for r in rows]


@pytest.mark.slow
def test_face_swipe_visit_settles_with_cert_type_01(services: Services, sandbox: SandboxGateway) -> None:
    sandbox.vouchers.accept_replay = True  # the demo's replay camera (demo mode says liveness was not checked)
    m = v.VisitMachine()
    for event in (v.FaceSwipeChosen(), v.ConsentGiven(), v.IdNumberEntered(id_no=DEMO_ID)):
        pump(m, services, event)
    assert m.state == v.State.SERVICES, (m.state, m.ctx.error_message)
    assert m.ctx.document.cert_type is CertType.VOUCHER and m.ctx.person.certno == DEMO_ID
    assert m.ctx.face.accepted and m.ctx.face.liveness == "unavailable: replay camera"
    for event in (v.PayFeesChosen(), v.FeesConfirmed(), v.SettlementConfirmed()):
        pump(m, services, event, sandbox)
    assert m.state == v.State.RECEIPT and m.ctx.settlement is not None, m.ctx.error_message
    assert _messages(sandbox, "1101")[-1]["data"]["mdtrt_cert_type"] == "01"
    services.outbox.drain()
    events = [e for e in sandbox.audit_events() if e["event"] == "patient_face_identification"]
    assert [(e["verdict"], e["attempt"]) for e in events] == [("identified", 1)]
    assert DEMO_ID not in json.dumps(events) and events[0]["subject"] == "110101********1239"


@pytest.mark.slow
def test_face_swipe_refuses_another_persons_face(services: Services, sandbox: SandboxGateway) -> None:
    """The demo portrait is enrolled for 王秀英 only: typed with 李建国's ID number after enrolling another
    face for him, the platform refuses, three times, and the patient is offered the other ways."""
    sandbox.vouchers.accept_replay = True
    sandbox.enroll_face(sandbox.psn_no_for_certno(OTHER_ID), [0.05] * 512)
    m = v.VisitMachine(max_face_attempts=3)
    for event in (v.FaceSwipeChosen(), v.ConsentGiven(), v.IdNumberEntered(id_no=OTHER_ID)):
        pump(m, services, event)
    assert m.state == v.State.ERROR and m.ctx.error_message == "face_swipe.attempts_exhausted"
    assert m.ctx.person is None and m.ctx.face_attempts == 3


def _voucher_to_confirm(m: v.VisitMachine, services: Services, sandbox: SandboxGateway,
                        certno: str = DEMO_ID) -> None:
    pump(m, services, v.VoucherScanned(payload=sandbox.issue_voucher(certno)))
    for event in (v.ConsentGiven(), v.PayFeesChosen(), v.FeesConfirmed()):
        pump(m, services, event)
    assert m.state == v.State.CONFIRM, (m.state, m.ctx.error_message)
    pump(m, services, v.SettlementConfirmed())
    assert m.state == v.State.VOUCHER_PASSWORD


def _scan_for_secrets(root: Path, secrets: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {s[:8]!r}" for s in secrets if s in data]
    return found


@pytest.mark.slow
def test_password_above_the_limit(services: Services, sandbox: SandboxGateway, caplog, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    m = v.VisitMachine(password_limit=Decimal("1.00"))
    _voucher_to_confirm(m, services, sandbox)
    pump(m, services, v.PasswordEntered(password="12345"))
    assert m.state == v.State.VOUCHER_PASSWORD and m.ctx.extra["password_hint"] == "six_digits"
    pump(m, services, v.PasswordEntered(password="482913"))
    assert m.state == v.State.VOUCHER_PASSWORD and m.ctx.extra["password_hint"] == "wrong"
    assert m.ctx.extra["password_remaining"] == "2"
    pump(m, services, v.PasswordEntered(password=SANDBOX_PASSWORD), sandbox)
    assert m.state == v.State.RECEIPT and m.ctx.settlement is not None, m.ctx.error_message
    pump(m, services, v.Finish())

    m = v.VisitMachine(password_limit=Decimal("1.00"))  # three wrong ones end the attempt (another patient)
    sandbox.enroll_face(sandbox.psn_no_for_certno(OTHER_ID), sandbox.face_template(sandbox.psn_no_for_certno(DEMO_ID)))
    _voucher_to_confirm(m, services, sandbox, OTHER_ID)
    mdtrt_id = m.ctx.pre_settlement.mdtrt_id
    for pin in ("559137", "602846", "713524"):
        pump(m, services, v.PasswordEntered(password=pin))
    assert m.state == v.State.ERROR and m.ctx.error_message == "voucher.password_locked"
    pump(m, services, v.Finish())
    assert sandbox.registration_cancelled(mdtrt_id)  # nothing settled, the registration undone
    services.outbox.drain()
    pins = [p.encode() for p in (SANDBOX_PASSWORD, "559137", "602846", "713524", "482913")]
    assert _scan_for_secrets(tmp_path, pins) == []  # data folder, queue file, sandbox ledger, receipts
    assert not any(p.decode() in caplog.text for p in pins)


def test_under_the_limit_no_password(services: Services, sandbox: SandboxGateway) -> None:
    m = v.VisitMachine(password_limit=Decimal("100000.00"))
    pump(m, services, v.VoucherScanned(payload=sandbox.issue_voucher(DEMO_ID)))
    for event in (v.ConsentGiven(), v.PayFeesChosen(), v.FeesConfirmed(), v.SettlementConfirmed()):
        pump(m, services, event, sandbox)
    assert m.state == v.State.RECEIPT, (m.state, m.ctx.error_message)


@pytest.mark.slow
def test_family_account(services: Services, sandbox: SandboxGateway, caplog, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.vouchers.accept_replay = True
    m = v.VisitMachine()
    for event in (v.FaceSwipeChosen(), v.ConsentGiven(), v.IdNumberEntered(id_no=NO_PHOTO_ID)):
        pump(m, services, event)
    assert m.state == v.State.FAMILY_ACCOUNT, (m.state, m.ctx.error_message)
    pump(m, services, v.VoucherScanned(payload=sandbox.issue_voucher(OTHER_ID)))  # not bound to her
    assert m.state == v.State.FAMILY_ACCOUNT and m.ctx.extra["family_hint"] == "refused.not_bound"
    pump(m, services, v.VoucherScanned(payload=sandbox.issue_voucher(DEMO_ID)))  # her daughter-in-law
    assert m.state == v.State.SERVICES and m.ctx.person.certno == NO_PHOTO_ID
    assert m.ctx.document.authorised_by == "王**"
    for event in (v.PayFeesChosen(), v.FeesConfirmed(), v.SettlementConfirmed()):
        pump(m, services, event, sandbox)
    assert m.state == v.State.RECEIPT, (m.state, m.ctx.error_message)
    receipt = Path(m.ctx.extra["receipt"]).read_text(encoding="utf-8")
    assert "亲情账户授权 Authorised by" in receipt and "王**" in receipt
    assert _messages(sandbox, "1101")[-1]["data"]["mdtrt_cert_type"] == "01"


def test_face_crop_keeps_a_margin() -> None:
    frame = np.arange(100 * 200 * 3, dtype=np.uint8).reshape(100, 200, 3)
    crop = face_crop(frame, (40, 120, 60, 100))  # a 20 x 20 face
    assert crop.shape == (40, 40, 3) and crop.flags["C_CONTIGUOUS"]
    assert np.array_equal(crop, frame[30:70, 90:130])
    crop.fill(0)
    assert frame[50, 110].any()  # a copy: zeroing it leaves the camera's frame alone



@pytest.mark.slow
def test_production_never_sends_a_frame_that_did_not_pass_liveness(services: Services, sandbox: SandboxGateway,
                                                                  demo_config) -> None:
    """Outside demo mode a replayed camera cannot pass liveness: nothing is sent to the platform and the
    attempt counts as a liveness failure."""
    import time

    from kiosk.face_check import FaceVerifier
    from kiosk.visit_effects import EffectRunner
    from scripts.composition import load_cohort, operating_point

    cfg = demo_config.face
    verifier = FaceVerifier(services.camera, services.face_engine, services.his, cfg, point=operating_point(cfg),
                            scorer=load_cohort(cfg).scorer(cfg.cohort_k), demo=False, clock=time.monotonic,
                            sleep=time.sleep)
    capture = verifier.capture_live()
    assert capture.crop is None and not capture.match.accepted
    assert capture.match.liveness == "unavailable: replay camera"

    calls: list[str] = []

    class CountingPlatform:
        def face_auth(self, *args, **kwargs):  # the platform must never be asked
            calls.append("face_auth")
            raise AssertionError("a frame that did not pass liveness was sent")

    effects = EffectRunner(card_reader=services.card_reader, settlement=services.settlement, face=verifier,
                           his=services.his, printer=services.printer, institution="H", terminal_no="T1",
                           clock=dt.datetime.now, audit=lambda event: None,
                           operating_point=operating_point(cfg), vouchers=CountingPlatform())  # type: ignore[arg-type]
    event = effects.run(v.IdentifyByFace("v1", DEMO_ID, 1))
    assert isinstance(event, v.FaceAuthFailed) and event.reason == "liveness" and calls == []


def test_the_error_screen_says_how_long_the_lock_lasts_and_where_else_to_go(qtbot) -> None:
    from kiosk.domain import VisitContext
    from ui.i18n import Translator
    from ui.screens import ErrorScreen

    screen = ErrorScreen(Translator("en"), "Counter 3")
    qtbot.addWidget(screen)
    ctx = VisitContext(error_code=206, error_message="face_swipe.locked", extra={"retry_after_s": "1790"})
    screen.render(ctx)
    assert "locked" in screen.body.text() and "about 30 min" in screen.body.text()
    ctx = VisitContext(error_message="consent_declined", extra={"identified_by": "face"})
    screen.render(ctx)
    assert "Insert your card, show your insurance code" in screen.body.text() and "Counter 3" in screen.body.text()
