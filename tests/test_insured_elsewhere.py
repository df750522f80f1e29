"""Patients insured elsewhere (issue 18, PROTOCOL.md section 8): each insurance record classified against
the treatment area, the patient choosing among several, the chosen record in every later message, the
benefit check (2001) stopping a visit before anything is registered, and the funds of the split adding up.

The whole visits run the real parts: the sandbox over HTTP (its seeded people insured in other regions and
provinces), the SQLite outbox, dlib on the demo portrait and the virtual card in its in-process reader."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal

import pytest

from kiosk import visit as v
from kiosk.domain import SettlementAmounts
from kiosk.insurance import BenefitReason, InsuranceRecord, Locality, benefit_verdict, classify
from kiosk.regions import region_name
from kiosk.settlement import parse_person

from drivers.card.virtual_card import VirtualSocialSecurityCard, load_holders
from drivers.gateway.sandbox.server import SandboxGateway
from scripts.composition import Services
from scripts.demo import PATIENTS, enroll_demo_face
from tests.test_visit_integration import pump

HOLDERS = load_holders()
TODAY = dt.date(2026, 12, 2)


def test_each_record_is_classified_against_the_treatment_area() -> None:
    assert classify("110101", "110101") == Locality.LOCAL
    assert classify("110105", "110101") == Locality.IN_PROVINCE
    assert classify("119900", "110101") == Locality.IN_PROVINCE  # the municipality's own pool
    assert classify("440106", "110101") == Locality.CROSS_PROVINCE


def test_region_names_come_from_the_shipped_table() -> None:
    assert region_name("440106") == "广东省 广州市 天河区"
    assert region_name("440106", "en") == "Guangdong, 广州市 天河区"
    assert region_name("110105") == "北京市 朝阳区"  # a municipality: no "市辖区" level
    assert region_name("449900") == "广东省 省本级"
    assert region_name("130199", "en") == "Hebei, 石家庄市 city pool"
    assert region_name("12") == "" and region_name("990000") == "990000"


def test_several_insurance_records_are_all_kept_and_none_is_taken_silently() -> None:
    answer = {"baseinfo": {"psn_no": "P1", "certno": "110101198504182420", "psn_name": "刘芳"},
              "insuinfo": [{"insutype": "310", "balc": "25.60", "insuplc_admdvs": "110101"},
                           {"insutype": "390", "balc": "0", "insuplc_admdvs": "130102", "paus_insu_date": None}]}
    person = parse_person(answer)
    assert person.must_choose and [r.insutype for r in person.records] == ["310", "390"]
    chosen = person.choosing(1)
    assert (chosen.insutype, chosen.insuplc_admdvs, chosen.balance) == ("390", "130102", Decimal("0"))
    assert chosen.record == person.records[1]
    one = parse_person({**answer, "insuinfo": answer["insuinfo"][:1]})
    assert not one.must_choose and one.record.insuplc_admdvs == "110101"


def test_the_machine_asks_which_record_before_the_services() -> None:
    person = parse_person({"baseinfo": {"psn_no": "P1", "certno": "1", "psn_name": "刘芳"},
                           "insuinfo": [{"insutype": "310", "balc": "1", "insuplc_admdvs": "110101"},
                                        {"insutype": "390", "balc": "0", "insuplc_admdvs": "130102"}]})
    from kiosk.domain import FaceMatch

    m = v.VisitMachine()
    m.handle(v.CardInserted())
    m.handle(v.Identified(m.visit_id, person=person, document=None))  # type: ignore[arg-type]
    m.handle(v.ConsentGiven())
    accepted = FaceMatch(accepted=True, score=9.0, verdict="match", liveness="passed")
    m.handle(v.FaceChecked(m.visit_id, match=accepted))
    assert m.state == v.State.CHOOSE_INSURANCE
    assert m.handle(v.PayFeesChosen()) == [] and m.state == v.State.CHOOSE_INSURANCE  # no paying before choosing
    m.handle(v.InsuranceChosen(index=5))
    assert m.state == v.State.CHOOSE_INSURANCE  # no such record: nothing happens
    m.handle(v.InsuranceChosen(index=1))
    assert m.state == v.State.SERVICES and m.ctx.person.insuplc_admdvs == "130102"


def test_a_benefit_check_answer_is_read_leniently() -> None:
    record = InsuranceRecord("310", Decimal("1"), "510104")
    refused = {"trtinfo": [{"trt_chk_type": "01", "trt_enjymnt_flag": "1"},
                           {"trt_chk_type": "02", "trt_enjymnt_flag": "0", "trt_chk_rslt": "未备案"}]}
    assert benefit_verdict(refused, record, TODAY).reason == BenefitReason.NOT_FILED
    unknown = {"trtinfo": [{"trt_chk_type": "99", "trt_enjymnt_flag": 0, "trt_chk_rslt": "超过年度限额"}]}
    verdict = benefit_verdict(unknown, record, TODAY)
    assert verdict.reason == BenefitReason.REFUSED and verdict.detail == "超过年度限额"
    assert benefit_verdict({"trtinfo": "garbage"}, record, TODAY).allowed
    assert benefit_verdict({}, record, TODAY).allowed
    paused = InsuranceRecord("390", Decimal("0"), "110101", paused_since="2026-06-30")
    assert benefit_verdict({}, paused, TODAY).reason == BenefitReason.PAUSED
    assert InsuranceRecord("390", Decimal("0"), "110101", paused_since="2027-01-01").paused_on(TODAY) is False


def test_the_funds_must_make_the_bill() -> None:
    good = SettlementAmounts(Decimal("100.00"), Decimal("70.00"), Decimal("60.00"), Decimal("5.00"), Decimal("25.00"),
                             Decimal("0"), other_funds=(("hifmi_pay", Decimal("10.00")), ("maf_pay", Decimal("0"))))
    assert good.adds_up()
    assert good.funds() == {"hifp_pay": "60.00", "hifmi_pay": "10.00", "acct_pay": "5.00", "psn_cash_pay": "25.00"}
    short = SettlementAmounts(Decimal("100.00"), Decimal("70.00"), Decimal("60.00"), Decimal("5.00"), Decimal("25.00"),
                              Decimal("0"))
    assert not short.adds_up()


# ---- whole visits against the sandbox ---------------------------------------------------------------


def _to_services(machine: v.VisitMachine, services: Services, sandbox: SandboxGateway, holder: str) -> None:
    enroll_demo_face(sandbox, services, holder_key=holder)
    services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS[holder]))
    pump(machine, services, v.CardInserted())
    assert machine.state == v.State.CONSENT, machine.ctx
    pump(machine, services, v.ConsentGiven())


def _messages(sandbox: SandboxGateway) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{sandbox.ledger_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT infno, insuplc_admdvs, insutype FROM messages ORDER BY created, msgid").fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_a_cross_province_patient_settles_in_one_settlement(services: Services, sandbox: SandboxGateway) -> None:
    m = v.VisitMachine()
    _to_services(m, services, sandbox, PATIENTS["cross-province"])
    assert m.state == v.State.SERVICES
    assert m.ctx.person.record.locality("110101") == Locality.CROSS_PROVINCE
    for event in (v.PayFeesChosen(), v.FeesConfirmed()):
        pump(m, services, event)
    assert m.state == v.State.CONFIRM, m.ctx.error_message
    pump(m, services, v.SettlementConfirmed(), sandbox)
    assert m.state == v.State.RECEIPT and m.ctx.settlement is not None
    amounts = m.ctx.settlement.amounts
    funds = amounts.funds()
    assert {"hifp_pay", "psn_cash_pay"} <= set(funds)
    assert sum(Decimal(x) for x in funds.values()) == amounts.medfee_sumamt == Decimal("103.60")
    assert funds["hifp_pay"] == "77.70"  # Guangdong's ratio (0.75), not the treatment area's (0.70)
    ledger = sandbox.settlements()
    assert len(ledger) == 1 and ledger[0]["setl_id"] == m.ctx.settlement.setl_id
    after_1101 = [row for row in _messages(sandbox) if row["infno"] not in ("9001", "1101")]
    assert [row["infno"] for row in after_1101][:5] == ["5301", "2001", "2201", "2204", "2206"]
    assert {row["insuplc_admdvs"] for row in after_1101} == {"440106"}


@pytest.mark.slow
@pytest.mark.parametrize(("patient", "reason"), [("cross-province-unfiled", "not_filed"), ("paused", "paused"),
                                                 ("no-cross-province-outpatient", "no_cross_province_outpatient")])
def test_a_refused_benefit_stops_the_visit_before_anything_is_registered(
        services: Services, sandbox: SandboxGateway, patient: str, reason: str) -> None:
    m = v.VisitMachine()
    _to_services(m, services, sandbox, PATIENTS[patient])
    pump(m, services, v.PayFeesChosen())
    assert m.state == v.State.ERROR and m.ctx.error_message == f"benefit.{reason}" and m.ctx.error_code == 420
    infnos = [row["infno"] for row in _messages(sandbox)]
    assert "2201" not in infnos and sandbox.settlements() == []
    assert ("2001" in infnos) == (reason != "paused")  # a pause 1101 already shows needs no question


@pytest.mark.slow
def test_the_second_record_chosen_by_touch_goes_into_every_later_message(services: Services,
                                                                         sandbox: SandboxGateway) -> None:
    m = v.VisitMachine()
    _to_services(m, services, sandbox, PATIENTS["two-records"])
    assert m.state == v.State.CHOOSE_INSURANCE
    before = len(_messages(sandbox))
    pump(m, services, v.InsuranceChosen(index=1))
    for event in (v.PayFeesChosen(), v.FeesConfirmed(), v.SettlementConfirmed()):
        pump(m, services, event, sandbox)
    assert m.state == v.State.RECEIPT, (m.state, m.ctx.error_message)
    later = _messages(sandbox)[before:]
    assert {row["infno"] for row in later} >= {"2001", "2201", "2204", "2206", "2207"}
    assert {row["insuplc_admdvs"] for row in later} == {"130102"}
    assert {row["insutype"] for row in later if row["insutype"]} == {"390"}


@pytest.mark.slow
def test_a_low_income_patient_gets_medical_assistance_and_critical_illness_on_a_large_bill(
        services: Services, sandbox: SandboxGateway) -> None:
    m = v.VisitMachine()
    _to_services(m, services, sandbox, PATIENTS["low-income"])
    for event in (v.PayFeesChosen(), v.FeesConfirmed(), v.SettlementConfirmed()):
        pump(m, services, event, sandbox)
    assert m.state == v.State.RECEIPT, (m.state, m.ctx.error_message)
    amounts = m.ctx.settlement.amounts
    funds = amounts.funds()
    assert Decimal(funds["maf_pay"]) > 0 and Decimal(funds["hifmi_pay"]) > 0
    assert sum(Decimal(x) for x in funds.values()) == amounts.medfee_sumamt == Decimal("2860.00")
    receipt = open(m.ctx.extra["receipt"], encoding="utf-8").read()
    for words in ("医疗救助 Medical assistance", "大病保险 Critical illness", "基本医保统筹 Basic insurance"):
        assert words in receipt
    for amount in funds.values():
        assert amount in receipt


def test_only_valid_chronic_filings_are_offered() -> None:
    from kiosk.insurance import chronic_filings

    answer = {"feedetail": [
        {"opsp_dise_code": "M03900", "opsp_dise_name": "高血压", "begndate": "2025-01-01", "enddate": "2027-12-31"},
        {"opsp_dise_code": "M01600", "opsp_dise_name": "糖尿病", "begndate": "2020-01-01", "enddate": "2025-12-31"},
        {"opsp_dise_code": "", "opsp_dise_name": "no code"}, "garbage",
        {"opsp_dise_code": "M07800", "begndate": "not a date"}]}
    assert [f.code for f in chronic_filings(answer, TODAY)] == ["M03900"]  # expired, empty, broken: left out
    assert chronic_filings({"feedetail": "x"}, TODAY) == () and chronic_filings({}, TODAY) == ()


@pytest.mark.slow
def test_a_chronic_disease_visit_carries_its_code_and_medical_type_through_every_step(
        services: Services, sandbox: SandboxGateway) -> None:
    import json

    m = v.VisitMachine()
    _to_services(m, services, sandbox, PATIENTS["chronic"])
    pump(m, services, v.PayFeesChosen())
    assert m.state == v.State.CHOOSE_VISIT_TYPE and [f.code for f in m.ctx.chronic] == ["M03900"]
    before = len(_messages(sandbox))
    pump(m, services, v.VisitTypeChosen(index=0))
    assert m.state == v.State.FEE_REVIEW and m.ctx.person.med_type == "14"
    for event in (v.FeesConfirmed(), v.SettlementConfirmed()):
        pump(m, services, event, sandbox)
    assert m.state == v.State.RECEIPT, (m.state, m.ctx.error_message)
    conn = sqlite3.connect(f"file:{sandbox.ledger_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT infno, request FROM messages ORDER BY created, msgid").fetchall()[before:]
        registered = conn.execute("SELECT med_type, dise_codg FROM registrations").fetchall()
    finally:
        conn.close()
    steps = {infno: json.loads(request) for infno, request in rows}
    assert {"2001", "2201", "2203", "2204", "2206", "2207"} <= set(steps)
    for infno in ("2001", "2201", "2206", "2207"):
        assert (steps[infno]["data"]["med_type"], steps[infno]["data"]["dise_codg"]) == ("14", "M03900"), infno
    assert steps["2203"]["mdtrtinfo"]["dise_codg"] == "M03900" and steps["2203"]["diseinfo"][0]["diag_code"] == "M03900"
    assert {line["med_type"] for line in steps["2204"]["feedetail"]} == {"14"}
    assert registered == [("14", "M03900")]
    assert m.ctx.settlement.amounts.hifp_pay == Decimal("64.09")  # the chronic ratio (0.85) of 75.40


@pytest.mark.slow
def test_a_patient_with_a_chronic_disease_may_still_choose_an_ordinary_visit(
        services: Services, sandbox: SandboxGateway) -> None:
    m = v.VisitMachine()
    _to_services(m, services, sandbox, PATIENTS["chronic"])
    pump(m, services, v.PayFeesChosen())
    pump(m, services, v.VisitTypeChosen(index=-1))
    assert m.state == v.State.FEE_REVIEW and m.ctx.person.med_type == "11" and m.ctx.person.dise_codg == ""
    assert m.handle(v.VisitTypeChosen(index=0)) == []  # chosen once: a late second tap changes nothing


def _pre_audits(sandbox: SandboxGateway) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(f"file:{sandbox.ledger_path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT rule_name, out_setl_flag, dspo_way FROM pre_audits").fetchall()
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize(("goes_on", "disposition"), [(True, "1"), (False, "2")])
def test_a_pre_audit_warning_is_shown_before_confirming_and_its_handling_fed_back(
        services: Services, sandbox: SandboxGateway, goes_on: bool, disposition: str) -> None:
    m = v.VisitMachine()
    _to_services(m, services, sandbox, PATIENTS["low-income"])  # 7 boxes of one drug: over the sandbox's limit
    for event in (v.PayFeesChosen(), v.FeesConfirmed()):
        pump(m, services, event)
    assert m.state == v.State.CONFIRM
    warnings = m.ctx.pre_settlement.warnings
    assert len(warnings) == 1 and "YP5102" in warnings[0].message and warnings[0].rule == "超量开药"
    assert _pre_audits(sandbox) == [("超量开药", "2", "")]  # out_setl_flag 2: insured where treated
    pump(m, services, v.SettlementConfirmed() if goes_on else v.Cancel(), sandbox)
    assert _pre_audits(sandbox) == [("超量开药", "2", disposition)]
    assert (m.state == v.State.RECEIPT) == goes_on
