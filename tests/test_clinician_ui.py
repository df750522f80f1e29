"""The clinician login window, driven by touch (pytest-qt, offscreen) against the real parts: dlib on the
demo portrait, the encrypted roster, the fixed-site location, the outbox and the sandbox."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from kiosk import clinician_login as cl
from kiosk.config import KioskConfig
from kiosk.ports import PositionReading

from drivers.camera.replay import ReplayCamera
from drivers.gateway.sandbox.server import SandboxGateway
from scripts.clinician_demo import DEMO_CLINICIAN, OUTSIDE_SITE, enroll_demo_clinician
from scripts.composition import ClinicianServices, build_clinician_services, demo_portrait
from scripts.demo import demo_config
from ui.bridge import TaskRunner
from ui.clinician_window import CLINICIAN_LANES, ClinicianWindow, LoginController
from ui.i18n import CATALOG

from test_screens_fit import clipped, settle_layout  # noqa: E402 - the same clipping check as the patient screens

pytestmark = pytest.mark.slow
from tests.screenshots import SHOTS  # noqa: E402


@pytest.fixture
def workstation(tmp_path: Path, sandbox: SandboxGateway, request: pytest.FixtureRequest) -> Iterator[ClinicianServices]:
    cfg = demo_config(KioskConfig(), tmp_path, sandbox.service_url, sandbox.payment_key)
    if getattr(request, "param", "inside") == "outside":
        cfg = dataclasses.replace(cfg, location=dataclasses.replace(
            cfg.location, site_latitude=OUTSIDE_SITE[0], site_longitude=OUTSIDE_SITE[1]))
    services = build_clinician_services(cfg, camera=ReplayCamera([demo_portrait()], fps=15))
    enroll_demo_clinician(services)
    services.base.camera.start()
    yield services
    services.close()


def make_window(qtbot, services: ClinicianServices, **kwargs) -> ClinicianWindow:
    tasks = TaskRunner(CLINICIAN_LANES)
    controller = LoginController(cl.ClinicianLogin("T01", __import__("datetime").datetime.now), services.effects, tasks)
    window = ClinicianWindow(controller, camera=services.base.camera, search=services.roster.search, demo=True,
                             **kwargs)
    services.base.face.on_prompt = window.note_face_prompt
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    return window


def pick_demo_clinician(qtbot, window: ClinicianWindow) -> None:
    qtbot.keyClicks(window.pick.query, "d0001")  # by staff number (QtTest types ASCII only)
    assert window.pick.people.count() == 1
    item = window.pick.people.item(0)
    rect = window.pick.people.visualItemRect(item)
    qtbot.mouseClick(window.pick.people.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_login_by_touch_then_logout_in_both_languages(qtbot, workstation: ClinicianServices) -> None:
    window = make_window(qtbot, workstation)
    for language in ("zh_CN", "en"):
        window.tr_.set_language(language)
        window.grab().save(str(SHOTS / f"{language[:2]}-clinician-1-pick.png"))
        settle_layout()
        assert clipped(window) == []
        pick_demo_clinician(qtbot, window)
        qtbot.waitUntil(lambda: window.controller.machine.state is cl.LoginState.SESSION, timeout=20000)
        assert DEMO_CLINICIAN.staff_no in window.session.title.text()
        window.grab().save(str(SHOTS / f"{language[:2]}-clinician-2-session.png"))
        settle_layout()
        assert clipped(window) == []
        qtbot.mouseClick(window.session.button("logout"), Qt.MouseButton.LeftButton)
        assert window.controller.machine.state is cl.LoginState.LOCKED


def test_no_match_cancel_and_the_demo_banner(qtbot, workstation: ClinicianServices) -> None:
    window = make_window(qtbot, workstation)
    window.tr_.set_language("en")
    assert window.demo_label.isVisible() and "liveness not checked" in window.demo_label.text()
    qtbot.keyClicks(window.pick.query, "nobody-here")
    assert window.pick.people.count() == 0 and window.pick.none_found.isVisible()
    assert "No one matches \"nobody-here\"" in window.pick.none_found.text()
    qtbot.waitUntil(lambda: clipped(window) == [], timeout=3000)  # once the layout has taken the new text
    window.grab().save(str(SHOTS / "en-clinician-5-no-match.png"))
    window.pick.query.clear()
    assert not window.pick.none_found.isVisible()
    pick_demo_clinician(qtbot, window)
    assert window.controller.machine.state is cl.LoginState.FACE
    qtbot.mouseClick(window.face.button("cancel"), Qt.MouseButton.LeftButton)  # the wrong name: no 10 s wait
    assert window.controller.machine.state is cl.LoginState.LOCKED
    assert window.controller.machine.reason == "cancelled"


@pytest.mark.parametrize("workstation", ["outside"], indirect=True)
def test_outside_the_fence_is_refused_with_what_to_do(qtbot, workstation: ClinicianServices) -> None:
    window = make_window(qtbot, workstation)
    window.tr_.set_language("en")
    pick_demo_clinician(qtbot, window)
    qtbot.waitUntil(lambda: window.controller.machine.state is cl.LoginState.REFUSED, timeout=20000)
    assert window.refused.title.text() == CATALOG["login.reason.outside_geofence"]["en"]
    assert window.refused.body.text() == CATALOG["login.help.outside"]["en"]
    detail = window.refused.it_detail.text()  # what IT needs: the code, and how far outside
    assert "code outside_geofence" in detail and re.search(r", \d{3} m from the hospital's fence", detail), detail
    window.grab().save(str(SHOTS / "en-clinician-3-refused-outside.png"))
    settle_layout()
    assert clipped(window) == []
    qtbot.mouseClick(window.refused.button("ok"), Qt.MouseButton.LeftButton)
    assert window.controller.machine.state is cl.LoginState.LOCKED


class DeadReceiver:
    description = "gpsd (stopped)"
    healthy = False

    def current(self) -> PositionReading | None:
        return None


def test_positioning_unavailable_is_never_silent(qtbot, workstation: ClinicianServices) -> None:
    workstation.effects._location = DeadReceiver()  # as gpsd reports when it has stopped (see test_location)
    window = make_window(qtbot, workstation)
    pick_demo_clinician(qtbot, window)
    qtbot.waitUntil(lambda: window.controller.machine.state is cl.LoginState.REFUSED, timeout=20000)
    assert window.controller.machine.reason == "unavailable"
    assert window.refused.body.text() == CATALOG["login.help.position"]["zh_CN"]
    window.grab().save(str(SHOTS / "zh-clinician-4-positioning-unavailable.png"))


def test_session_locks_when_the_face_is_absent(qtbot, workstation: ClinicianServices) -> None:
    window = make_window(qtbot, workstation, absent_lock_s=0.1, face_present=lambda: False)
    pick_demo_clinician(qtbot, window)
    qtbot.waitUntil(lambda: window.controller.machine.state is cl.LoginState.SESSION, timeout=20000)
    qtbot.waitUntil(lambda: window.controller.machine.state is cl.LoginState.LOCKED, timeout=10000)
    assert window.controller.machine.reason == "face_absent"


def test_every_refusal_reason_has_text() -> None:
    from kiosk import position

    reasons = {getattr(position, n) for n in ("NO_FIX", "STALE_FIX", "POOR_ACCURACY", "FIX_2D", "TELEPORT", "OUTSIDE",
                                              "NEAR_EDGE", "SITE_CONTRADICTION", "UNAVAILABLE")}
    reasons |= {"face_mismatch", "face_uncertain", "liveness_failed", "unknown_staff", "no_face", "face_unavailable", "enrol_again",
                "timeout", position.SITE_UNPROVEN}
    assert sorted(r for r in reasons if f"login.reason.{r}" not in CATALOG) == []


def test_a_production_workstation_runs_the_clinician_login_on_its_own_roster(qtbot, tmp_path: Path,
                                                                            sandbox: SandboxGateway) -> None:
    """What ``kiosk run`` builds for ``terminal.role = workstation`` in production mode: the clinician login
    on the production roster (not the demo's). The camera is the one fake here (this machine has no
    webcam): the demo portrait replayed, which production does not let through liveness, so the clinician
    found in the roster is refused, never logged in on a still picture."""
    import os
    import subprocess
    import sys

    from kiosk.config import load_config
    from scripts.kiosk_cli import _workstation_window

    config = tmp_path / "workstation.toml"
    config.write_text(f'mode = "production"\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[terminal]\nrole = "workstation"\n[gateway]\nurl = "https://127.0.0.1:9/fsi"\n'
                      f'[payment]\nprovider = "none"\n[camera]\nsource = "device:0"\n', encoding="utf-8")
    cfg = load_config(config, {})
    from scripts.registration import keep_site_evidence

    keep_site_evidence(cfg, "REG0000TEST1")  # what register keeps once the office approved this desk
    services = build_clinician_services(cfg, camera=ReplayCamera([demo_portrait()], fps=15))
    try:
        enroll_demo_clinician(services)  # enrolled into the production roster file of this config
        assert (tmp_path / "data" / "staff.roster").exists() and (tmp_path / "data-keys" / "staff.key").exists()
        services.base.camera.start()
        window, tasks = _workstation_window(services, demo=False)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        pick_demo_clinician(qtbot, window)  # found in the production roster
        qtbot.waitUntil(lambda: window.controller.machine.state is cl.LoginState.REFUSED, timeout=30000)
        assert window.controller.machine.reason == "liveness_failed"
        window.close()
        tasks.shutdown()
    finally:
        services.close()
    # the command itself: with no camera on this machine, production refuses to start and says what to check
    kiosk = Path(sys.executable).with_name("kiosk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")} | {"QT_QPA_PLATFORM": "offscreen"}
    if Path("/dev/video0").exists():
        pytest.skip("this machine has a camera: the no-camera refusal cannot be shown")
    result = subprocess.run([str(kiosk), "--config", str(config), "run"], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 12 and "camera.source" in result.stderr, result.stderr[-2000:]


def test_the_window_is_the_only_native_surface_the_workstation_makes(qtbot, workstation: ClinicianServices) -> None:
    """As the kiosk's (tests/test_ui.py): no widget of the login window is a top-level window for a moment."""
    from tests.native_surfaces import strays, surfaces_made

    with surfaces_made() as log:
        window = make_window(qtbot, workstation)
        qtbot.waitExposed(window)
    assert log.created and strays(log, window) == []
