"""Face swipe's screens in Chinese, English and elderly mode, driven through the real demo window: the ID
keypad, the face screen, the voucher password's PIN pad, the family account and a typing slip on the keypad.
Saved to docs/screenshots/ and checked for clipped text and a window that outgrows 1280x800; the PIN pad's
digits differ between two showings."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from kiosk.config import KioskConfig, UiConfig
from kiosk.visit import ConsentGiven, FaceSwipeChosen, Finish, IdNumberEntered, State, VisitMachine

from drivers.card.virtual_card import load_holders
from drivers.gateway.sandbox.voucher_platform import SANDBOX_PASSWORD
from scripts.autopilot import Autopilot
from scripts.demo import DEMO_HOLDER, start_demo
from ui.bridge import TaskRunner
from ui.controller import LANES, VisitController
from ui.window import KioskWindow

from test_screens_fit import SHOTS, fit_problems

pytestmark = pytest.mark.slow
NO_PHOTO_ID = load_holders()["low_income"].citizen_id  # nothing enrolled for her: the family account


@pytest.mark.parametrize(("language", "elderly", "prefix"), [
    ("zh_CN", False, "zh"), ("en", False, "en"), ("zh_CN", True, "zh-elderly"), ("en", True, "en-elderly")])
def test_face_swipe_screens_fit_and_are_saved(qtbot, tmp_path: Path, language: str, elderly: bool,
                                              prefix: str) -> None:
    rig = start_demo(KioskConfig(), tmp_path / "demo")
    tasks = TaskRunner(LANES)
    try:
        machine = VisitMachine(password_limit=Decimal("1.00"))  # every bill asks for the voucher password
        controller = VisitController(machine, rig.services.effects, tasks, rig.services.card_reader)
        window = KioskWindow(controller, UiConfig(language=language, elderly_mode=elderly, fullscreen=False),
                             camera=rig.services.camera, manual_window="门诊一楼 3 号人工窗口",
                             status_probe=rig.services.status, demo=True, on_demo_insert=rig.insert_card,
                             on_demo_scan=rig.issue_voucher, face_swipe=True)
        qtbot.addWidget(window)
        rig.services.start()
        window.resize(1280, 800)
        window.show()
        problems: dict[str, list[str]] = {}
        shuffles: list[list[str]] = []

        def check(state: State) -> None:
            found = fit_problems(window)
            if found:
                problems[state.value] = found
            if state == State.VOUCHER_PASSWORD and (not shuffles or shuffles[-1] != window.pin_pad.order):
                shuffles.append(list(window.pin_pad.order))

        controller.state_changed.connect(check)
        shots = tmp_path / "shots"
        for who, id_number in (("self", rig.holder_id()), ("family", NO_PHOTO_ID)):
            result: dict = {}
            pilot = Autopilot(window, rig.insert_card, on_finished=result.update, screenshot_dir=shots / who,
                              press_delay_ms=50, identify="face", id_number=id_number, pin=SANDBOX_PASSWORD,
                              show_voucher=lambda: rig.issue_voucher(DEMO_HOLDER))
            pilot.start()
            qtbot.waitUntil(lambda r=result: bool(r), timeout=60000)
            check(controller.state)
            assert result.get("outcome") == "settled" and result["identified_by"] == "face", result
            assert ("authorised_by" in result) == (who == "family"), result
            controller.post(Finish())
            qtbot.waitUntil(lambda: controller.state == State.IDLE, timeout=5000)
        for event in (FaceSwipeChosen(), ConsentGiven(), IdNumberEntered(id_no=NO_PHOTO_ID[:-1] + "0")):
            controller.post(event)  # a typing slip: the keypad says what looks wrong
        assert controller.state == State.ENTER_ID and machine.ctx.extra["id_problem"] == "checksum"
        check(controller.state)
        window.grab().save(str(shots / "id-problem.png"))
        assert problems == {}, problems
        assert len(shuffles) == 2 and shuffles[0] != shuffles[1], shuffles  # one per showing, never the same
        for old in SHOTS.glob(f"{prefix}-swipe-*.png"):
            old.unlink()
        wanted = {("self", "[0-9][0-9]-consent.png"): "1-consent", ("self", "[0-9][0-9]-enter_id-typed.png"): "2-id-keypad",
                  ("self", "[0-9][0-9]-face_verify.png"): "3-face", ("self", "[0-9][0-9]-voucher_password-typed.png"): "4-pin-pad",
                  ("family", "[0-9][0-9]-family_account.png"): "5-family-account", ("self", "../id-problem.png"): "6-id-problem"}
        for (who, pattern), name in wanted.items():
            shot = next((shots / who).glob(pattern)) if not pattern.startswith("..") else shots / "id-problem.png"
            shutil.copy(shot, SHOTS / f"{prefix}-swipe-{name}.png")
        window.close()
    finally:
        tasks.shutdown()
        rig.close()
