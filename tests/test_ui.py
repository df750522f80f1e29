"""The window's screens, exercised with pytest-qt offscreen against the demo rig (real parts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from kiosk.config import KioskConfig, UiConfig
from kiosk.visit import Cancel, State, VisitMachine

from drivers.card.virtual_card import Fault
from scripts.demo import DemoRig, start_demo
from ui.app import cjk_family, when_on_screen
from ui.bridge import TaskRunner
from ui.controller import LANES, VisitController
from ui.window import KioskWindow

pytestmark = pytest.mark.slow


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[DemoRig]:
    r = start_demo(KioskConfig(), tmp_path / "demo")
    yield r
    r.close()


def make_window(qtbot, rig: DemoRig, ui: UiConfig | None = None) -> KioskWindow:
    services = rig.services
    tasks = TaskRunner(LANES)
    controller = VisitController(VisitMachine(), services.effects, tasks, services.card_reader)
    window = KioskWindow(controller, ui or UiConfig(fullscreen=False), camera=services.camera,
                         manual_window="一楼 3 号窗口", status_probe=services.status, demo=True,
                         on_demo_insert=rig.insert_card, on_demo_scan=rig.issue_voucher, on_demo_pay=rig.pay_on_phone)
    qtbot.addWidget(window)
    services.start()
    window.resize(1280, 800)
    window.show()
    return window


def wait_for(qtbot, window: KioskWindow, state: State, timeout_ms: int = 15000) -> None:
    qtbot.waitUntil(lambda: window.controller.state == state, timeout=timeout_ms)


def click(qtbot, window: KioskWindow, action: str) -> None:
    qtbot.mouseClick(window.current.button(action), Qt.MouseButton.LeftButton)


def wait_for_order(qtbot, window: KioskWindow) -> None:
    """The payment screen is up with its order and QR code."""
    wait_for(qtbot, window, State.PAYING)
    qtbot.waitUntil(lambda: window.controller.machine.ctx.payment_order is not None, timeout=10000)
    qtbot.waitUntil(lambda: not window.payment.qr.pixmap().isNull(), timeout=5000)


def test_chinese_font_is_installed(qapp) -> None:
    assert cjk_family() is not None, "install fonts-noto-cjk (scripts/setup.sh does)"


def test_whole_visit_by_touch_with_language_switch(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    assert window.current.title.text() == "请插入社保卡"
    click(qtbot, window, "demo_insert")
    wait_for(qtbot, window, State.CONSENT)
    assert "刷脸" in window.current.title.text()
    qtbot.mouseClick(window.lang_button, Qt.MouseButton.LeftButton)  # English, mid-visit
    assert window.current.title.text() == "Face check"
    click(qtbot, window, "agree")
    wait_for(qtbot, window, State.SERVICES)
    assert window.current.title.text() == "Hello, 王秀英"
    click(qtbot, window, "pay")
    wait_for(qtbot, window, State.FEE_REVIEW)
    assert window.current.table.rowCount() == 3
    assert window.current.table.horizontalHeaderItem(2).text() == "Amount (¥)"
    click(qtbot, window, "confirm_fees")
    wait_for(qtbot, window, State.CONFIRM)
    assert "Total: ¥97.10" in window.current.body.text()
    qtbot.mouseClick(window.lang_button, Qt.MouseButton.LeftButton)  # back to Chinese
    assert "费用总额：97.10 元" in window.current.body.text()
    click(qtbot, window, "pay")
    wait_for_order(qtbot, window)
    assert window.payment.title.text() == "请支付自付部分 17.13 元" and rig.sandbox.settlements() == []
    window.setFocus()
    qtbot.keyClicks(window, "134567890123454321")  # a payment code shown to the wedge scanner
    qtbot.keyClick(window, Qt.Key.Key_Return)
    wait_for(qtbot, window, State.RECEIPT)
    qtbot.waitUntil(lambda: "receipt" in window.controller.machine.ctx.extra, timeout=5000)
    assert window.current.title.text() == "结算成功"
    assert "（已通过微信支付付款）" in window.current.body.text()
    assert len(rig.sandbox.settlements()) == 1
    click(qtbot, window, "done")
    wait_for(qtbot, window, State.IDLE)
    assert window.controller.machine.ctx.person is None


def test_idle_countdown_resets_the_visit(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig, UiConfig(fullscreen=False, idle_timeout_s=0.3, countdown_s=2, elderly_mode=True))
    rig.insert_card()
    wait_for(qtbot, window, State.CONSENT)
    qtbot.waitUntil(window.countdown_label.isVisible, timeout=3000)
    assert "秒后返回首页" in window.countdown_label.text()
    panel, area = window.countdown_panel.geometry(), window.centralWidget().rect()
    assert abs(panel.center().x() - area.center().x()) <= 2 and abs(panel.center().y() - area.center().y()) <= 2
    assert panel.width() >= area.width() // 2  # a large prompt in the middle, not a line in the corner
    assert window.more_time_button.height() >= 60 and window.countdown_label.font().pointSizeF() >= 18
    from tests.test_screens_fit import SHOTS, clipped

    assert clipped(window.countdown_panel) == []
    window.grab().save(str(SHOTS / "zh-elderly-14-idle-countdown.png"))
    qtbot.mouseClick(window.more_time_button, Qt.MouseButton.LeftButton)  # "I need more time"
    assert not window.countdown_label.isVisible() and window.controller.state == State.CONSENT
    wait_for(qtbot, window, State.IDLE, timeout_ms=6000)
    assert window.controller.machine.ctx.person is None


def test_call_staff_and_elderly_mode(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    normal = window.current.button("demo_insert").sizeHint().height()
    qtbot.mouseClick(window.elderly_button, Qt.MouseButton.LeftButton)
    assert window.current.button("demo_insert").sizeHint().height() > normal >= 60
    qtbot.mouseClick(window.staff_button, Qt.MouseButton.LeftButton)
    # in the title bar where the patient looks, not in the status bar, with a way to take the call back
    assert window.app_title.text() == "已呼叫工作人员，请稍候" and window.staff_button.text() == "取消呼叫"
    qtbot.mouseClick(window.staff_button, Qt.MouseButton.LeftButton)
    assert window.app_title.text() == "医保自助服务" and window.staff_button.text() == "呼叫工作人员"


def test_card_errors_say_what_to_do(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    rig.insert_card("expired")
    wait_for(qtbot, window, State.ERROR)
    assert "社保卡已过有效期" in window.current.body.text() and "一楼 3 号窗口" in window.current.body.text()
    assert window.current.code.text() == "错误代码 E105"
    click(qtbot, window, "back")
    wait_for(qtbot, window, State.IDLE)
    rig.insert_card(fault=Fault.NOT_SSC)
    wait_for(qtbot, window, State.ERROR)
    assert "这不是社保卡" in window.current.body.text()
    click(qtbot, window, "back")
    wait_for(qtbot, window, State.IDLE)
    rig.insert_card(fault=Fault.MUTE)
    wait_for(qtbot, window, State.ERROR)
    assert "芯片朝上" in window.current.body.text() and window.current.code.text() == "错误代码 E102"
    # a read another insert may cure: one instruction first ("try again"), the alternatives after it
    assert window.current.title.text() == "请再试一次"
    first, second = window.current.body.text().split("\n")
    assert "重新插卡" in first and "人工窗口" not in first and "医保码" in second and "人工窗口" in second


def test_choosing_the_counter_is_answered_kindly_and_says_where(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    rig.insert_card()
    wait_for(qtbot, window, State.CONSENT)
    click(qtbot, window, "decline")
    wait_for(qtbot, window, State.ERROR)
    assert window.current.title.text() == "人工窗口为您办理" and "一楼 3 号窗口" in window.current.body.text()
    assert window.current.code.text() == "" and "无法" not in window.current.title.text()


def test_cancel_on_the_confirm_screen_asks_once_and_reminds_of_the_card(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    rig.insert_card()
    for state, action in ((State.CONSENT, "agree"), (State.SERVICES, "pay"), (State.FEE_REVIEW, "confirm_fees")):
        wait_for(qtbot, window, state)
        click(qtbot, window, action)
    wait_for(qtbot, window, State.CONFIRM)
    mdtrt_id = window.controller.machine.ctx.pre_settlement.mdtrt_id
    click(qtbot, window, "cancel")
    assert window.controller.state == State.CONFIRM  # asked, not cancelled
    assert "社保卡" in window.current.cancel_prompt.text() and window.current.button("cancel").text() == "确定取消"
    click(qtbot, window, "cancel")
    wait_for(qtbot, window, State.IDLE)
    qtbot.waitUntil(lambda: rig.sandbox.registration_cancelled(mdtrt_id), timeout=10000)
    assert window.screens[State.CONFIRM].cancel_asked is False  # the next patient is asked again


def test_no_fees_means_no_confirm_button(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    machine = window.controller.machine
    machine.state = State.FEE_REVIEW
    window.render()
    confirm = window.current.button("confirm_fees")
    assert window.current.body.text() == "您没有待缴费用" and not confirm.isVisibleTo(window)


def test_card_pulled_mid_visit_resets(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    rig.insert_card()
    wait_for(qtbot, window, State.CONSENT)
    rig.remove_card()
    wait_for(qtbot, window, State.IDLE)
    assert window.current.title.text() == "请插入社保卡"


def test_status_bar_shows_network_and_queue(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    qtbot.waitUntil(lambda: window.network_label.text() == "● 网络正常", timeout=8000)
    assert window.idle.title.text() == "请插入社保卡"
    window._on_status((False, 2, True, False))
    assert window.network_label.text() == "✕ 网络中断" and window.pending_label.text() == "待上传 2 笔"
    # nothing can be done without the insurance system: the headline says so, and where to go
    assert window.idle.title.text() == "本机暂停服务" and "一楼 3 号窗口" in window.idle.body.text()
    window._on_status((True, 0, False, False))  # pcscd down or reader unplugged: the voucher still works
    assert window.idle.title.text() == "读卡器暂不可用，请出示医保码" and "一楼 3 号窗口" in window.idle.body.text()
    assert window.idle.notice.text() == "读卡器暂时无法使用，请呼叫工作人员"
    window.tr_.set_language("en")
    assert window.idle.notice.text() == "The card reader is not working: please call staff"
    assert window.idle.title.text() == "Card reader unavailable: please show your insurance code"
    window._on_status((True, 0, True, False))  # back: the card is invited again
    assert window.idle.title.text() == "Please insert your social-security card" and window.idle.notice.text() == ""
    window._on_status((True, 0, True, True))  # the outbox file was corrupt and moved aside
    assert "tell the technician" in window.pending_label.text()


def test_screens_render_in_both_languages(qtbot, rig: DemoRig, tmp_path: Path) -> None:
    window = make_window(qtbot, rig)
    for language in ("zh_CN", "en"):
        window.tr_.set_language(language)
        for state, screen in window.screens.items():
            screen.render(window.controller.machine.ctx)
            assert screen.title.text() or state in (State.CONFIRM, State.RECEIPT, State.INTERRUPTED), (language, state)
            for button in screen.findChildren(type(window.lang_button)):
                assert button.text(), (language, state, button.property("action"))


def test_voucher_by_keyboard_wedge_and_by_the_demo_button(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    code = rig.issue_voucher()
    window.setFocus()
    qtbot.keyClicks(window, code)  # a wedge scanner types far faster than a person
    qtbot.keyClick(window, Qt.Key.Key_Return)
    wait_for(qtbot, window, State.CONSENT)
    assert window.controller.machine.ctx.document.cert_type.value == "01"
    window.controller.post(Cancel())
    wait_for(qtbot, window, State.IDLE)
    qtbot.mouseClick(window.idle.button("demo_scan"), Qt.MouseButton.LeftButton)
    wait_for(qtbot, window, State.CONSENT)


def test_a_refused_scan_says_what_to_show_instead(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    window.tr_.set_language("en")
    window.setFocus()
    qtbot.keyClicks(window, "https://example.com/pay")
    qtbot.keyClick(window, Qt.Key.Key_Return)
    # issue 35.8: no visit begins and nobody is sent to the counter: the idle screen says what to show instead
    qtbot.waitUntil(lambda: "web link" in window.idle.scan_hint.text(), timeout=5000)
    assert window.controller.machine.state is State.IDLE and window.idle.scan_hint.isVisible()
    window.scan_voucher(rig.issue_voucher())  # then the right code: the visit begins, the hint is gone
    wait_for(qtbot, window, State.CONSENT)
    assert window.controller.machine.ctx.extra.get("idle_hint") is None


def test_printer_preflight_warns_before_paying_and_a_failed_receipt_can_be_reprinted(qtbot, rig: DemoRig) -> None:
    window = make_window(qtbot, rig)
    printer = rig.services.printer
    printer.paper_out = True  # before the paid step: the patient is told, and may still pay
    rig.insert_card()
    wait_for(qtbot, window, State.CONSENT)
    for state, action in ((State.CONSENT, "agree"), (State.SERVICES, "pay"), (State.FEE_REVIEW, "confirm_fees")):
        wait_for(qtbot, window, state)
        click(qtbot, window, action)
    wait_for(qtbot, window, State.CONFIRM)
    assert window.current.notice.text() == window.tr_.tr("confirm.no_receipt")
    click(qtbot, window, "pay")
    wait_for_order(qtbot, window)
    click(qtbot, window, "demo_pay")
    wait_for(qtbot, window, State.RECEIPT)
    qtbot.waitUntil(lambda: bool(window.controller.machine.ctx.extra.get("print_error")), timeout=10000)
    window.render()
    reprint = window.current.button("reprint")
    assert reprint.isVisible() and reprint.text() == window.tr_.tr("receipt.reprint")
    printer.paper_out = False  # staff load paper
    qtbot.mouseClick(reprint, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(window.controller.machine.ctx.extra.get("receipt")), timeout=10000)
    assert Path(window.controller.machine.ctx.extra["receipt"]).exists() and not reprint.isVisible()


def test_a_task_after_shutdown_is_ignored_not_raised(qtbot) -> None:
    """A window timer that fires while the kiosk closes must not raise into the Qt event loop."""
    tasks = TaskRunner(LANES)
    done: list[object] = []
    tasks.submit(LANES[0], lambda: 7, done.append)
    qtbot.waitUntil(lambda: done == [7], timeout=5000)
    tasks.shutdown()
    tasks.submit(LANES[0], lambda: 8, done.append)  # would raise RuntimeError from the executor before
    assert tasks.busy == 0 and done == [7]


def test_ready_waits_for_the_windows_first_expose(qtbot) -> None:
    """systemd's READY=1 is sent through when_on_screen: a native window not yet exposed calls only after
    its first expose; an exposed one, or one never shown, at once."""
    from PySide6.QtWidgets import QWidget

    calls: list[str] = []
    hidden = QWidget()
    qtbot.addWidget(hidden)
    when_on_screen(hidden, lambda: calls.append("hidden"))
    assert calls == ["hidden"]  # no native window: nothing to wait for

    window = QWidget()
    qtbot.addWidget(window)
    window.winId()  # the native window exists, not mapped
    assert window.windowHandle() is not None and not window.windowHandle().isExposed()
    when_on_screen(window, lambda: calls.append("first frame"))
    assert calls == ["hidden"]
    window.show()
    qtbot.waitUntil(lambda: calls == ["hidden", "first frame"], timeout=5000)
    window.hide()
    window.show()  # a second expose calls nothing more
    qtbot.waitExposed(window)
    when_on_screen(window, lambda: calls.append("exposed"))
    assert calls == ["hidden", "first frame", "exposed"]


def test_the_window_is_the_only_native_surface_the_kiosk_makes(qtbot, rig: DemoRig) -> None:
    """Issue 34: under cage on a busy machine the kiosk's output stayed black. The demo label was made
    visible before it had a parent, so for a moment it was a top-level window of its own: a second
    surface, created and destroyed just before the kiosk's. Built and shown, the kiosk makes one."""
    from tests.native_surfaces import strays, surfaces_made

    with surfaces_made() as log:
        window = make_window(qtbot, rig)
        qtbot.waitExposed(window)
    assert log.created and strays(log, window) == []


def test_without_a_payment_provider_the_split_screen_says_the_share_is_paid_at_the_counter(qtbot) -> None:
    """Issue 35.2: with payment.provider = none the patient went card, face, fees, split, tapped 确认支付 and
    only then heard "go to the counter". The split screen says it before the last tap, offers no pay button,
    and its one button goes without the "are you sure" question."""
    import dataclasses
    from decimal import Decimal

    from kiosk.domain import PreSettlement, SettlementAmounts, VisitContext
    from ui.i18n import Translator
    from ui.screens import ConfirmScreen

    amounts = SettlementAmounts(medfee_sumamt=Decimal("100.00"), fund_pay_sumamt=Decimal("70.00"),
                                hifp_pay=Decimal("70.00"), acct_pay=Decimal("0.00"), psn_cash_pay=Decimal("30.00"),
                                balc=Decimal("0.00"))
    ctx = VisitContext(pre_settlement=PreSettlement(mdtrt_id="M1", chrg_bchno="C1", amounts=amounts))
    for at_counter in (True, False):
        screen = ConfirmScreen(Translator("zh_CN"), "门诊一楼 3 号窗口", own_share_at_counter=at_counter)
        screen.add_button("cancel", "common.cancel", lambda: None, secondary=True)
        screen.add_button("pay", "confirm.pay", lambda: None)
        qtbot.addWidget(screen)
        screen.render(ctx)
        told = "个人现金 30.00 元：请到门诊一楼 3 号窗口结算缴费" in screen.notice.text()
        assert told == at_counter and screen.button("pay").isVisibleTo(screen) == (not at_counter), screen.notice.text()
        assert (screen.button("cancel").text() == "知道了，去窗口缴费") == at_counter
    nothing_own = VisitContext(pre_settlement=PreSettlement(mdtrt_id="M1", chrg_bchno="C1", amounts=dataclasses.replace(
        amounts, psn_cash_pay=Decimal("0.00"), fund_pay_sumamt=Decimal("100.00"), hifp_pay=Decimal("100.00"))))
    screen.own_share_at_counter = True
    screen.render(nothing_own)  # nothing to pay: settles at the kiosk as before
    assert screen.button("pay").isVisibleTo(screen) and "结算缴费" not in screen.notice.text()


@pytest.mark.parametrize(("paper", "cert", "expected"), [
    (True, "03", "请取走凭条和社保卡"), (True, "01", "请取走凭条"),
    (False, "03", "请取回社保卡。本机不打印凭条"), (False, "01", "本机不打印凭条，需要凭条请到一楼 3 号窗口"),
])
def test_the_receipt_screen_names_only_what_there_is_to_take(qtbot, paper: bool, cert: str, expected: str) -> None:
    """Issue 35.3 and 35.15: a slip is mentioned only when one is printed on paper (not by a file printer), the
    card only when one was inserted (not after a voucher or a face swipe)."""
    from decimal import Decimal

    from kiosk.domain import CertType, IdentityDocument, Settlement, SettlementAmounts, VisitContext
    from ui.i18n import Translator
    from ui.outcome_screens import ReceiptScreen

    amounts = SettlementAmounts(medfee_sumamt=Decimal("100.00"), fund_pay_sumamt=Decimal("70.00"),
                                hifp_pay=Decimal("70.00"), acct_pay=Decimal("0.00"), psn_cash_pay=Decimal("30.00"),
                                balc=Decimal("12.00"))
    ctx = VisitContext(document=IdentityDocument(CertType(cert), "X"),
                       settlement=Settlement(setl_id="S1", mdtrt_id="M1", msgid="H1", setl_time="2026-12-08 09:00:00",
                                             amounts=amounts))
    screen = ReceiptScreen(Translator("zh_CN"), "一楼 3 号窗口", slips_on_paper=paper)
    qtbot.addWidget(screen)
    screen.render(ctx)
    body = screen.body.text()
    assert expected in body and ("取走凭条" in body) == paper, body
