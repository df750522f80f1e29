"""The bank-card terminal adapter against its twin on a real pseudo-terminal: the line protocol, its
faults, and a whole paid visit through the outbox with the terminal behind the PaymentGateway port."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal

import pytest

from kiosk import visit as v
from kiosk.errors import PaymentDeclined, PaymentUnknown

from drivers.gateway.sandbox.server import SandboxGateway
from drivers.payment.card_terminal import SerialCardTerminal, frame, unframe
from drivers.payment.simulated_card_terminal import SimulatedCardTerminal


@pytest.fixture
def terminal() -> Iterator[SimulatedCardTerminal]:
    twin = SimulatedCardTerminal()
    yield twin
    twin.close()


@pytest.fixture
def client(terminal: SimulatedCardTerminal) -> Iterator[SerialCardTerminal]:
    adapter = SerialCardTerminal(terminal.device, timeout_s=0.5)
    yield adapter
    adapter.close_session()


def test_frames_carry_a_checksum_and_garbage_is_recognised() -> None:
    assert unframe(frame("QUERY P1")) == "QUERY P1"
    assert unframe(b"QUERY P1*00\r\n") is None and unframe(b"QUERY P1\r\n") is None
    assert unframe(b"\xff\xfe*12\r\n") is None


def test_sale_card_refund_and_bill(client: SerialCardTerminal, terminal: SimulatedCardTerminal) -> None:
    order = client.create("P0001", Decimal("17.13"), "fees")
    assert order.qr_url == "" and client.query("P0001").state == "NOTPAY"
    with pytest.raises(PaymentDeclined) as refused:
        client.pay_with_code("P0001", Decimal("17.13"), "134567890123454321")
    assert refused.value.reason == "card_only"
    terminal.present_card("P0001", pin_s=0.2)
    assert client.query("P0001").state == "USERPAYING"  # the PIN is being entered
    with pytest.raises(PaymentDeclined):  # nothing to refund before the sale is paid
        client.refund("P0001", "R0001", Decimal("17.13"))
    _wait_paid(client, "P0001")
    paid = client.query("P0001")
    assert paid.method == "card" and len(paid.trade_no) == 6 and paid.amount == Decimal("17.13")
    client.create("P0001", Decimal("17.13"), "fees")  # the same sale again changes nothing
    assert client.query("P0001").state == "SUCCESS"
    terminal.refuse_next_refund()
    with pytest.raises(PaymentDeclined):
        client.refund("P0001", "R0001", Decimal("17.13"))
    assert client.refund("P0001", "R0001", Decimal("17.13")).state == "SUCCESS"
    assert client.refund("P0001", "R0001", Decimal("17.13")).state == "SUCCESS"  # idempotent
    assert terminal.sales["P0001"].refunds == {"R0001": Decimal("17.13")}
    client.create("P0002", Decimal("3.00"), "fees")
    assert client.close("P0002").state == "CLOSED" and client.query("P9999").state == "CLOSED"
    bill = {s.order_no: s.state for s in client.day_bill(terminal.sales["P0001"].day)}
    assert bill == {"P0001": "REFUND", "P0002": "CLOSED", "P9999": "CLOSED"}


def _wait_paid(client: SerialCardTerminal, order: str) -> None:
    import time

    deadline = time.monotonic() + 10
    while client.query(order).state != "SUCCESS":
        assert time.monotonic() < deadline, "the PIN entry never completed"
        time.sleep(0.05)


def test_lost_garbled_and_unplugged_answers_are_unknown_never_paid(client: SerialCardTerminal,
                                                                    terminal: SimulatedCardTerminal) -> None:
    client.create("P0003", Decimal("5.00"), "fees")
    terminal.present_card("P0003")
    terminal.drop_next_answer()
    with pytest.raises(PaymentUnknown, match="no answer"):
        client.query("P0003")
    terminal.garble_next_answer()
    with pytest.raises(PaymentUnknown, match="garbled"):
        client.query("P0003")
    assert client.query("P0003").state == "SUCCESS"  # the line recovers: the next answer is read whole
    gone = SerialCardTerminal("/dev/nonexistent-tty", timeout_s=0.2)
    with pytest.raises(PaymentUnknown, match="cannot be opened"):
        gone.query("P0003")


@pytest.mark.slow
def test_a_visit_paid_at_the_card_terminal_is_settled_once(demo_config, sandbox: SandboxGateway,
                                                            terminal: SimulatedCardTerminal) -> None:
    from drivers.camera.replay import ReplayCamera
    from drivers.card.virtual_card import VirtualSocialSecurityCard, load_holders
    from scripts.composition import build_services, demo_portrait
    from scripts.demo import enroll_demo_face
    from tests.test_payment import Rig

    cfg = dataclasses.replace(demo_config, payment=dataclasses.replace(
        demo_config.payment, provider="card_terminal", card_device=terminal.device))
    built = build_services(cfg, camera=ReplayCamera([demo_portrait()], fps=30))
    try:
        enroll_demo_face(sandbox, built)
        rig = Rig(built, sandbox)
        built.card_reader.insert(VirtualSocialSecurityCard(load_holders()["demo"]))
        for event in (v.CardInserted(), v.ConsentGiven(), v.PayFeesChosen(), v.FeesConfirmed(),
                      v.SettlementConfirmed()):
            rig.pump(event)
        assert rig.m.state == v.State.PAYING and rig.m.ctx.payment_order.qr_url == ""
        rig.pump(v.VoucherScanned(payload="134567890123454321"))  # a payment code: this kiosk takes cards
        assert rig.m.ctx.extra["payment_hint"] == "declined.card_only"
        terminal.present_card(rig.order_no)
        rig.wait()
        assert rig.m.state == v.State.RECEIPT, (rig.m.state, rig.m.ctx.error_message)
        payment = rig.m.ctx.settlement.payment
        assert payment.method == "card" and payment.amount == Decimal("17.13")
        assert terminal.sales[rig.order_no].state == "SUCCESS"
        assert len([s for s in sandbox.settlements() if not s["refunded"]]) == 1
    finally:
        built.close()
