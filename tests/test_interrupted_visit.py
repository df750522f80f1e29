"""A crash in the middle of a settlement (issue 21): the plan was committed, the process died before the
patient saw how it ended. The next start (new services on the same data folder: the real SQLite outbox,
the sandbox over HTTP) shows that visit's outcome first, from the outbox: being settled while the item is
open, settled with its amounts once the kiosk has sent it; Done closes it for good."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from kiosk import visit as v
from kiosk.config import KioskConfig
from kiosk.identity import document_from_card
from kiosk.interrupted_visit import interrupted_visit

from drivers.card.virtual_card import load_holders
from drivers.gateway.sandbox.faults import Fault
from drivers.gateway.sandbox.server import SandboxGateway
from offline_queue.instance_lock import InstanceLock
from scripts.composition import Services, build_services


@pytest.fixture
def restartable(demo_config: KioskConfig) -> Iterator[KioskConfig]:
    yield dataclasses.replace(demo_config, payment=dataclasses.replace(demo_config.payment, provider="none"))


def _services(cfg: KioskConfig) -> Services:
    from drivers.camera.replay import ReplayCamera
    from scripts.composition import demo_portrait

    return build_services(cfg, camera=ReplayCamera([demo_portrait()], fps=30))


class MachineDriver:
    """What ui.controller.VisitController does, without Qt (a fake of the controller): feed the machine,
    run its effects on the services."""

    def __init__(self, machine: v.VisitMachine, services: Services) -> None:
        self.machine, self.services = machine, services

    def post(self, event: v.Event) -> None:
        queue = [event]
        while queue:
            for effect in self.machine.handle(queue.pop(0)):
                result = self.services.effects.run(effect)
                if result is not None:
                    queue.append(result)


@pytest.mark.slow
def test_after_a_crash_mid_settlement_the_next_start_shows_that_visits_outcome(
        restartable: KioskConfig, sandbox: SandboxGateway) -> None:
    from scripts.kiosk_cli import _show_interrupted_visit

    first = _services(restartable)
    doc = document_from_card(load_holders()["demo"], dt.date.today())
    person = first.settlement.identify(doc)
    fees = first.his.pending_fees(person)
    pre = first.settlement.prepare(person, doc, fees)
    reference, _ = first.settlement.queue_settlement("v20261202093000-1", person, doc, pre, fees)
    first.close()  # the process dies before sending it: the patient saw nothing

    second = _services(restartable)
    try:
        found = second.settlement.interrupted_visit()
        assert found is not None and (found.visit_id, found.reference, found.outcome) == (
            "v20261202093000-1", reference, "settling")
        assert [d.state for d in second.outbox.drain() if d.reference == reference] == ["done"]
        settled = second.settlement.interrupted_visit()
        assert settled is not None and settled.outcome == "settled"
        assert settled.medfee_sumamt == sum((f.amount for f in fees), Decimal("0"))

        machine = v.VisitMachine(id_prefix="v20261202093500-")
        driver = MachineDriver(machine, second)
        _show_interrupted_visit(second, driver)  # as kiosk run does before the window shows
        assert machine.state == v.State.INTERRUPTED and machine.ctx.interrupted == settled
        driver.post(v.Finish())  # the patient presses Done
        assert machine.state == v.State.IDLE
        assert second.settlement.interrupted_visit() is None  # shown once, not at every start
        assert len([s for s in sandbox.settlements() if not s["reversed"]]) == 1
    finally:
        second.close()


def test_a_visit_closed_normally_leaves_nothing_to_show(restartable: KioskConfig, sandbox: SandboxGateway) -> None:
    services = _services(restartable)
    try:
        doc = document_from_card(load_holders()["demo"], dt.date.today())
        person = services.settlement.identify(doc)
        fees = services.his.pending_fees(person)
        pre = services.settlement.prepare(person, doc, fees)
        services.settlement.settle("v7", person, doc, pre, fees)
        assert services.settlement.interrupted_visit() is not None  # until the patient has seen it end
        services.effects.run(v.VisitEnded("v7", "settled", "pay_fees"))
        assert services.settlement.interrupted_visit() is None
    finally:
        services.close()


@pytest.mark.parametrize(("state", "outcome"), [("pending", "settling"), ("ambiguous", "settling"),
                                                ("needs_staff", "settling"), ("failed", "not_settled"),
                                                ("cancelled", "not_settled")])
def test_each_item_state_reads_as_what_the_patient_needs_to_know(state: str, outcome: str) -> None:
    assert interrupted_visit("v1", "Q1", state, None).outcome == outcome


def test_the_screen_follows_a_visit_being_settled_to_its_end_and_a_late_answer_after_done_is_ignored() -> None:
    machine = v.VisitMachine()
    settling = interrupted_visit("v1", "Q1", "ambiguous", None)
    assert machine.handle(v.InterruptedVisitFound(visit=settling)) == [v.AwaitInterruptedOutcome("v1", "Q1")]
    assert machine.state == v.State.INTERRUPTED
    # the outbox has not resolved it yet: wait another slice
    assert machine.handle(v.InterruptedVisitFound("v1", visit=settling)) == [v.AwaitInterruptedOutcome("v1", "Q1")]
    settled = interrupted_visit("v1", "Q1", "done", {"setlinfo": {"medfee_sumamt": "86.50", "psn_cash_pay": "20.00"}})
    assert machine.handle(v.InterruptedVisitFound("v1", visit=settled)) == []
    assert machine.ctx.interrupted is not None and machine.ctx.interrupted.outcome == "settled"
    assert machine.ctx.interrupted.medfee_sumamt == Decimal("86.50")
    other = interrupted_visit("v9", "Q9", "ambiguous", None)
    assert machine.handle(v.InterruptedVisitFound("v1", visit=other)) == []  # not the visit on screen
    assert machine.ctx.interrupted.visit_id == "v1"
    machine.handle(v.Finish())
    assert machine.state == v.State.IDLE
    assert machine.handle(v.InterruptedVisitFound("v1", visit=settling)) == []  # a late answer after Done
    assert machine.state == v.State.IDLE


@pytest.mark.slow
def test_a_kiosk_killed_while_its_2207_is_in_flight_shows_the_outcome_at_the_next_start_and_settles_once(
        restartable: KioskConfig, sandbox: SandboxGateway, tmp_path: Path) -> None:
    """The real thing at the process level: a kiosk process sends its 2207, the gateway settles it and is slow
    to answer, the process is killed (SIGKILL: no clean-up of any kind). The next start on the same data
    folder shows that visit as being settled, resends the 2207 under the same msgid, learns it was settled
    (once: the ledger holds one settlement) and shows the amounts."""
    from scripts.kiosk_cli import _show_interrupted_visit

    sandbox.faults.push(Fault(kind="delay", infno="2207", delay_s=120))  # settled, answered far too late
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env.update(KIOSK_DATA_DIR=restartable.data_dir, KIOSK_GATEWAY_URL=sandbox.service_url,
               KIOSK_GATEWAY_READ_TIMEOUT_S="120", KIOSK_CARD_READER="virtual", KIOSK_PAYMENT_PROVIDER="none")
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("crash_mid_settlement_child.py")),
                              "v20261202100000-1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "settling", child.stderr
        deadline = time.monotonic() + 60
        while not sandbox.settlements():  # the gateway has settled it; the answer is being held back
            assert child.poll() is None and time.monotonic() < deadline, child.communicate()
            time.sleep(0.05)  # polling the ledger: the sandbox has no event for a settlement
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    lock = InstanceLock.take(Path(restartable.data_dir))  # as kiosk run starts: the folder is this process's
    second = _services(restartable)
    try:
        assert second.outbox.drain() == []  # the dead process's lease still holds the item ...
        assert second.outbox.reclaim_in_flight() == 1  # ... until the folder's owner reclaims it, as kiosk run does
        found = second.settlement.interrupted_visit()
        assert found is not None and (found.visit_id, found.outcome) == ("v20261202100000-1", "settling")
        assert [d.state for d in second.outbox.drain() if d.reference == found.reference] == ["done"]
        machine = v.VisitMachine(id_prefix="v20261202100500-")
        driver = MachineDriver(machine, second)
        _show_interrupted_visit(second, driver)  # as kiosk run does before the window shows
        assert machine.state == v.State.INTERRUPTED and machine.ctx.interrupted.outcome == "settled"
        assert machine.ctx.interrupted.medfee_sumamt > 0
        assert len([s for s in sandbox.settlements() if not s["reversed"]]) == 1
    finally:
        second.close()
        lock.release()
