"""The services menu and the information errands' screens in Chinese, English and elderly mode, through the
real demo window: a settlement first (so "my settlements" and the year's totals have something to show),
then each errand from the menu (the invoice of that settlement printed through the demo's private CUPS; a
registration with a doctor, its fee paid, the queue number shown). Saved to docs/screenshots/ and checked for clipped text and a window that
outgrows 1280x800."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kiosk.config import KioskConfig
from kiosk.visit import BackToServices, Cancel, Finish, State

from scripts.autopilot import Autopilot
from scripts.demo import enroll_demo_face, start_demo

from test_screens_fit import SHOTS, fit_problems, demo_window

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("language", "elderly", "prefix"), [
    ("zh_CN", False, "zh"), ("en", False, "en"), ("zh_CN", True, "zh-elderly"), ("en", True, "en-elderly")])
def test_errand_screens_fit_and_are_saved(qtbot, tmp_path: Path, language: str, elderly: bool, prefix: str) -> None:
    rig = start_demo(KioskConfig(), tmp_path / "demo", holder="chronic")
    try:
        enroll_demo_face(rig.sandbox, rig.services, holder_key="chronic")
        window, controller, tasks = demo_window(qtbot, rig, language, elderly)
        rig.services.start()
        window.resize(1280, 800)
        window.show()
        problems: dict[str, list[str]] = {}

        def check(state: State) -> None:
            found = fit_problems(window)
            if found:
                problems[state.value] = found

        controller.state_changed.connect(check)
        shots = tmp_path / "shots"
        for errand in ("pay_fees", "records", "balance", "filings", "invoice", "registration"):
            result: dict = {}
            pilot = Autopilot(window, rig.insert_card, on_finished=result.update, screenshot_dir=shots / errand,
                              press_delay_ms=50, errand=errand, choose_record=0)
            pilot.start()
            qtbot.waitUntil(lambda r=result: bool(r), timeout=60000)
            check(controller.state)
            assert result.get("outcome") == {"pay_fees": "settled", "invoice": "printed",
                                             "registration": "registered"}.get(errand, "shown"), result
            if errand == "records":
                assert result["counts"] == {"rows": 1}  # the settlement just made
                controller.post(BackToServices())  # back to the menu: the tiles again
                qtbot.waitUntil(lambda: controller.state == State.SERVICES, timeout=5000)
            controller.post(Cancel() if controller.state == State.SERVICES else Finish())
            qtbot.waitUntil(lambda: controller.state == State.IDLE, timeout=5000)
            rig.remove_card()
        assert problems == {}, problems
        for old in SHOTS.glob(f"{prefix}-errand-*.png"):
            old.unlink()
        wanted = {("records", "services"): "1-menu", ("records", "errand"): "2-records",
                  ("balance", "errand"): "3-balance", ("filings", "errand"): "4-filings",
                  ("invoice", "errand"): "5-invoices", ("invoice", "invoice-printed"): "6-invoice-printed",
                  ("registration", "reg_department"): "7-departments", ("registration", "reg_doctor"): "8-doctors",
                  ("registration", "receipt-registered"): "9-registered"}
        for (errand, state), name in wanted.items():
            shot = next((shots / errand).glob(f"[0-9][0-9]-{state}.png"))
            shutil.copy(shot, SHOTS / f"{prefix}-errand-{name}.png")
        window.close()
        tasks.shutdown()
    finally:
        rig.close()
