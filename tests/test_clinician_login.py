"""Clinician login: the pure machine, the audit chain (pure and through the outbox to the sandbox), the
encrypted roster, and the demo workstation end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from kiosk import clinician_login as cl
from kiosk.audit_chain import GENESIS, link, verify
from kiosk.domain import FaceMatch, StaffMember
from kiosk.errors import RosterError
from kiosk.position import PositionVerdict

from drivers.gateway.sandbox.server import SandboxGateway
from offline_queue.roster import FileRoster
from offline_queue.crypto import PayloadCipher, load_or_create_key
from offline_queue.outbox import SqliteOutbox
from offline_queue.store import open_store
from scripts import kiosk_cli

NOW = dt.datetime(2026, 11, 22, 9, 30)
GOOD = FaceMatch(9.0, "match", True, "passed")


def machine() -> cl.ClinicianLogin:
    return cl.ClinicianLogin("T01", lambda: NOW)


def test_both_factors_are_required_in_order() -> None:
    m = machine()
    assert m.handle(cl.StaffChosen("D1")) == [cl.VerifyStaffFace("D1", 1)] and m.state is cl.LoginState.FACE
    assert m.handle(cl.PositionResult(PositionVerdict(True))) == []  # a position before the face is ignored
    assert m.state is cl.LoginState.FACE
    assert m.handle(cl.FaceResult(GOOD, band="clear")) == [cl.CheckPosition()]
    effects = m.handle(cl.PositionResult(PositionVerdict(True, edge_m=80.0, basis="gpsd fix, ±8 m, 1 s old")))
    assert m.state is cl.LoginState.SESSION and m.staff_no == "D1"
    (audit,) = effects
    assert isinstance(audit, cl.RecordAudit) and audit.event["accepted"] is True
    assert audit.event["face"] == {"verdict": "match", "band": "clear", "liveness": "passed"}
    assert audit.event["position"] == {"accepted": True, "reason": "", "edge_m": 80,
                                       "basis": "gpsd fix, ±8 m, 1 s old"}


@pytest.mark.parametrize(("face", "position", "reason"), [
    (cl.FaceResult(FaceMatch(1.0, "mismatch", False, "not run: mismatch")), None, "face_mismatch"),
    (cl.FaceResult(FaceMatch(5.0, "grey", False, "not run: grey")), None, "face_uncertain"),
    (cl.FaceResult(FaceMatch(9.0, "match", False, "failed: flat_motion")), None, "liveness_failed"),
    (cl.FaceResult(None, error="unknown_staff"), None, "unknown_staff"),
    (cl.FaceResult(None, error="no_face"), None, "no_face"),
    (cl.FaceResult(GOOD), PositionVerdict(False, "outside_geofence", -300.0), "outside_geofence"),
    (cl.FaceResult(GOOD), PositionVerdict(False, "stale_fix"), "stale_fix"),
    (cl.FaceResult(GOOD), PositionVerdict(False, "unavailable"), "unavailable"),
])
def test_each_refusal_is_audited_and_wipes(face: cl.FaceResult, position: PositionVerdict | None, reason: str) -> None:
    m = machine()
    m.handle(cl.StaffChosen("D1"))
    effects = m.handle(face)
    if position is not None:
        effects = m.handle(cl.PositionResult(position))
    assert m.state is cl.LoginState.REFUSED and m.reason == reason
    audit, wipe = effects
    assert isinstance(wipe, cl.WipeSession) and audit.event["reason"] == reason and audit.event["accepted"] is False
    assert m.handle(cl.StaffChosen("D1")) == []  # must acknowledge first
    m.handle(cl.Acknowledged())
    assert m.state is cl.LoginState.LOCKED


@pytest.mark.parametrize(("event", "why"), [(cl.IdleTimeout(), "idle"), (cl.FaceAbsent(), "face_absent"),
                                            (cl.Logout(), "logout")])
def test_a_session_locks_again(event: cl.Event, why: str) -> None:
    m = machine()
    for e in (cl.StaffChosen("D1"), cl.FaceResult(GOOD), cl.PositionResult(PositionVerdict(True))):
        m.handle(e)
    audit, wipe = m.handle(event)
    assert m.state is cl.LoginState.LOCKED and m.staff_no == "" and audit.event["reason"] == why
    assert audit.event["event"] == "clinician_session_locked" and isinstance(wipe, cl.WipeSession)


def test_a_stuck_check_times_out() -> None:
    m = machine()
    m.handle(cl.StaffChosen("D1"))
    m.handle(cl.IdleTimeout())
    assert m.state is cl.LoginState.REFUSED and m.reason == "timeout"


def chain(n: int) -> list[dict]:
    events, head = [], GENESIS
    for seq in range(1, n + 1):
        event = link({"event": "clinician_login", "staff_no": f"D{seq}", "accepted": seq % 2 == 0}, head, seq)
        events.append(event)
        head = event["hash"]
    return events


def test_audit_chain_finds_the_removed_altered_or_moved_event() -> None:
    events = chain(6)
    assert verify(events) is None
    assert verify(events[:3] + events[4:]) == 3  # event 4 deleted: the next one no longer links
    edited = [dict(e) for e in events]
    edited[2]["accepted"] = not edited[2]["accepted"]
    assert verify(edited) == 2
    swapped = events[:1] + [events[2], events[1]] + events[3:]
    assert verify(swapped) == 1
    forged = [dict(e) for e in events]
    forged[4] = link({**{k: v for k, v in forged[4].items() if k not in ("seq", "prev", "hash")}, "accepted": True},
                     forged[3]["hash"], 5)  # re-hashing an edit breaks the next link instead
    assert verify(forged) == 5


def test_chained_audit_through_the_outbox_survives_restart_and_is_verified_by_the_receiver(
        tmp_path: Path, sandbox: SandboxGateway) -> None:
    key = load_or_create_key(tmp_path / "k")

    def deliver(payload: dict, _save: object) -> dict:
        sandbox.record_audit(payload)
        return {}

    outbox = SqliteOutbox(open_store(tmp_path / "o.sqlite"), PayloadCipher(key), deliver)
    for n in range(3):
        outbox.enqueue_chained(visit_id="audit", kind="audit", event={"event_id": f"e{n}", "event": "x", "n": n})
    outbox._store.close()
    reopened = SqliteOutbox(open_store(tmp_path / "o.sqlite"), PayloadCipher(key), deliver)
    for n in range(3, 5):
        reopened.enqueue_chained(visit_id="audit", kind="audit", event={"event_id": f"e{n}", "event": "x", "n": n})
    while reopened.drain():  # one item per visit (stream) per round, in order
        pass
    received = [e for e in sandbox.audit_events() if "seq" in e]
    assert [e["seq"] for e in received] == [1, 2, 3, 4, 5] and verify(received) is None
    del received[2]
    assert verify(received) == 2


def test_roster_is_encrypted_and_refuses_bad_entries(tmp_path: Path) -> None:
    roster = FileRoster(tmp_path / "staff.roster")
    template = np.linspace(-0.2, 0.2, 128)
    roster.add(StaffMember("D0042", "张三丰", "心内科", "D110101000042", template))
    blob = (tmp_path / "staff.roster").read_bytes()
    for secret in ("张三丰".encode(), b"D0042", b"D110101000042", template.tobytes(), b"0.2"):
        assert secret not in blob
    assert oct((tmp_path / "staff.roster").stat().st_mode & 0o777) == "0o600"
    found = roster.search("张")
    assert [m.staff_no for m in found] == ["D0042"] and found[0].template is None
    assert roster.get("D0042").template == pytest.approx(template)
    for bad, message in ((StaffMember("D 1", "A", "", "", template), "staff number"),
                         (StaffMember("D1", " ", "", "", template), "needs a name"),
                         (StaffMember("D1", "A", "", "", np.zeros(12)), "face template of"),
                         (StaffMember("D0042", "A", "", "", template), "already enrolled")):
        with pytest.raises(RosterError, match=message):
            roster.add(bad)
    assert roster.remove("D0042") and not roster.remove("D0042") and roster.search() == []
    (tmp_path / "staff.roster").write_bytes(b"\x01garbage")
    with pytest.raises(RosterError, match="cannot be read"):
        roster.get("D0042")


@pytest.mark.parametrize(("args", "outcome", "reason"), [
    ([], "logged_in", ""),
    (["--location", "outside"], "refused", "outside_geofence"),
    (["--camera-source", "{shared}/faces/face_recognition/biden"], "refused", "face_mismatch"),
])
def test_demo_clinician_login(args: list[str], outcome: str, reason: str, shared_data: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--autopilot", "--role", "clinician", "--json", "--data-dir", str(tmp_path),
            *[a.format(shared=shared_data) for a in args]]
    status = kiosk_cli.main(argv)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (result["outcome"], result["reason"]) == (outcome, reason)
    assert status == (0 if outcome == "logged_in" else 1)
    assert result["audit_events_delivered"] == 1 and result["audit_chain_verifies"] is True


def test_a_contradicted_fixed_site_raises_a_tamper_alarm(caplog: pytest.LogCaptureFixture) -> None:
    from kiosk.clinician_effects import LoginEffects
    from kiosk.face_score import OperatingPoint
    from kiosk.ports import PositionReading
    from kiosk.position import PositionRules, check_fixed_site

    from drivers.location.fixed_site import FixedSiteLocation

    site = FixedSiteLocation(39.9087, 116.3975)
    shanghai = PositionReading(31.2304, 121.4737, mode=3, accuracy_m=10, age_s=1, source="gpsd")
    effects = LoginEffects(roster=None, face=None, point=OperatingPoint(6.0, 4.0), location=site,  # type: ignore[arg-type]
                           judge=lambda reading, _last: check_fixed_site(reading, shanghai, PositionRules()),
                           audit=lambda _event: None)
    result = effects.run(cl.CheckPosition())
    assert isinstance(result, cl.PositionResult) and result.verdict.reason == "site_contradiction"
    assert "TAMPER ALARM" in caplog.text


def test_a_cancelled_attempt_never_decides_the_next_one() -> None:
    m = cl.ClinicianLogin("WS-01", lambda: dt.datetime(2026, 12, 2, 9, 0))
    assert m.handle(cl.StaffChosen("D1")) == [cl.VerifyStaffFace("D1", 1)]
    audit, wipe = m.handle(cl.Cancelled())  # the wrong name was picked: back to the list at once
    assert m.state is cl.LoginState.LOCKED and isinstance(wipe, cl.WipeSession)
    assert audit.event["reason"] == "cancelled" and audit.event["accepted"] is False
    assert m.handle(cl.StaffChosen("D2")) == [cl.VerifyStaffFace("D2", 2)]
    assert m.handle(cl.FaceResult(GOOD, band="clear", attempt=1)) == []  # D1's late answer: ignored
    assert m.state is cl.LoginState.FACE and m.attempt.staff_no == "D2"
    assert m.handle(cl.FaceResult(GOOD, band="clear", attempt=2)) == [cl.CheckPosition()]
    assert m.handle(cl.Cancelled()) and m.state is cl.LoginState.LOCKED  # also while the position is checked


def test_the_clinician_autopilot_saves_each_screen_it_shows(tmp_path: Path) -> None:
    """In its own process: the windowed autopilot sets the application's font and quits its event loop,
    which must not leak into the other UI tests."""
    import os
    import subprocess
    import sys

    shots = tmp_path / "shots"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")} | {"QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run([str(Path(sys.executable).with_name("kiosk")), "demo", "--autopilot", "--role", "clinician",
                          "--json", "--data-dir", str(tmp_path / "demo"), "--screenshots", str(shots)],
                         capture_output=True, text=True, timeout=300, env=env)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0 and result["outcome"] == "logged_in", run.stderr[-2000:]
    assert result["screenshots"] == ["clinician-01-locked.png", "clinician-02-face.png", "clinician-03-position.png",
                                     "clinician-04-session.png"]
    assert sorted(p.name for p in shots.glob("*.png")) == result["screenshots"]
    assert result["audit_chain_verifies"] is True
