"""The services menu's information errands (kiosk/errands.py): the views from real gateway answers, the
machine's ERRAND state, and whole visits on the real services and sandbox: records after a settlement,
this year's totals, chronic filings, and one errand failing (the hospital system down) while another works."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from kiosk import visit as v
from kiosk.domain import InsuredPerson
from kiosk.errands import ErrandView, balance_view, records_view
from kiosk.insurance import InsuranceRecord
from kiosk.visit_outcome import visit_errand, visit_outcome

from drivers.card.virtual_card import VirtualSocialSecurityCard, load_holders
from drivers.gateway.sandbox.server import SandboxGateway
from scripts.composition import Services, build_services

from test_visit_integration import pump

HOLDERS = load_holders()


def _person(*records: InsuranceRecord) -> InsuredPerson:
    first = records[0]
    return InsuredPerson(psn_no="P1", certno="C1", name="N", gender="1", birth_date="1950-01-01", age="76",
                         insutype=first.insutype, balance=first.balance, insuplc_admdvs=first.insuplc_admdvs,
                         records=records)


def test_records_view_reads_5203_answers() -> None:
    view = records_view([{"setl_time": "2026-11-30 10:01:02", "setl_id": "S1", "medfee_sumamt": Decimal("97.1"),
                          "fund_pay_sumamt": "67.97", "psn_cash_pay": "17.13", "refd_setl_flag": "0"},
                         {"setl_time": "2026-11-01 09:00:00", "setl_id": "S0", "medfee_sumamt": "x",
                          "refd_setl_flag": "1"}])
    assert view.rows == (("2026-11-30", "S1", "97.10", "67.97", "17.13", "0"), ("2026-11-01", "S0", "", "", "", "1"))
    assert view.counts == {"rows": 2}


def test_balance_view_totals_per_record_and_year() -> None:
    person = _person(InsuranceRecord("310", Decimal("12.00"), "110101"), InsuranceRecord("390", Decimal("0"), "130102"))
    cumulative = {"cumlis": [
        {"insutype": "310", "year": "2026", "cum_type_code": "medfee_sumamt", "cum": "97.10"},
        {"insutype": "310", "year": "2026", "cum_type_code": "psn_cash_pay", "cum": "17.13"},
        {"insutype": "310", "year": "2025", "cum_type_code": "medfee_sumamt", "cum": "999.00"},  # another year
        "garbage"]}
    view = balance_view(person, cumulative, 2026)
    assert view.rows == (("310", "110101", "12.00", "97.10", "0.00", "17.13"),
                         ("390", "130102", "0.00", "0.00", "0.00", "0.00"))
    assert balance_view(person, {"cumlis": "not a list"}, 2026).rows[0][3:] == ("0.00", "0.00", "0.00")


def test_machine_errands_and_back() -> None:
    m = v.VisitMachine()
    m.state, m.visit_id, m.ctx.person = v.State.SERVICES, "v1", _person(InsuranceRecord("310", Decimal("1"), "110101"))
    effects = m.handle(v.ErrandChosen("v1", errand="records"))
    assert effects == [v.ShowErrand("v1", m.ctx.person, "records")]
    assert m.handle(v.ErrandChosen("v1", errand="balance")) == []  # one at a time
    m.handle(v.ErrandFailed("v1", errand="records", reason="unreachable"))
    assert m.state == v.State.SERVICES and m.ctx.extra["errand_hint"] == "failed:records.unreachable"
    assert m.handle(v.ErrandChosen("v1", errand="unknown")) == []
    m.handle(v.ErrandChosen("v1", errand="balance"))
    m.handle(v.ErrandShown("v1", view=ErrandView("balance", (("310",),))))
    assert m.state == v.State.ERRAND and m.ctx.errand.errand == "balance"
    m.handle(v.BackToServices("v1"))
    assert m.state == v.State.SERVICES and m.ctx.errand is None
    assert (visit_outcome(m.ctx), visit_errand(m.ctx)) == ("served", "balance")
    m.handle(v.Cancel())
    assert m.state == v.State.IDLE


def _identified(services: Services, holder: str = "demo") -> v.VisitMachine:
    m = v.VisitMachine()
    services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS[holder]))
    pump(m, services, v.CardInserted())
    pump(m, services, v.ConsentGiven())
    assert m.state == v.State.SERVICES, (m.state, m.ctx.error_message)
    return m


@pytest.mark.slow
def test_records_and_balance_after_a_settlement(services: Services, sandbox: SandboxGateway) -> None:
    m = _identified(services)
    for event in (v.ErrandChosen(errand="records"),):
        pump(m, services, event)
    assert m.state == v.State.ERRAND and m.ctx.errand.rows == ()  # nothing settled yet
    pump(m, services, v.BackToServices())
    for event in (v.PayFeesChosen(), v.FeesConfirmed(), v.SettlementConfirmed()):
        pump(m, services, event, sandbox)
    assert m.state == v.State.RECEIPT
    settlement = m.ctx.settlement
    pump(m, services, v.Finish())
    services.card_reader.remove()

    m = _identified(services)
    pump(m, services, v.ErrandChosen(errand="records"))
    (row,) = m.ctx.errand.rows
    assert row[1:5] == (settlement.setl_id, f"{settlement.amounts.medfee_sumamt:.2f}",
                        f"{settlement.amounts.fund_pay_sumamt:.2f}", f"{settlement.amounts.psn_cash_pay:.2f}")
    assert row[0] == dt.date.today().isoformat() and row[5] == "0"
    pump(m, services, v.CopyRequested(index=0))  # "print again": marked as a copy
    assert m.state == v.State.ERRAND and m.ctx.extra["copy_hint"] == "printed"
    copy = Path(m.ctx.extra["copy_path"]).read_text(encoding="utf-8")
    assert "*** 副本 COPY ***" in copy and settlement.setl_id in copy and "110101********1239" in copy
    assert f"{settlement.amounts.medfee_sumamt:.2f}" in copy and "110101195603071239" not in copy
    pump(m, services, v.BackToServices())
    pump(m, services, v.ErrandChosen(errand="balance"))
    (record,) = m.ctx.errand.rows
    assert record[:3] == ("310", "110101", f"{settlement.amounts.balc:.2f}")
    assert record[3:] == tuple(f"{x:.2f}" for x in (settlement.amounts.medfee_sumamt,
                                                      settlement.amounts.fund_pay_sumamt,
                                                      settlement.amounts.psn_cash_pay))
    pump(m, services, v.Finish())
    assert m.state == v.State.IDLE


@pytest.mark.slow
def test_filings_of_a_chronic_patient(services: Services, sandbox: SandboxGateway) -> None:
    from scripts.demo import enroll_demo_face

    enroll_demo_face(sandbox, services, holder_key="chronic")
    m = _identified(services, "chronic")
    pump(m, services, v.ErrandChosen(errand="filings"))
    assert m.ctx.errand.rows == (("高血压", "M03900", "2025-01-01", "2027-12-31"),)


@pytest.mark.slow
def test_one_errand_down_leaves_the_others(services: Services, sandbox: SandboxGateway, demo_config) -> None:
    """The hospital system unreachable (its own address, nothing listening): "my settlements" says so and
    the menu stays; the balance, answered by the insurance gateway, still works."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    m = _identified(services)
    # a second kiosk of the same institution (its own outbox): its own msgid lane, as two terminals must
    cfg = dataclasses.replace(demo_config, gateway=dataclasses.replace(demo_config.gateway, his_url=dead),
                              terminal=dataclasses.replace(demo_config.terminal, msgid_lane="7"),
                              data_dir=demo_config.data_dir + "-his-down")
    down = build_services(cfg, camera=services.camera)
    try:
        pump(m, down, v.ErrandChosen(errand="records"))
        assert m.state == v.State.SERVICES and m.ctx.extra["errand_hint"] == "failed:records.unreachable"
        pump(m, down, v.ErrandChosen(errand="balance"))
        assert m.state == v.State.ERRAND and m.ctx.errand.errand == "balance"
    finally:
        down.close()
