"""Reconciling the day's payments with the day's settlements: the pure rules, then
``kiosk-provision reconcile payments`` on a real outbox against the sandbox's payment platform."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk import visit as v
from kiosk.payment import PaymentStatus
from kiosk.payment_reconciliation import KioskPayment, reconcile_payments

from drivers.gateway.sandbox.server import SandboxGateway
from scripts.composition import Services
from scripts.provision import cli


def mine(order: str, item: str, state: str = "paid", amount: str = "17.13", setl: str = "") -> KioskPayment:
    return KioskPayment(order, f"Q{order}", item, state, Decimal(amount), setl)


def test_each_disagreement_is_an_alert_with_both_references() -> None:
    ours = [mine("P1", "done", setl="ST1"), mine("P2", "failed", "refunded"), mine("P3", "done", setl="ST3"),
            mine("P4", "cancelled", "closed"), mine("P5", "pending"), mine("P6", "failed"),
            mine("P7", "done", setl="ST7"), mine("P8", "done", setl="ST8")]
    bill = [PaymentStatus("P1", "SUCCESS", Decimal("17.13"), "T1"), PaymentStatus("P2", "REFUND", Decimal("17.13")),
            PaymentStatus("P3", "REFUND", Decimal("17.13")), PaymentStatus("P4", "CLOSED", Decimal("17.13")),
            PaymentStatus("P5", "SUCCESS", Decimal("17.13")), PaymentStatus("P6", "SUCCESS", Decimal("17.13")),
            PaymentStatus("P7", "SUCCESS", Decimal("17.10")), PaymentStatus("P9", "SUCCESS", Decimal("3.00"))]
    found = {(f.kind, f.order_no, f.alert) for f in reconcile_payments(ours, bill)}
    assert found == {
        ("settled_not_paid", "P3", True),  # refunded at the platform while the settlement stands
        ("settlement_pending", "P5", False),  # the outbox is still at it: not yet for staff
        ("paid_not_settled", "P6", True),  # the visit failed and the money stayed taken
        ("amount_differs", "P7", True),
        ("settled_not_paid", "P8", True),  # settled, and the platform has no such order
        ("unknown_order", "P9", True),
    }
    line = next(f for f in reconcile_payments(ours, bill) if f.order_no == "P3").line()
    assert line.startswith("ALERT") and "order P3" in line and "outbox QP3" in line and "settlement ST3" in line


@pytest.mark.slow
def test_reconcile_command_agrees_on_a_paid_visit_then_flags_a_refund_behind_its_back(
        services: Services, sandbox: SandboxGateway, tmp_path: Path) -> None:
    from tests.test_payment import WECHAT_CODE, Rig

    rig = Rig(services, sandbox)
    rig.to_payment()
    rig.pump(v.VoucherScanned(payload=WECHAT_CODE))
    assert rig.m.ctx.settlement is not None
    cfg = services.cfg
    config = tmp_path / "kiosk.toml"
    config.write_text(f'data_dir = "{cfg.data_dir}"\n[gateway]\nurl = "{cfg.gateway.url}"\n'
                      f'[payment]\nkey_file = "{cfg.payment.key_file}"\n', encoding="utf-8")
    runner = CliRunner()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    result = runner.invoke(cli, ["reconcile", "payments", "--config", str(config), "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["alerts"] == 0 and report["plans"] == 1 and report["payments"] == 1

    order_no = rig.order_no  # staff refund the payment at the platform, the settlement stays
    sandbox.payments.refund(order_no, "R-by-hand", Decimal(str(rig.m.ctx.payment_order.amount)))
    sandbox.payments.create("PSTRAY0000000000000000001", Decimal("5.00"), "not ours")
    sandbox.payments.scan("PSTRAY0000000000000000001")
    result = runner.invoke(cli, ["reconcile", "payments", "--config", str(config)], env=env)
    assert result.exit_code == 3, result.output
    assert f"settled_not_paid   order {order_no}" in result.output
    assert rig.m.ctx.payment_reference in result.output and rig.m.ctx.settlement.setl_id in result.output
    assert "unknown_order      order PSTRAY0000000000000000001" in result.output
    bad = runner.invoke(cli, ["reconcile", "payments", "--config", str(config), "--day", "yesterday"], env=env)
    assert bad.exit_code == 2 and "not a date" in bad.output
