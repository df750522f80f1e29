"""Same-day registration (issue 19): the sandbox's slots and locks over real HTTP, the adapter against it and
against hostile answers, the machine's REG_DEPARTMENT / REG_DOCTOR states, and whole visits on two real
kiosks (their own outboxes and msgid lanes) against one sandbox: both lock the last slot, one gets it and
the other is told; a registration abandoned at payment releases the slot and leaves no registration."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from kiosk import visit as v
from kiosk.config import GatewayConfig, KioskConfig
from kiosk.domain import InsuredPerson
from kiosk.errors import GatewayProtocolError
from kiosk.registration import Department, DoctorSlot, Registered, SlotLock, SlotRefused
from kiosk.visit_outcome import visit_errand, visit_outcome

from drivers.card.virtual_card import VirtualSocialSecurityCard, load_holders
from drivers.gateway.client import HttpHospitalSystem
from drivers.gateway.sandbox.server import SandboxGateway
from scripts.composition import Services, build_services

from test_invoices import hostile  # noqa: F401 - the fixture: a hospital system answering nonsense
from test_visit_integration import pump

HOLDERS = load_holders()
PERSON = InsuredPerson(psn_no="11000019560307001", certno="C1", name="N", gender="2", birth_date="1956-03-07",
                       age="70", insutype="310", balance=Decimal("12.00"), insuplc_admdvs="110101")
SLOT = DoctorSlot("A04-1", "A04", "外科", "A04", "D110101000401", "赵永强", "副主任医师", "上午", Decimal("35.00"),
                  "001101000010000", 1)


# -- the sandbox and the adapter ----------------------------------------------------------------------

def test_two_terminals_race_for_the_last_slot(sandbox: SandboxGateway) -> None:
    """Eight terminals lock the surgeon's one slot at once: exactly one gets it."""
    answers: list[int] = []
    start = threading.Barrier(8)

    def lock(n: int) -> None:
        start.wait()
        answers.append(requests.post(sandbox.url + "/his/slots/lock", timeout=5, json={
            "slot_id": "A04-1", "psn_no": f"P{n}", "terminal_no": f"T{n}"}).status_code)

    threads = [threading.Thread(target=lock, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200] + [409] * 7
    (held,) = requests.get(sandbox.url + "/his/slot-locks", params={"state": "locked"}, timeout=5).json()["locks"]
    assert held["slot_id"] == "A04-1"  # what staff see: a lock not yet released nor confirmed


def test_a_lock_runs_out_and_the_slot_returns(sandbox: SandboxGateway) -> None:
    his = HttpHospitalSystem(GatewayConfig(url=sandbox.service_url), "T1")
    assert requests.post(sandbox.url + "/admin/slots/lock-ttl", json={"seconds": -1}, timeout=5).ok
    lock = his.lock_slot(SLOT, PERSON)
    assert his.slots("A04")[0].remaining == 1  # expired at once: back in the pool
    with pytest.raises(SlotRefused) as late:
        his.confirm_registration(lock.lock_id, "MD1", "ST1")
    assert late.value.reason == "expired"
    assert [lock["state"] for lock in sandbox.registration.locks()] == ["expired"]


def test_adapter_lists_locks_confirms_and_releases(sandbox: SandboxGateway) -> None:
    his = HttpHospitalSystem(GatewayConfig(url=sandbox.service_url), "T1")
    departments = his.departments()
    assert [d.code for d in departments] == ["A03", "A04", "A07", "A50"] and departments[3].remaining == 0
    slots = his.slots("A03")
    assert [(s.dr_name, s.fee, s.remaining) for s in slots] == [("张明华", Decimal("50.00"), 12),
                                                                ("刘静", Decimal("25.00"), 30)]
    lock = his.lock_slot(slots[1], PERSON)
    assert his.slots("A03")[1].remaining == 29
    his.release_slot(lock.lock_id)
    his.release_slot(lock.lock_id)  # twice: nothing held, no error
    assert his.slots("A03")[1].remaining == 30
    lock = his.lock_slot(slots[1], PERSON)
    done = his.confirm_registration(lock.lock_id, "MD1", "ST1")
    assert done == Registered("03001", "门诊楼二层 内科候诊区")
    assert his.confirm_registration(lock.lock_id, "MD1", "ST1") == done  # a retried confirmation: same number
    with pytest.raises(SlotRefused) as full:
        his.lock_slot(dataclasses.replace(SLOT, slot_id="A50-1"), PERSON)
    assert full.value.reason == "full"


def test_adapter_refuses_hostile_answers(hostile: str) -> None:  # noqa: F811
    his = HttpHospitalSystem(GatewayConfig(url=hostile + "/fsi", his_url=hostile), "T1")
    with pytest.raises(GatewayProtocolError):
        his.departments()
    with pytest.raises(GatewayProtocolError):
        his.lock_slot(SLOT, PERSON)


# -- the machine --------------------------------------------------------------------------------------

DEPARTMENTS = (Department("A03", "内科", "A03", "二层", 42), Department("A50", "中医科", "A50", "三层", 0))


def _at_services() -> v.VisitMachine:
    m = v.VisitMachine()
    m.state, m.visit_id, m.ctx.person = v.State.SERVICES, "v1", PERSON
    return m


def test_machine_registration_flow_and_refusals() -> None:
    m = _at_services()
    assert m.handle(v.ErrandChosen("v1", errand="registration")) == [v.ListDepartments("v1")]
    m.handle(v.DepartmentsShown("v1", departments=DEPARTMENTS))
    assert m.state == v.State.REG_DEPARTMENT
    assert m.handle(v.DepartmentChosen("v1", index=1)) == [] and m.ctx.extra["reg_hint"] == "failed:full"
    assert m.handle(v.DepartmentChosen("v1", index=0)) == [v.ListSlots("v1", "A03")]
    m.handle(v.SlotsShown("v1", slots=(SLOT, dataclasses.replace(SLOT, slot_id="A04-2", remaining=0))))
    assert m.state == v.State.REG_DOCTOR
    assert m.handle(v.SlotChosen("v1", index=1)) == [] and m.ctx.extra["reg_hint"] == "failed:full"
    m.handle(v.BackToServices("v1"))
    assert m.state == v.State.REG_DEPARTMENT  # back to the departments, then to the menu
    m.handle(v.DepartmentChosen("v1", index=0))
    m.handle(v.SlotsShown("v1", slots=(SLOT,)))
    assert m.handle(v.SlotChosen("v1", index=0)) == [v.LockSlot("v1", PERSON, SLOT)]
    m.handle(v.RegistrationFailed("v1", reason="full"))  # another kiosk took it meanwhile
    assert m.state == v.State.REG_DOCTOR and m.ctx.extra["reg_hint"] == "failed:full"
    m.handle(v.SlotChosen("v1", index=0))
    m.handle(v.SlotLocked("v1", lock=SlotLock("L1", SLOT, 600)))
    assert m.state == v.State.FEE_REVIEW and m.ctx.person.doctor == SLOT
    (fee,) = m.ctx.fees
    assert (fee.amount, fee.medins_list_codg) == (Decimal("35.00"), "GH0001")
    assert visit_errand(m.ctx) == "registration"
    effects = m.handle(v.Cancel("v1"))  # abandoned before paying: the slot goes back
    assert v.ReleaseSlot("v1", "L1") in effects and m.state == v.State.IDLE


def test_departments_unreachable_is_said_on_the_menu() -> None:
    m = _at_services()
    m.handle(v.ErrandChosen("v1", errand="registration"))
    m.handle(v.ErrandFailed("v1", errand="registration", reason="unreachable"))
    assert m.state == v.State.SERVICES and m.ctx.extra["errand_hint"] == "failed:registration.unreachable"


# -- whole visits on two kiosks ------------------------------------------------------------------------

@pytest.fixture
def second_kiosk(services: Services, demo_config: KioskConfig) -> Iterator[Services]:
    """Another kiosk of the institution against the same sandbox: its own outbox and msgid lane."""
    cfg = dataclasses.replace(demo_config, terminal=dataclasses.replace(demo_config.terminal, msgid_lane="7",
                                                                        terminal_no="ZZJ-0002"),
                              data_dir=demo_config.data_dir + "-second")
    built = build_services(cfg, camera=services.camera)
    yield built
    built.close()


def _to_surgeon(m: v.VisitMachine, services: Services, holder: str) -> None:
    services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS[holder]))
    pump(m, services, v.CardInserted())
    pump(m, services, v.ConsentGiven())
    pump(m, services, v.ErrandChosen(errand="registration"))
    pump(m, services, v.DepartmentChosen(index=1))  # 外科: one slot today
    assert m.state == v.State.REG_DOCTOR and m.ctx.slots[0].remaining == 1, (m.state, m.ctx.extra)


def _until_paying(m: v.VisitMachine, services: Services, event: v.Event) -> None:
    """Like pump, but the patient never pays: the wait for the payment is not run."""
    queue = [event]
    while queue:
        for effect in m.handle(queue.pop(0)):
            if not isinstance(effect, v.AwaitPayment):
                result = services.effects.run(effect)
                if result is not None:
                    queue.append(result)


@pytest.mark.slow
def test_last_slot_two_kiosks_then_abandoned_at_payment(services: Services, second_kiosk: Services,
                                                       sandbox: SandboxGateway) -> None:
    from scripts.demo import enroll_demo_face

    enroll_demo_face(sandbox, services, holder_key="chronic")  # the second patient's face on file too
    first, second = v.VisitMachine(), v.VisitMachine()
    _to_surgeon(first, services, "demo")
    _to_surgeon(second, second_kiosk, "chronic")  # both screens show the surgeon's last slot
    pump(first, services, v.SlotChosen(index=0))
    assert first.state == v.State.FEE_REVIEW
    pump(second, second_kiosk, v.SlotChosen(index=0))
    assert second.state == v.State.REG_DOCTOR and second.ctx.extra["reg_hint"] == "failed:full"
    # the first patient goes on to pay, then walks away from the payment screen
    _until_paying(first, services, v.FeesConfirmed())
    assert first.state == v.State.CONFIRM, first.ctx.error_message
    request = sandbox.requests("2201")[-1]["data"]
    assert {k: request[k] for k in ("dept_code", "dept_name", "caty", "atddr_no", "dr_name")} == {
        "dept_code": "A04", "dept_name": "外科", "caty": "A04", "atddr_no": "D110101000401", "dr_name": "赵永强"}
    assert request["ipt_otp_no"].startswith("MZ")
    mdtrt_id = first.ctx.pre_settlement.mdtrt_id
    _until_paying(first, services, v.SettlementConfirmed())
    assert first.state == v.State.PAYING and first.ctx.payment_order is not None
    _until_paying(first, services, v.Cancel())
    assert first.state == v.State.IDLE
    services.outbox.drain()  # the closed order's plan undoes the registration (2202)
    assert sandbox.registration_cancelled(mdtrt_id)
    assert [lock["state"] for lock in sandbox.registration.locks()] == ["released"]
    assert sandbox.registration.confirmed_registrations() == [] and sandbox.settlements() == []
    # the slot is free again: the second patient gets it and registers
    pump(second, second_kiosk, v.BackToServices())
    pump(second, second_kiosk, v.DepartmentChosen(index=1))
    pump(second, second_kiosk, v.SlotChosen(index=0))
    assert second.state == v.State.FEE_REVIEW
    for event in (v.FeesConfirmed(), v.SettlementConfirmed()):
        pump(second, second_kiosk, event, sandbox)
    assert second.state == v.State.RECEIPT and second.ctx.registered == Registered("04001", "门诊楼二层 外科候诊区")
    assert (visit_outcome(second.ctx), visit_errand(second.ctx)) == ("registered", "registration")
    receipt = Path(second.ctx.extra["receipt"]).read_text(encoding="utf-8")
    assert "就诊序号 Queue no." in receipt and "04001" in receipt and "赵永强" in receipt
    (confirmed,) = sandbox.registration.confirmed_registrations()
    assert confirmed["queue_no"] == "04001" and confirmed["terminal_no"] == "ZZJ-0002"


def test_department_screen_pages_four_at_a_time(qtbot) -> None:  # noqa: ANN001 - pytest-qt's fixture
    from kiosk.domain import VisitContext
    from ui.i18n import Translator
    from ui.registration_screens import build_registration_screens

    ctx = VisitContext()
    ctx.departments = tuple(Department(f"A{i:02d}", f"科{i}", f"A{i:02d}", "一层", i) for i in range(6))
    chosen: list[v.Event] = []
    screen, _doctors = build_registration_screens(Translator("zh_CN"), chosen.append, lambda: ctx)
    qtbot.addWidget(screen)
    screen.render(ctx)
    assert [t.property("action") for t in screen.tiles] == ["dept_0", "dept_1", "dept_2", "dept_3"]
    assert not screen.tiles[0].isEnabled() and screen.tiles[1].isEnabled()  # nothing left: greyed
    assert screen.button("more").isVisibleTo(screen) and screen.button("more").text() == "更多科室"
    screen.button("more").click()
    assert [t.property("action") for t in screen.tiles] == ["dept_4", "dept_5"]
    screen.tiles[1].click()
    assert chosen == [v.DepartmentChosen(index=5)]
    screen.button("more").click()
    assert screen.tiles[0].property("action") == "dept_0"  # round again
