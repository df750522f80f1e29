"""The patient's own share, paid before 2207: the pure machine driving the real parts (the sandbox's
gateway and payment platform over HTTP with signed messages, the SQLite outbox), built by the
composition root. The provider's ledger is read to check what was charged and refunded."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest

from kiosk import visit as v
from kiosk.errors import PaymentDeclined, PaymentUnknown

from drivers.card.virtual_card import VirtualSocialSecurityCard, load_holders
from drivers.gateway.sandbox.server import SandboxGateway
from drivers.payment.platform_client import PlatformPaymentGateway
from drivers.payment.signing import signed
from scripts.composition import Services

HOLDERS = load_holders()
WECHAT_CODE = "134567890123454321"  # 18 digits, 10-15: a WeChat Pay payment code


class Rig:
    """Runs effects synchronously; payment waits are kept aside and run one at a time on request."""

    def __init__(self, services: Services, sandbox: SandboxGateway) -> None:
        self.services, self.sandbox, self.m = services, sandbox, v.VisitMachine()
        self.waits: list[v.AwaitPayment] = []

    def pump(self, event: v.Event) -> None:
        queue = [event]
        while queue:
            for effect in self.m.handle(queue.pop(0)):
                if isinstance(effect, v.AwaitPayment):
                    self.waits.append(effect)
                    continue
                result = self.services.effects.run(effect)
                if result is not None:
                    queue.append(result)

    def wait(self) -> None:
        """One slice of the payment screen's waiting."""
        effect = self.waits.pop(0)
        self.pump(self.services.effects.run(effect))

    def to_payment(self, holder: str = "demo") -> None:
        self.services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS[holder]))
        for event in (v.CardInserted(), v.ConsentGiven(), v.PayFeesChosen(), v.FeesConfirmed(),
                      v.SettlementConfirmed()):
            self.pump(event)
        assert self.m.state == v.State.PAYING, (self.m.state, self.m.ctx.error_message)
        assert self.m.ctx.payment_order is not None

    @property
    def order_no(self) -> str:
        assert self.m.ctx.payment_order is not None
        return self.m.ctx.payment_order.order_no

    def order(self) -> dict[str, object]:
        return next(o for o in self.sandbox.payments.orders() if o["order_no"] == self.order_no)

    def item_state(self) -> str:
        return next(i["state"] for i in self.services.outbox.items() if i["reference"] == self.m.ctx.payment_reference)


@pytest.fixture
def rig(services: Services, sandbox: SandboxGateway) -> Rig:
    return Rig(services, sandbox)


def _active_settlements(sandbox: SandboxGateway) -> list[dict[str, object]]:
    return [s for s in sandbox.settlements() if not s["refunded"] and not s["reversed"]]


@pytest.mark.slow
def test_qr_paid_on_the_phone_then_settled_with_the_paid_amount(rig: Rig) -> None:
    rig.to_payment()
    due = rig.m.ctx.pre_settlement.amounts.psn_cash_pay
    assert due > 0 and rig.m.ctx.payment_order.amount == due
    assert rig.m.ctx.payment_order.qr_url.startswith("weixin://")
    assert _active_settlements(rig.sandbox) == []  # nothing settled before the money
    rig.wait()  # nobody has paid yet: the screen keeps waiting
    assert rig.m.state == v.State.PAYING and len(rig.waits) == 1
    rig.sandbox.payments.scan(rig.order_no, "alipay")
    rig.wait()
    assert rig.m.state == v.State.RECEIPT, (rig.m.state, rig.m.ctx.error_message)
    settlement = rig.m.ctx.settlement
    assert settlement is not None and settlement.payment is not None
    assert settlement.payment.method == "alipay" and settlement.payment.amount == due
    assert settlement.amounts.psn_cash_pay == settlement.payment.amount
    [row] = _active_settlements(rig.sandbox)
    assert Decimal(row["psn_cash_pay"]) == due
    order = rig.order()
    assert order["state"] == "SUCCESS" and order["refunds"] == []
    receipt = Path(rig.m.ctx.extra["receipt"]).read_text(encoding="utf-8")
    trade_no = str(order["trade_no"])
    assert "支付宝 Alipay" in receipt and trade_no[-4:] in receipt and trade_no not in receipt
    assert rig.item_state() == "done"


@pytest.mark.slow
def test_payment_code_pays_on_the_payment_screen_and_is_refused_as_a_voucher_on_idle(rig: Rig) -> None:
    idle = v.VisitMachine()
    assert idle.handle(v.VoucherScanned(payload=WECHAT_CODE)) == []  # no visit begins (issue 35.8) ...
    assert idle.state == v.State.IDLE and idle.ctx.extra["idle_hint"] == "voucher.payment_code"  # ... it says why

    rig.to_payment()
    rig.pump(v.VoucherScanned(payload="EC-not-a-payment-code-1234567890"))
    assert rig.m.state == v.State.PAYING and rig.m.ctx.extra["payment_hint"] == "not_payment_code"
    rig.pump(v.VoucherScanned(payload=WECHAT_CODE + "\r"))
    assert rig.m.state == v.State.RECEIPT, (rig.m.state, rig.m.ctx.error_message)
    assert rig.m.ctx.settlement.payment.method == "wechat"
    assert len(_active_settlements(rig.sandbox)) == 1 and rig.order()["state"] == "SUCCESS"


@pytest.mark.slow
def test_a_declined_code_keeps_the_payment_screen_and_says_why(rig: Rig) -> None:
    rig.to_payment()
    rig.pump(v.VoucherScanned(payload="134567890123450000"))  # the sandbox's "balance not enough"
    assert rig.m.state == v.State.PAYING and rig.m.ctx.extra["payment_hint"] == "declined.balance"
    rig.pump(v.VoucherScanned(payload=WECHAT_CODE))
    assert rig.m.state == v.State.RECEIPT


@pytest.mark.slow
def test_settlement_refused_after_payment_is_refunded_once(rig: Rig) -> None:
    rig.to_payment()
    from drivers.gateway.sandbox.faults import Fault

    rig.sandbox.faults.push(Fault("business", "2207"))
    rig.pump(v.VoucherScanned(payload=WECHAT_CODE))
    assert rig.m.state == v.State.ERROR and rig.m.ctx.error_message == "payment_refunded"
    assert rig.m.ctx.refunded is not None and rig.m.ctx.refunded.amount == rig.m.ctx.payment_order.amount
    order = rig.order()
    assert order["state"] == "REFUND" and len(order["refunds"]) == 1
    assert Decimal(order["refunds"][0]["amount"]) == rig.m.ctx.payment_order.amount
    assert _active_settlements(rig.sandbox) == [] and rig.item_state() == "failed"
    # delivering the finished item again refunds nothing more
    rig.services.outbox.deliver(rig.m.ctx.payment_reference)
    assert len(rig.order()["refunds"]) == 1
    order_no = rig.order_no
    rig.pump(v.Finish())
    assert rig.m.state == v.State.IDLE
    assert [len(o["refunds"]) for o in rig.sandbox.payments.orders() if o["order_no"] == order_no] == [1]


@pytest.mark.slow
def test_a_refund_refused_once_is_retried_until_it_goes_through(rig: Rig) -> None:
    from drivers.gateway.sandbox.faults import Fault

    rig.to_payment()
    rig.sandbox.faults.push(Fault("business", "2207"))
    rig.sandbox.payments.faults.push("refund_refused")
    rig.pump(v.VoucherScanned(payload=WECHAT_CODE))
    assert rig.m.state == v.State.RECEIPT and rig.m.ctx.queued is not None  # paid; the outbox finishes it
    assert rig.m.ctx.queued.paid is not None and rig.item_state() == "pending"
    assert rig.order()["state"] == "SUCCESS"
    delivery = rig.services.outbox.deliver(rig.m.ctx.payment_reference)
    assert delivery.state == "failed" and "settlement refused" in delivery.error
    order = rig.order()
    assert order["state"] == "REFUND" and len(order["refunds"]) == 1


@pytest.mark.slow
def test_a_refund_the_platform_is_still_processing_is_asked_about_until_it_is_done(rig: Rig) -> None:
    from drivers.gateway.sandbox.faults import Fault

    rig.to_payment()
    rig.sandbox.faults.push(Fault("business", "2207"))
    rig.sandbox.payments.faults.push("refund_pending")
    rig.pump(v.VoucherScanned(payload=WECHAT_CODE))
    assert rig.m.state == v.State.RECEIPT and rig.m.ctx.queued is not None and rig.item_state() == "pending"
    order = rig.order()
    assert order["state"] == "SUCCESS" and [r["state"] for r in order["refunds"]] == ["PROCESSING"]
    assert rig.services.outbox.deliver(rig.m.ctx.payment_reference).state == "failed"
    order = rig.order()
    assert order["state"] == "REFUND" and [r["state"] for r in order["refunds"]] == ["SUCCESS"]


@pytest.mark.slow
def test_duplicate_and_late_notifications_change_nothing(rig: Rig) -> None:
    rig.sandbox.payments.faults.push("dup_notify")
    rig.to_payment()
    rig.sandbox.payments.scan(rig.order_no)
    rig.wait()
    assert rig.m.state == v.State.RECEIPT
    notes = [n for n in rig.sandbox.payments.notifications(0) if n["out_trade_no"] == rig.order_no]
    assert len(notes) == 2  # the platform said it twice
    for _ in range(2):  # the kiosk reads them (again) and delivers the finished plan again
        rig.services.payments.notifications()
        rig.services.outbox.deliver(rig.m.ctx.payment_reference)
    assert len(_active_settlements(rig.sandbox)) == 1 and rig.order()["refunds"] == []


@pytest.mark.slow
def test_patient_confirming_in_the_app_is_waited_for(rig: Rig) -> None:
    rig.sandbox.payments.faults.push("late", delay_s=0.5)
    rig.to_payment()
    rig.pump(v.VoucherScanned(payload=WECHAT_CODE))
    assert rig.m.state == v.State.PAYING and rig.m.ctx.extra["payment_hint"] == "confirm_in_app"
    rig.pump(v.PaymentTimeout())  # the screen's time is up, but the patient is confirming: wait
    assert rig.m.state == v.State.PAYING
    while rig.m.state == v.State.PAYING:
        rig.wait()
    assert rig.m.state == v.State.RECEIPT and rig.m.ctx.settlement is not None


@pytest.mark.slow
def test_cancel_in_the_app_closes_the_visit_with_nothing_taken(rig: Rig) -> None:
    rig.sandbox.payments.faults.push("user_cancel", delay_s=0.2)
    rig.to_payment()
    mdtrt_id = rig.m.ctx.pre_settlement.mdtrt_id
    rig.pump(v.VoucherScanned(payload=WECHAT_CODE))
    while rig.m.state == v.State.PAYING:
        rig.wait()
    assert rig.m.state == v.State.ERROR and rig.m.ctx.error_message == "payment_cancelled"
    assert rig.order()["state"] == "CLOSED" and _active_settlements(rig.sandbox) == []
    assert rig.item_state() == "cancelled" and rig.sandbox.registration_cancelled(mdtrt_id)


@pytest.mark.slow
def test_cancel_on_the_payment_screen_closes_the_order_and_undoes_the_registration(rig: Rig) -> None:
    rig.to_payment()
    mdtrt_id, reference = rig.m.ctx.pre_settlement.mdtrt_id, rig.m.ctx.payment_reference
    order_no = rig.order_no
    rig.pump(v.Cancel())
    assert rig.m.state == v.State.IDLE
    assert next(o for o in rig.sandbox.payments.orders() if o["order_no"] == order_no)["state"] == "CLOSED"
    assert next(i["state"] for i in rig.services.outbox.items() if i["reference"] == reference) == "cancelled"
    assert rig.sandbox.registration_cancelled(mdtrt_id) and _active_settlements(rig.sandbox) == []
    with pytest.raises(PaymentDeclined):  # the closed order cannot be paid any more
        rig.services.payments.pay_with_code(order_no, Decimal("1.00"), WECHAT_CODE)


@pytest.mark.slow
def test_paid_before_a_restart_is_settled_by_the_outbox(rig: Rig, services: Services) -> None:
    """The kiosk dies after the payment, before 2207: the plan (held until its deadline) settles it."""
    rig.to_payment()
    reference = rig.m.ctx.payment_reference
    rig.sandbox.payments.scan(rig.order_no)
    # held: the drain (the audit of the face check goes out) leaves it alone before its deadline
    assert reference not in [d.reference for d in services.outbox.drain()]
    assert next(i["state"] for i in services.outbox.items() if i["reference"] == reference) == "pending"
    delivery = services.outbox.deliver(reference)  # what the drain does once the deadline has passed
    assert delivery.state == "done" and delivery.result["payment"]["amount"] == f"{rig.m.ctx.payment_order.amount:.2f}"
    assert len(_active_settlements(rig.sandbox)) == 1


@pytest.mark.slow
def test_platform_unreachable_when_opening_fails_kindly_and_nothing_is_charged(
        services: Services, sandbox: SandboxGateway) -> None:
    rig = Rig(services, sandbox)
    sandbox.payments.faults.push("unavailable")
    services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS["demo"]))
    for event in (v.CardInserted(), v.ConsentGiven(), v.PayFeesChosen(), v.FeesConfirmed(), v.SettlementConfirmed()):
        rig.pump(event)
    assert rig.m.state == v.State.ERROR and rig.m.ctx.error_message == "payment_unavailable"
    assert _active_settlements(sandbox) == []


def test_answers_with_a_wrong_signature_are_not_believed(services: Services, sandbox: SandboxGateway) -> None:
    client = services.payments
    assert isinstance(client, PlatformPaymentGateway)
    order = client.create("P" + "H11010100001202612020000000001", Decimal("3.00"), "test")
    original = sandbox.payments._answer
    sandbox.payments._answer = lambda fields: __import__("json").dumps(  # type: ignore[method-assign]
        signed({k: str(v) for k, v in {**fields, "trade_state": "SUCCESS"}.items()}, b"another-merchant-key!")).encode()
    try:
        with pytest.raises(PaymentUnknown, match="signature"):
            client.query(order.order_no)
    finally:
        sandbox.payments._answer = original  # type: ignore[method-assign]
    assert client.query(order.order_no).state == "NOTPAY"


def test_a_wrong_merchant_key_is_refused_by_the_platform(services: Services, sandbox: SandboxGateway) -> None:
    cfg = services.cfg
    wrong = PlatformPaymentGateway(cfg.payment, cfg.gateway, b"not-the-merchant-key", sandbox.url)
    with pytest.raises(PaymentDeclined, match="sign error"):
        wrong.query("P123")
    wrong.close_session()


def test_production_refuses_a_payment_setup_without_https_or_key(tmp_path: Path) -> None:
    from kiosk.config import load_config
    from kiosk.errors import ConfigError

    base = {"KIOSK_MODE": "production", "KIOSK_GATEWAY_URL": "https://gw.example/fsi"}
    with pytest.raises(ConfigError, match="payment.url"):
        load_config(env={**base, "KIOSK_PAYMENT_URL": "http://pay.example"})
    with pytest.raises(ConfigError, match="payment.key_file"):
        load_config(env={**base, "KIOSK_PAYMENT_URL": "https://pay.example"})
    cfg = load_config(env={**base, "KIOSK_PAYMENT_PROVIDER": "none"})
    assert cfg.payment.provider == "none"
    assert dataclasses.asdict(cfg)["payment"]["timeout_s"] == 120.0


@pytest.mark.slow
def test_a_plan_closed_unpaid_just_before_a_kill_is_cancelled_on_restart_not_settled(rig: Rig, services: Services) -> None:
    """The kiosk dies right after saving "order closed" (before the item was marked cancelled): the next
    delivery finishes the undoing and sends no 2207."""
    from kiosk.errors import PlanCancelled
    from kiosk.paid_plan import run_paid_plan

    rig.to_payment()
    reference, mdtrt_id = rig.m.ctx.payment_reference, rig.m.ctx.pre_settlement.mdtrt_id
    services.payments.close(rig.order_no)
    plan = services.outbox.payload(reference)
    saved: list[dict] = []

    class Killed(Exception):
        pass

    def save_then_die(updated: dict) -> None:
        saved.append(json_copy(updated))
        if updated["payment"]["state"] == "closed":
            raise Killed  # the power goes after this save reached the disk

    with pytest.raises(Killed):
        run_paid_plan(plan, services.gateway, services.payments, save_then_die, msgids=services.msgids,
                      now=lambda: 0.0)
    claimed = services.outbox._claim(reference)  # as the outbox does on the next delivery
    services.outbox._update(claimed[0], state="ambiguous", payload=services.outbox._cipher.seal(
        json.dumps(saved[-1]).encode()))
    with pytest.raises(PlanCancelled):
        run_paid_plan(saved[-1], services.gateway, services.payments, lambda _p: None, msgids=services.msgids,
                      now=lambda: 0.0)
    assert services.outbox.deliver(reference).state == "cancelled"
    assert _active_settlements(rig.sandbox) == [] and rig.sandbox.registration_cancelled(mdtrt_id)
    assert not [s for s in rig.sandbox.settlements() if s["mdtrt_id"] == mdtrt_id]


@pytest.mark.slow
def test_without_a_payment_provider_an_own_share_goes_to_the_counter_before_anything_is_settled(
        demo_config, sandbox: SandboxGateway) -> None:
    from drivers.camera.replay import ReplayCamera
    from scripts.composition import build_services, demo_portrait
    from scripts.demo import enroll_demo_face

    cfg = dataclasses.replace(demo_config, payment=dataclasses.replace(demo_config.payment, provider="none"))
    built = build_services(cfg, camera=ReplayCamera([demo_portrait()], fps=30))
    try:
        enroll_demo_face(sandbox, built)
        assert built.payments is None
        rig = Rig(built, sandbox)
        built.card_reader.insert(VirtualSocialSecurityCard(HOLDERS["demo"]))
        for event in (v.CardInserted(), v.ConsentGiven(), v.PayFeesChosen(), v.FeesConfirmed()):
            rig.pump(event)
        mdtrt_id = rig.m.ctx.pre_settlement.mdtrt_id
        rig.pump(v.SettlementConfirmed())
        assert rig.m.state == v.State.ERROR and rig.m.ctx.error_message == "payment_unavailable"
        rig.pump(v.Finish())
        assert _active_settlements(sandbox) == [] and sandbox.registration_cancelled(mdtrt_id)
    finally:
        built.close()


@pytest.mark.slow
def test_a_payment_code_never_reaches_the_logs_whole(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    rig.to_payment()
    rig.pump(v.VoucherScanned(payload=WECHAT_CODE))
    assert rig.m.state == v.State.RECEIPT
    assert "charging payment code 1345" in caplog.text  # the masked form is logged
    assert WECHAT_CODE not in caplog.text


def json_copy(value: dict) -> dict:
    return json.loads(json.dumps(value))
