"""Cross-province settlements the gateway will no longer reverse (issue 18): a 2207 whose answer was lost is
normally reversed (2601) and sent again; a cross-province one past the reversal window cannot be, so the
item waits on staff (``needs_staff``), who record what they found with ``kiosk-provision queue resolve``.
Real parts: the sandbox over HTTP (its window set to close at once), the SQLite outbox, the whole visit
with the patient's own share paid on the sandbox's platform, the technician's command through click."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk import visit as v
from kiosk.config import KioskConfig, TerminalConfig
from kiosk.domain import QueuedSettlement
from kiosk.errors import GatewayBusinessError, QueueError
from kiosk.identity import document_from_card
from kiosk.staff_resolution import not_settled, settled_as

from drivers.card.virtual_card import load_holders
from drivers.gateway.sandbox.faults import Fault
from drivers.gateway.sandbox.server import SandboxGateway
from scripts.composition import Services
from scripts.demo import PATIENTS
from scripts.provision import cli
from tests.test_insured_elsewhere import _to_services
from tests.test_settlement_faults import Rig, make_rig
from tests.test_settlement_reconciliation import _config
from tests.test_visit_integration import pump


def _active(sandbox: SandboxGateway) -> list[dict[str, object]]:
    return [r for r in sandbox.settlements() if not r["reversed"] and not r["refunded"]]


def _delivered(services: Services, reference: str):  # type: ignore[no-untyped-def]
    return next(d for d in services.outbox.drain() if d.reference == reference)


@pytest.mark.slow
def test_a_lost_cross_province_answer_past_the_window_waits_on_staff_who_record_the_settlement(
        services: Services, sandbox: SandboxGateway, demo_config: KioskConfig, tmp_path: Path) -> None:
    sandbox.set_reversal_window(0)  # closes at once
    m = v.VisitMachine()
    _to_services(m, services, sandbox, PATIENTS["cross-province"])
    for event in (v.PayFeesChosen(), v.FeesConfirmed()):
        pump(m, services, event)
    sandbox.faults.push(Fault("drop_after", "2207"))  # settled at the gateway, the answer lost
    pump(m, services, v.SettlementConfirmed(), sandbox)
    assert m.state == v.State.RECEIPT and isinstance(m.ctx.queued, QueuedSettlement), m.ctx.error_message
    reference = m.ctx.queued.reference
    [settled] = _active(sandbox)

    services.outbox.retry_now(reference)
    delivery = _delivered(services, reference)
    assert delivery.state == "needs_staff" and "window" in delivery.error, delivery
    assert len(_active(sandbox)) == 1  # neither reversed nor settled twice
    assert services.outbox.pending_count() == 1  # still open: the status bar and selftest show it
    assert reference not in {d.reference for d in services.outbox.drain()}  # never picked up again by itself

    config = _config(tmp_path, demo_config)
    wrong = CliRunner().invoke(cli, ["queue", "resolve", reference, "--config", str(config), "--settled", "ST0"])
    assert wrong.exit_code == 14 and "nothing recorded" in wrong.output, wrong.output  # 5203 finds no ST0
    both = CliRunner().invoke(cli, ["queue", "resolve", reference, "--config", str(config)])
    assert both.exit_code == 2 and "exactly one" in both.output
    assert services.outbox.counts().get("needs_staff") == 1

    done = CliRunner().invoke(cli, ["queue", "resolve", reference, "--config", str(config),
                                    "--settled", str(settled["setl_id"])])
    assert done.exit_code == 0, done.output
    assert f"settled as {settled['setl_id']}" in done.output
    delivery = _delivered(services, reference)
    assert delivery.state == "done", delivery
    assert delivery.result["setlinfo"]["setl_id"] == settled["setl_id"]
    assert Decimal(delivery.result["payment"]["amount"]) == Decimal(str(delivery.result["setlinfo"]["psn_cash_pay"]))
    assert len(_active(sandbox)) == 1 and services.outbox.pending_count() == 0


@pytest.fixture
def rig(tmp_path: Path, sandbox: SandboxGateway, terminal: TerminalConfig):  # type: ignore[no-untyped-def]
    r = make_rig(tmp_path, sandbox, terminal)
    yield r
    r.store.close()


def _cross_province_visit(rig: Rig) -> tuple[object, object, object, object]:
    doc = document_from_card(load_holders()["cross_province"], dt.date.today())
    person = rig.service.identify(doc)
    fees = rig.his.pending_fees(person)
    return person, doc, rig.service.prepare(person, doc, fees), fees


def test_staff_saying_it_was_not_settled_sends_it_again_once(rig: Rig) -> None:
    person, doc, pre, fees = _cross_province_visit(rig)
    rig.faults({"kind": "drop_before", "infno": "2207"}, {"kind": "business", "infno": "2601"})
    outcome = rig.service.settle("v1", person, doc, pre, fees)
    assert isinstance(outcome, QueuedSettlement) and rig.sandbox.settlements() == []
    rig.drain_until_settled(rounds=1)
    assert rig.outbox.counts() == {"needs_staff": 1}
    with pytest.raises(GatewayBusinessError):  # nothing under that id: nothing written
        rig.outbox.staff_finding(outcome.reference, settled_as("ST404", rig.service._gateway, rig.service._msgids))
    rig.outbox.staff_finding(outcome.reference, not_settled(rig.service._msgids))
    rig.drain_until_settled()
    assert rig.outbox.counts() == {"done": 1}
    assert len(rig.active()) == 1 and rig.his.pending_fees(person) == ()


def test_a_local_settlement_is_still_reversed_and_sent_again(rig: Rig) -> None:
    rig.sandbox.set_reversal_window(0)  # the window is for cross-province settlements only
    person, pre, fees = rig.visit()
    rig.faults({"kind": "drop_after", "infno": "2207"})
    rig.service.settle("v1", person, rig_doc(), pre, fees)
    rig.drain_until_settled()
    assert rig.outbox.counts() == {"done": 1}
    assert len(rig.active()) == 1 and sum(1 for r in rig.sandbox.settlements() if r["reversed"]) == 1


def rig_doc():  # type: ignore[no-untyped-def]
    from tests.test_settlement_faults import DOC

    return DOC


def test_a_finding_for_an_item_not_waiting_on_staff_is_refused(rig: Rig) -> None:
    person, pre, fees = rig.visit()
    outcome = rig.service.settle("v1", person, rig_doc(), pre, fees)
    reference = getattr(outcome, "reference", None) or rig.outbox.items()[0]["reference"]
    with pytest.raises(QueueError, match="only items waiting on staff"):
        rig.outbox.staff_finding(reference, not_settled(rig.service._msgids))
