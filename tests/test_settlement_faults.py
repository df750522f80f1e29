"""Settlement under every fault the sandbox can produce: real HTTP, real SQLite outbox, ledger as ground truth.
Each case ends with exactly one active settlement (or none, for a business refusal), never two."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kiosk.config import GatewayConfig, TerminalConfig
from kiosk.domain import InsuredPerson, QueuedSettlement, Settlement
from kiosk.errors import GatewayBusinessError, QueueError
from kiosk.identity import document_from_card
from kiosk.settlement import SettlementService, run_plan

from drivers.card.virtual_card import load_holders
from drivers.gateway.client import HttpGateway, HttpHospitalSystem
from drivers.gateway.sandbox.server import SandboxGateway
from offline_queue.crypto import PayloadCipher, load_or_create_key
from offline_queue.msgids import SqliteMsgIdSource
from offline_queue.outbox import SqliteOutbox
from offline_queue.store import Store, open_store

DOC = document_from_card(load_holders()["demo"], dt.date.today())


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass
class Rig:
    sandbox: SandboxGateway
    service: SettlementService
    outbox: SqliteOutbox
    his: HttpHospitalSystem
    clock: Clock
    store: Store

    def faults(self, *faults: dict[str, object]) -> None:
        response = requests.post(self.sandbox.url + "/admin/faults", data=json.dumps({"faults": list(faults)}),
                                 timeout=5)
        assert response.status_code == 200, response.text

    def visit(self) -> tuple[InsuredPerson, object, tuple]:
        person = self.service.identify(DOC)
        fees = self.his.pending_fees(person)
        return person, self.service.prepare(person, DOC, fees), fees

    def drain_until_settled(self, rounds: int = 5) -> None:
        for _ in range(rounds):
            self.clock.now += 10_000
            self.outbox.drain()
            if self.outbox.pending_count() == 0:
                return

    def active(self) -> list[dict[str, object]]:
        return [r for r in self.sandbox.settlements() if not r["reversed"] and not r["refunded"]]


def make_rig(tmp_path: Path, sandbox: SandboxGateway, terminal: TerminalConfig, *, replay: bool = False) -> Rig:
    store = open_store(tmp_path / "outbox.sqlite")
    msgids = SqliteMsgIdSource(store, terminal.fixmedins_code)
    cfg = GatewayConfig(url=sandbox.service_url, connect_timeout_s=1.0, read_timeout_s=1.0, idempotent_replay=replay)
    gateway = HttpGateway(cfg, terminal, msgids)
    clock = Clock()
    outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(tmp_path / "k")),
                          lambda plan, save: run_plan(plan, gateway, save, msgids=msgids, idempotent_replay=replay),
                          clock=clock)
    service = SettlementService(gateway, outbox, msgids, terminal, dt.datetime.now)
    return Rig(sandbox, service, outbox, HttpHospitalSystem(cfg), clock, store)


@pytest.fixture
def rig(tmp_path: Path, sandbox: SandboxGateway, terminal: TerminalConfig) -> Iterator[Rig]:
    r = make_rig(tmp_path, sandbox, terminal)
    yield r
    r.store.close()


@pytest.mark.parametrize(("kind", "processed"), [
    ("drop_before", False), ("http500", False), ("http502", False),
    ("drop_after", True), ("delay", True), ("malformed", True),
])
def test_lost_or_garbled_answers_are_resolved_without_a_second_settlement(rig: Rig, kind: str,
                                                                          processed: bool) -> None:
    person, pre, fees = rig.visit()
    rig.faults({"kind": kind, "infno": "2207", "delay_s": 1.6})
    outcome = rig.service.settle("v1", person, DOC, pre, fees)
    assert isinstance(outcome, QueuedSettlement)  # the patient gets the "not yet settled" slip
    assert len(rig.sandbox.settlements()) == (1 if processed else 0)
    rig.drain_until_settled()
    assert rig.outbox.counts() == {"done": 1}
    assert len(rig.active()) == 1, rig.sandbox.settlements()
    reversed_rows = [r for r in rig.sandbox.settlements() if r["reversed"]]
    assert len(reversed_rows) == (1 if processed else 0)  # a processed one was reversed by 2601 first
    assert rig.his.pending_fees(person) == ()


def test_a_gateway_that_refuses_connections_gets_the_settlement_once_it_listens_again(rig: Rig) -> None:
    person, pre, fees = rig.visit()
    rig.sandbox.refuse_connections()  # the hospital's link is down: every connect is refused
    outcome = rig.service.settle("v1", person, DOC, pre, fees)
    assert isinstance(outcome, QueuedSettlement)
    rig.clock.now += 10_000
    rig.outbox.drain()  # still refused: the item stays pending, nothing failed or given up
    assert rig.outbox.counts() == {"pending": 1} and rig.sandbox.settlements() == []
    rig.sandbox.listen_again()
    rig.drain_until_settled()
    assert rig.outbox.counts() == {"done": 1}
    rows = rig.sandbox.settlements()
    assert len(rows) == 1 and not rows[0]["reversed"]  # a refused send never arrived: nothing to reverse


def test_a_refuse_fault_on_the_settlement_itself_settles_once(rig: Rig) -> None:
    person, pre, fees = rig.visit()
    rig.faults({"kind": "refuse", "infno": "2207", "delay_s": 0.5})
    assert isinstance(rig.service.settle("v1", person, DOC, pre, fees), QueuedSettlement)
    assert rig.sandbox.listening.wait(timeout=5)  # the outage is over
    rig.drain_until_settled()
    assert rig.outbox.counts() == {"done": 1} and len(rig.active()) == 1


def test_business_refusal_is_shown_and_never_retried(rig: Rig) -> None:
    person, pre, fees = rig.visit()
    rig.faults({"kind": "business", "infno": "2207"})
    with pytest.raises(GatewayBusinessError, match="simulated business refusal"):
        rig.service.settle("v1", person, DOC, pre, fees)
    rig.drain_until_settled()
    assert rig.outbox.counts() == {"failed": 1} and rig.sandbox.settlements() == []


def test_idempotent_replay_profile_resends_the_same_msgid(tmp_path: Path, sandbox: SandboxGateway,
                                                          terminal: TerminalConfig) -> None:
    rig = make_rig(tmp_path, sandbox, terminal, replay=True)
    person, pre, fees = rig.visit()
    rig.faults({"kind": "drop_after", "infno": "2207"})
    assert isinstance(rig.service.settle("v1", person, DOC, pre, fees), QueuedSettlement)
    rig.drain_until_settled()
    rows = rig.sandbox.settlements()
    assert len(rows) == 1 and not rows[0]["reversed"]  # the gateway answered the resend from its record
    rig.store.close()


def test_a_lost_reversal_is_kept_then_completed(rig: Rig) -> None:
    person, pre, fees = rig.visit()
    rig.faults({"kind": "drop_after", "infno": "2207"}, {"kind": "drop_after", "infno": "2601"})
    assert isinstance(rig.service.settle("v1", person, DOC, pre, fees), QueuedSettlement)
    rig.clock.now += 10_000
    assert [d.state for d in rig.outbox.drain()] == ["ambiguous"]  # 2601 unanswered: kept, not guessed
    rig.drain_until_settled()
    assert len(rig.active()) == 1 and rig.outbox.counts() == {"done": 1}


def test_a_refused_reversal_keeps_the_item_open_instead_of_failing_it(rig: Rig) -> None:
    """Found by bench/chaos.py: a business refusal of the 2601 says nothing about the 2207 it was for."""
    person, pre, fees = rig.visit()
    rig.faults({"kind": "drop_after", "infno": "2207"}, {"kind": "business", "infno": "2601"})
    assert isinstance(rig.service.settle("v1", person, DOC, pre, fees), QueuedSettlement)
    rig.clock.now += 10_000
    assert [d.state for d in rig.outbox.drain()] == ["ambiguous"]
    rig.drain_until_settled()
    assert rig.outbox.counts() == {"done": 1} and len(rig.active()) == 1


def test_crash_mid_send_is_resolved_after_restart(tmp_path: Path, rig: Rig, terminal: TerminalConfig) -> None:
    person, pre, fees = rig.visit()
    rig.faults({"kind": "drop_after", "infno": "2207"})
    reference, _msgid = rig.service.queue_settlement("v1", person, DOC, pre, fees)
    claimed = rig.outbox._claim(reference)  # the kiosk takes the item ...
    assert claimed is not None
    plan = rig.outbox.payload(reference)
    with pytest.raises(Exception):  # ... sends it (the answer is lost) and dies before recording anything
        run_plan(plan, rig.service._gateway, lambda p: rig.outbox._update(claimed[0], payload=rig.outbox._cipher.seal(
            json.dumps(p, default=str).encode())), msgids=rig.service._msgids)
    rig.clock.now += 1_000  # lease expired
    restarted = SqliteOutbox(rig.store, rig.outbox._cipher, rig.outbox._handler, clock=rig.clock)
    assert restarted.counts() == {"ambiguous": 1}
    rig.outbox = restarted
    rig.drain_until_settled()
    assert len(rig.active()) == 1 and restarted.counts() == {"done": 1}


def test_full_disk_tells_the_patient_and_writes_nothing_half(rig: Rig) -> None:
    person, pre, fees = rig.visit()
    db = rig.store.db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: SQLite's disk-full path
    before = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    big = {"blob": "x" * 200_000}
    with pytest.raises(QueueError, match="full"):
        rig.outbox.enqueue(visit_id="v9", kind="settlement_plan", payload=big)
    assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == before  # nothing half-written
    for i in range(5000):  # other visits fill what room is left
        try:
            rig.outbox.enqueue(visit_id=f"filler{i}", kind="settlement_plan", payload={"n": i, "pad": "y" * 300})
        except QueueError:
            break
    else:
        pytest.fail("the capped database never filled up")
    with pytest.raises(QueueError, match="could not commit"):
        rig.service.settle("v1", person, DOC, pre, fees)
    assert rig.sandbox.settlements() == []  # not committed, so never sent
    db.execute("PRAGMA max_page_count = 1073741823")
    assert isinstance(rig.service.settle("v1", person, DOC, pre, fees), Settlement)


@pytest.mark.parametrize("kind", ["none", "drop_after", "drop_before", "delay"])
def test_staff_refund_happens_exactly_once(rig: Rig, kind: str) -> None:
    person, pre, fees = rig.visit()
    settled = rig.service.settle("v1", person, DOC, pre, fees)
    assert isinstance(settled, Settlement)
    if kind != "none":
        rig.faults({"kind": kind, "infno": "2208", "delay_s": 1.6})
    rig.service.refund("refund-1", person.psn_no, person.insuplc_admdvs, settled.setl_id, settled.mdtrt_id)
    rig.drain_until_settled()
    rows = rig.sandbox.settlements()
    assert len(rows) == 1 and rows[0]["refunded"] == 1 and rig.active() == []
    assert len(rig.his.pending_fees(person)) == 3  # the fees are owed again
    assert rig.service.identify(DOC).balance == Decimal("12.00")  # the account share came back, once
    with pytest.raises(GatewayBusinessError, match="already refunded"):
        rig.service.refund("refund-2", person.psn_no, person.insuplc_admdvs, settled.setl_id, settled.mdtrt_id)
