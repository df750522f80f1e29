"""Every screen of a visit, rendered in Chinese, English and elderly mode: saved to docs/screenshots/ and
checked for clipped or overflowing text (each label's and button's size hint against its geometry)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QWidget

from kiosk.config import KioskConfig, UiConfig
from kiosk.visit import Finish, State, VisitMachine

from drivers.card.virtual_card import Fault
from scripts.autopilot import Autopilot
from scripts.demo import DemoRig, start_demo
from ui.bridge import TaskRunner
from ui.controller import LANES, VisitController
from ui.window import KioskWindow

pytestmark = pytest.mark.slow
from tests.screenshots import SHOTS  # noqa: E402


def clipped(root: QWidget) -> list[str]:
    """Visible labels and buttons whose text does not fit the space they were given."""
    problems = []
    for widget in root.findChildren(QWidget):
        if not widget.isVisible() or widget.width() == 0:
            continue
        if isinstance(widget, QPushButton) and widget.text():
            hint = widget.sizeHint()
            if hint.width() > widget.width() + 1 or hint.height() > widget.height() + 1:
                problems.append(f"button {widget.text()!r}: needs {hint.width()}x{hint.height()}, "
                                f"has {widget.width()}x{widget.height()}")
        elif isinstance(widget, QLabel) and widget.text() and widget.pixmap().isNull():
            if widget.wordWrap():
                needed = widget.heightForWidth(widget.width())
                if needed > widget.height() + 1:
                    problems.append(f"label {widget.text()[:30]!r}: needs {needed} px high, has {widget.height()}")
            elif widget.sizeHint().width() > widget.width() + 1:
                problems.append(f"label {widget.text()[:30]!r}: needs {widget.sizeHint().width()} px wide, "
                                f"has {widget.width()}")
    return problems


def settle_layout() -> None:
    """Deliver what is pending, then the layout requests that delivery posted (a status line's new text
    posts one that a single processEvents() may leave for the next turn of the loop)."""
    for _ in range(3):
        QApplication.processEvents()
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)


def fit_problems(window: QWidget) -> list[str]:
    """What does not fit once the layout has settled: clipped text, and a window grown past 1280x800.
    Measured twice with the layout settled in between, and only what is wrong both times is reported: text
    set a moment before the measurement is not yet laid out, a real clip stays."""
    def measure() -> list[str]:
        settle_layout()
        grown = window.height() > 800 or window.width() > 1280
        return clipped(window) + ([f"the window grew to {window.width()}x{window.height()} (screen 1280x800)"]
                                  if grown else [])
    first = measure()
    return [problem for problem in measure() if problem in first] if first else []


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[DemoRig]:
    r = start_demo(KioskConfig(), tmp_path / "demo")
    yield r
    r.close()


def demo_window(qtbot, rig: DemoRig, language: str, elderly: bool, *, voice: object = None
                ) -> tuple[KioskWindow, VisitController, TaskRunner]:
    tasks = TaskRunner(LANES)
    controller = VisitController(VisitMachine(), rig.services.effects, tasks, rig.services.card_reader)
    window = KioskWindow(controller, UiConfig(language=language, elderly_mode=elderly, fullscreen=False),
                         camera=rig.services.camera, manual_window="门诊一楼 3 号人工窗口",
                         status_probe=rig.services.status, demo=True, on_demo_insert=rig.insert_card,
                         on_demo_scan=rig.issue_voucher, voice=voice)
    qtbot.addWidget(window)
    return window, controller, tasks


@pytest.mark.parametrize(("language", "elderly", "prefix"), [
    ("zh_CN", False, "zh"), ("en", False, "en"), ("zh_CN", True, "zh-elderly"), ("en", True, "en-elderly")])
def test_every_screen_fits_and_is_saved(qtbot, rig: DemoRig, language: str, elderly: bool, prefix: str) -> None:
    window, controller, tasks = demo_window(qtbot, rig, language, elderly, voice=rig.services.voice)
    rig.services.start()
    smallest = window.minimumSizeHint()  # every page must fit the smallest kiosk screen we support
    assert smallest.width() <= 1280 and smallest.height() <= 800, (language, elderly, smallest.toTuple())
    window.resize(1280, 800)
    window.show()
    problems: dict[str, list[str]] = {}
    seen: list[str] = []

    def check(state: State) -> None:
        seen.append(state.value)
        found = fit_problems(window)
        if found:
            problems[state.value] = found

    controller.state_changed.connect(check)
    result: dict = {}
    for old in SHOTS.glob(f"{prefix}-[0-9][0-9]-*.png"):
        old.unlink()
    pilot = Autopilot(window, rig.insert_card, on_finished=result.update, screenshot_dir=SHOTS, press_delay_ms=50)
    pilot._shoot = _named(pilot._shoot, prefix)  # type: ignore[method-assign]
    pilot.start()
    qtbot.waitUntil(lambda: bool(result), timeout=60000)
    check(controller.state)
    window.controller.post(Finish())
    assert result.get("outcome") == "settled", result
    window.scan_voucher("https://example.com/not-a-voucher")  # the wrong code: the idle screen says what to show
    qtbot.waitUntil(lambda: window.idle.scan_hint.isVisible(), timeout=5000)
    settle_layout()
    window.grab().save(str(SHOTS / f"{prefix}-12-idle-wrong-code.png"))
    assert controller.state == State.IDLE and fit_problems(window) == [], fit_problems(window)
    rig.insert_card(fault=Fault.NOT_SSC)  # the error screen, with where to go
    qtbot.waitUntil(lambda: controller.state == State.ERROR, timeout=15000)
    settle_layout()
    window.grab().save(str(SHOTS / f"{prefix}-13-error.png"))
    assert fit_problems(window) == [], (fit_problems(window), problems)
    assert {"idle", "consent", "face_verify", "fee_review", "confirm", "paying", "receipt", "error"} <= set(seen)
    assert problems == {}, problems
    window.close()  # its timers stop before the workers they feed
    tasks.shutdown()


@pytest.mark.parametrize(("language", "elderly", "prefix"), [
    ("zh_CN", False, "zh"), ("en", False, "en"), ("zh_CN", True, "zh-elderly"), ("en", True, "en-elderly")])
def test_the_screens_of_patients_insured_elsewhere_fit_and_are_saved(qtbot, tmp_path: Path, language: str,
                                                                    elderly: bool, prefix: str) -> None:
    """Choosing among two insurance records (then the services screen naming the chosen one), the benefit
    refusal of a cross-province patient who has not filed, with the QR code to file by phone, and the split
    of a large bill among the pooled fund, critical-illness insurance and medical assistance, and the choice
    of a chronic-disease visit."""
    import shutil

    from scripts.demo import enroll_demo_face

    rig = start_demo(KioskConfig(), tmp_path / "demo", holder="two_records")
    try:
        for other in ("cross_province_unfiled", "low_income", "chronic"):
            enroll_demo_face(rig.sandbox, rig.services, holder_key=other)
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
        for holder, choose, expected in (("two_records", 1, "settled"), ("cross_province_unfiled", 0, "refused"),
                                         ("low_income", 0, "settled"), ("chronic", 0, "settled")):
            result: dict = {}
            pilot = Autopilot(window, lambda h=holder: rig.insert_card(h), on_finished=result.update,
                              screenshot_dir=shots / holder, press_delay_ms=50, choose_record=choose)
            pilot.start()
            qtbot.waitUntil(lambda r=result: bool(r), timeout=60000)
            check(controller.state)
            assert result.get("outcome") == expected, result
            controller.post(Finish())
            qtbot.waitUntil(lambda: controller.state == State.IDLE, timeout=5000)
        assert problems == {}, problems
        for old in SHOTS.glob(f"{prefix}-elsewhere-*.png"):
            old.unlink()
        wanted = {("two_records", "choose_insurance"): "1-choose-insurance", ("two_records", "services"): "2-services",
                  ("cross_province_unfiled", "error"): "3-not-filed", ("low_income", "confirm"): "4-fund-split",
                  ("low_income", "receipt"): "5-receipt", ("chronic", "choose_visit_type"): "6-chronic-or-not"}
        for (holder, state), name in wanted.items():
            shot = next((shots / holder).glob(f"[0-9][0-9]-{state}.png"))
            shutil.copy(shot, SHOTS / f"{prefix}-elsewhere-{name}.png")
        window.close()
        tasks.shutdown()
    finally:
        rig.close()


def _named(shoot, prefix: str):  # type: ignore[no-untyped-def]
    """The autopilot's screenshots, renamed <prefix>-NN-<state>.png."""
    def wrapped(state: State, **kwargs: str) -> None:
        before = set(SHOTS.glob("[0-9][0-9]-*.png"))
        shoot(state, **kwargs)
        for path in set(SHOTS.glob("[0-9][0-9]-*.png")) - before:
            path.rename(SHOTS / f"{prefix}-{path.name}")
    return wrapped


def test_the_clipping_check_catches_clipped_text(qtbot) -> None:
    from PySide6.QtWidgets import QVBoxLayout

    root = QWidget()
    layout = QVBoxLayout(root)
    button = QPushButton("请到人工窗口办理 Please go to the counter")
    label = QLabel("一段很长的说明文字 " * 20, wordWrap=True)
    layout.addWidget(button)
    layout.addWidget(label)
    qtbot.addWidget(root)
    root.resize(800, 400)
    root.show()
    settle_layout()
    assert clipped(root) == []
    button.setFixedWidth(60)
    label.setFixedHeight(20)
    settle_layout()
    found = clipped(root)
    assert any(p.startswith("button") for p in found) and any(p.startswith("label") for p in found)


@pytest.mark.parametrize(("language", "elderly", "prefix"), [
    ("zh_CN", False, "zh"), ("en", False, "en"), ("zh_CN", True, "zh-elderly"), ("en", True, "en-elderly")])
def test_the_longest_face_prompts_fit(qtbot, rig: DemoRig, language: str, elderly: bool, prefix: str) -> None:
    """'Lower your mask' and 'step out of the backlight' (said when no face is found) fit the face screen."""
    window, controller, tasks = demo_window(qtbot, rig, language, elderly)
    window.resize(1280, 800)
    window.show()
    window.face.render(controller.machine.ctx)
    window.stack.setCurrentWidget(window.face)
    for key in ("face.prompt.backlight", "face.prompt.uncover"):
        window.face.show_prompt(key)
        assert window.face.notice.text() == window.tr_.tr(key)
        assert fit_problems(window) == [], (key, fit_problems(window))
    window.grab().save(str(SHOTS / f"{prefix}-face-prompt-uncover.png"))
    window.close()  # its timers stop before the workers they feed
    tasks.shutdown()


def _payment_situations() -> list[tuple[str, State, dict]]:
    from decimal import Decimal

    from kiosk.domain import QueuedSettlement, RefundedPayment, Settlement, SettlementAmounts
    from kiosk.interrupted_visit import InterruptedVisit
    from kiosk.payment import Payment, PaymentOrder

    order = PaymentOrder("PH11010100001202612020930000001", Decimal("17.13"), "weixin://wxpay/bizpayurl?pr=x7Yq2c0930")
    paid = Payment("wechat", Decimal("17.13"), "4200202612024403117788990012", order.order_no)
    amounts = SettlementAmounts(*(Decimal(x) for x in ("97.10", "67.97", "67.97", "12.00", "17.13", "0.00")))
    settled = Settlement("ST2026120200000001", "MD2026120200000001", "m", "2026-12-02 09:31:02", amounts, paid)
    return [
        ("pay-1-scan-or-show", State.PAYING, {"payment_order": order}),
        ("pay-2-confirm-on-phone", State.PAYING, {"payment_order": order, "hint": "confirm_in_app"}),
        ("pay-3-code-declined", State.PAYING, {"payment_order": order, "hint": "declined.balance"}),
        ("pay-4-paid-settled", State.RECEIPT, {"settlement": settled}),
        ("pay-5-paid-queued", State.RECEIPT, {"queued": QueuedSettlement("Q20261202000042", Decimal("97.10"), paid)}),
        ("pay-6-refunded", State.ERROR, {"refunded": RefundedPayment(Decimal("17.13"), "settlement refused")}),
        ("pay-7-bank-card", State.PAYING, {"payment_order": PaymentOrder(order.order_no, order.amount)}),
        # after a restart: the visit the kiosk stopped in (kiosk/interrupted_visit.py)
        ("restart-1-settled", State.INTERRUPTED, {"interrupted": InterruptedVisit(
            "v1", "Q20261202000042", "settled", Decimal("97.10"), Decimal("67.97"), Decimal("17.13"))}),
        ("restart-2-settling", State.INTERRUPTED, {"interrupted": InterruptedVisit("v1", "Q20261202000042", "settling")}),
        ("restart-3-not-settled", State.INTERRUPTED,
         {"interrupted": InterruptedVisit("v1", "Q20261202000042", "not_settled")}),
    ]


@pytest.mark.parametrize(("language", "elderly", "prefix"), [
    ("zh_CN", False, "zh"), ("en", False, "en"), ("zh_CN", True, "zh-elderly"), ("en", True, "en-elderly")])
def test_payment_screens_fit_and_are_saved(qtbot, rig: DemoRig, language: str, elderly: bool, prefix: str) -> None:
    """The own share's screens (QR to scan with the amount large, confirm on the phone, a refused code,
    paid, paid but queued, refunded) in every language and mode."""
    window, controller, tasks = demo_window(qtbot, rig, language, elderly)
    window.resize(1280, 800)
    window.show()
    machine = controller.machine
    problems = {}
    for name, state, facts in _payment_situations():
        machine.ctx.wipe()
        machine.state = state
        for key, value in facts.items():
            if key == "hint":
                machine.ctx.extra["payment_hint"] = value
            else:
                setattr(machine.ctx, key, value)
        controller.state_changed.emit(state)  # as after an event: render, timers, speech
        window.payment.show_remaining(97)
        found = fit_problems(window)
        if found:
            problems[name] = found
        window.grab().save(str(SHOTS / f"{prefix}-{name}.png"))
        if name == "pay-1-scan-or-show":
            assert not window.payment.qr.pixmap().isNull() and "17.13" in window.payment.title.text()
        if name == "pay-6-refunded":
            assert "17.13" in window.current.body.text()
        if name == "restart-1-settled":
            assert "17.13" in window.current.body.text() and "Q20261202000042" in window.current.body.text()
        if name == "pay-1-scan-or-show":  # the tallest screen, with staff called
            window.call_staff()
            found = fit_problems(window)
            if found:
                problems["pay-1 with staff called"] = found
            window.grab().save(str(SHOTS / f"{prefix}-staff-called.png"))
            window.cancel_staff_call()
    machine.ctx.wipe()
    machine.state = State.IDLE
    controller.state_changed.emit(State.IDLE)
    for name, status in (("idle-no-reader", (True, 0, False, False)), ("idle-out-of-service", (False, 0, True, False))):
        window._on_status(status)  # what the status lane reports
        found = fit_problems(window)
        if found:
            problems[name] = found
        window.grab().save(str(SHOTS / f"{prefix}-{name}.png"))
    assert problems == {}, problems
    window.close()
    tasks.shutdown()


@pytest.mark.parametrize(("language", "elderly", "prefix"), [("zh_CN", True, "zh-elderly"), ("en", False, "en")])
def test_eight_fee_items_page_without_clipping_in_large_type(qtbot, language: str, elderly: bool, prefix: str) -> None:
    """Up to eight fee lines: whole rows a page at a time, large page buttons instead of a scrollbar, and
    in elderly mode text of at least 18 pt and touch targets of at least 60 px (PROTOCOL.md section 7)."""
    import dataclasses
    from decimal import Decimal

    from PySide6.QtGui import QFontInfo

    from kiosk.domain import FeeItem
    from kiosk.visit import VisitContext
    from ui.i18n import Translator
    from ui.screens import FeeReviewScreen
    from ui.theme import metrics, stylesheet

    fees = tuple(FeeItem(f"F{i}", name, "X", "Y", Decimal(1), Decimal(price), Decimal(price))
                 for i, (name, price) in enumerate([("血常规检查", "25.00"), ("门诊诊查费（副主任医师）", "30.00"),
                                                    ("阿莫西林胶囊 0.25g×24粒", "18.60"), ("胸部正位 X 线摄影", "85.00"),
                                                    ("肝功能十三项", "120.00"), ("静脉采血", "4.00"),
                                                    ("一次性注射器 5ml", "1.20"), ("心电图检查（十二导联）", "28.00")]))
    screen = FeeReviewScreen(Translator(language))
    screen.add_button("cancel", "common.cancel", lambda: None, secondary=True)
    screen.add_button("confirm_fees", "fees.confirm", lambda: None)
    screen.setStyleSheet(stylesheet(metrics(elderly)))
    screen.set_elderly(elderly)
    qtbot.addWidget(screen)
    screen.resize(1280, 690)  # the window's room for a screen under its top and bottom bars
    screen.show()
    screen.render(dataclasses.replace(VisitContext(), fees=fees))
    seen = []
    qtbot.waitUntil(lambda: clipped(screen) == [] and screen.table.rowCount() > 0, timeout=3000)
    pages = screen.pages  # settled once the layout has given the table its height
    for page in range(pages):
        qtbot.waitUntil(lambda: clipped(screen) == [], timeout=3000)
        viewport = screen.table.viewport().height()
        for row in range(screen.table.rowCount()):  # every row of the page whole inside the table
            assert screen.table.rowViewportPosition(row) + screen.table.rowHeight(row) <= viewport, (page, row)
            seen.append(screen.table.item(row, 0).text())
        assert not screen.table.verticalScrollBar().isVisible()
        screen.grab().save(str(SHOTS / f"{prefix}-fees-8-items-page-{page + 1}.png"))
        if page < pages - 1:
            assert screen.next_page.isEnabled()
            qtbot.mouseClick(screen.next_page, Qt.MouseButton.LeftButton)
    assert seen == [f.name for f in fees]  # every line once, in order, on whole pages
    assert not screen.next_page.isEnabled() and screen.previous_page.isEnabled()
    if elderly:
        assert screen.rows_per_page >= 3, screen.rows_per_page  # not a page turn per line
        for widget in (screen.table, screen.body):
            assert QFontInfo(widget.font()).pointSizeF() >= 18, widget
        for button in (screen.next_page, screen.previous_page, screen.button("confirm_fees")):
            assert button.height() >= 60, (button.text(), button.height())


@pytest.mark.parametrize(("language", "elderly", "prefix"), [
    ("zh_CN", False, "zh"), ("en", False, "en"), ("zh_CN", True, "zh-elderly"), ("en", True, "en-elderly")])
def test_the_interrupted_visit_screens_fit_and_are_saved(qtbot, rig: DemoRig, language: str, elderly: bool,
                                                         prefix: str) -> None:
    """After a crash mid-settlement the first screen is that visit's outcome: being settled (do not pay
    again), settled with its amounts, or not settled (any payment returned)."""
    from kiosk.interrupted_visit import interrupted_visit
    from kiosk.visit import InterruptedVisitFound

    window, controller, tasks = demo_window(qtbot, rig, language, elderly)
    window.resize(1280, 800)
    window.show()
    result = {"setlinfo": {"medfee_sumamt": "1286.40", "fund_pay_sumamt": "1021.92", "psn_cash_pay": "264.48"}}
    for outcome, state, answer in (("settling", "ambiguous", None), ("settled", "done", result),
                                   ("not_settled", "failed", None)):
        controller.post(InterruptedVisitFound(visit=interrupted_visit("v20261203100000-1", "Q20261203000042",
                                                                      state, answer)))
        assert controller.state == State.INTERRUPTED and window.current.title.text(), outcome
        settle_layout()
        window.grab().save(str(SHOTS / f"{prefix}-interrupted-{outcome}.png"))
        assert fit_problems(window) == [], (outcome, fit_problems(window))
        controller.post(Finish())
        assert controller.state == State.IDLE
    window.close()
    tasks.shutdown()
