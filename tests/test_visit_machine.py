"""Whole visits, headless, against the pure state machine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kiosk import visit as v
from kiosk.domain import (
    CertType,
    FaceMatch,
    FeeItem,
    IdentityDocument,
    InsuredPerson,
    PreSettlement,
    QueuedSettlement,
    Settlement,
    SettlementAmounts,
)

from drivers.card.virtual_card import load_holders

CARD = load_holders()["demo"]
DOC = IdentityDocument(CertType.SOCIAL_SECURITY_CARD, CARD.card_no, CARD.card_sn, CARD.citizen_id, CARD.name)
PERSON = InsuredPerson("P1", CARD.citizen_id, CARD.name, "2", "1956-03-07", "70", "310", Decimal("100.00"), "110101")
FEES = (FeeItem("F1", "诊查费", "c", "m", Decimal("1"), Decimal("25.00"), Decimal("25.00")),)
AMOUNTS = SettlementAmounts(*(Decimal(x) for x in ("25.00", "17.50", "17.50", "7.50", "0.00", "92.50")))
PRE = PreSettlement("MD1", "B1", AMOUNTS)
SETTLED = Settlement("ST1", "MD1", "M" * 30, "2026-11-22 10:00:00", AMOUNTS)
GOOD_FACE = FaceMatch(9.0, "match", True, "passed")
BAD_FACE = FaceMatch(1.0, "mismatch", False, "not run: mismatch")


def drive_to(machine: v.VisitMachine, target: v.State) -> list[v.Effect]:
    """Feed the events of a normal visit until ``target``; returns the effects of the last step."""
    script: list[tuple[v.State, object]] = [
        (v.State.IDENTIFYING, lambda vid: v.CardInserted()),
        (v.State.CONSENT, lambda vid: v.Identified(vid, person=PERSON, document=DOC)),
        (v.State.FACE_VERIFY, lambda vid: v.ConsentGiven()),
        (v.State.SERVICES, lambda vid: v.FaceChecked(vid, match=GOOD_FACE)),
        (v.State.FEE_REVIEW, lambda vid: v.FeesLoaded(vid, fees=FEES)),
        (v.State.PREPARING, lambda vid: v.FeesConfirmed()),
        (v.State.CONFIRM, lambda vid: v.Prepared(vid, pre_settlement=PRE)),
        (v.State.SETTLING, lambda vid: v.SettlementConfirmed()),
        (v.State.RECEIPT, lambda vid: v.Settled(vid, settlement=SETTLED)),
    ]
    effects: list[v.Effect] = []
    for state, make in script:
        effects = machine.handle(make(machine.visit_id))  # type: ignore[operator]
        assert machine.state == state
        if state == target:
            return effects
    raise AssertionError(f"{target} not on the happy path")


def test_happy_path_visits_every_state_and_asks_for_each_effect() -> None:
    m = v.VisitMachine()
    assert m.handle(v.CardInserted()) == [v.ReadCard(m.visit_id)]
    vid = m.visit_id
    assert m.handle(v.CardRead(vid, identity=CARD)) == [v.Identify(vid, CARD)]
    m.handle(v.Identified(vid, person=PERSON, document=DOC))
    assert m.handle(v.ConsentGiven()) == [v.VerifyFace(vid, PERSON, 1)]
    m.handle(v.FaceChecked(vid, match=GOOD_FACE))
    assert m.handle(v.PayFeesChosen()) == [v.LoadFees(vid, PERSON)]
    m.handle(v.FeesLoaded(vid, fees=FEES))
    assert m.handle(v.FeesConfirmed()) == [v.CheckPrinter(vid), v.Prepare(vid, PERSON, DOC, FEES)]
    assert m.handle(v.PrinterChecked(vid, ready=False, detail="out of paper")) == []
    assert m.ctx.extra["printer_warning"] == "out of paper"  # shown on the confirm screen, before paying
    m.handle(v.Prepared(vid, pre_settlement=PRE))
    assert m.handle(v.SettlementConfirmed()) == [v.Settle(vid, PERSON, DOC, PRE, FEES)]
    assert m.handle(v.Settled(vid, settlement=SETTLED)) == [v.PrintReceipt(vid, PERSON, FEES, settlement=SETTLED)]
    m.handle(v.ReceiptPrinted(vid, path="/tmp/r.txt"))
    assert m.ctx.extra["receipt"] == "/tmp/r.txt"
    assert m.handle(v.Finish()) == [v.VisitEnded(vid, "settled", "pay_fees"), v.WipeSecrets(vid)]
    assert m.state == v.State.IDLE and m.ctx.person is None and m.ctx.settlement is None
    assert [s.value for s in m.history] == ["idle", "identifying", "consent", "face_verify", "services",
                                            "fee_review", "preparing", "confirm", "settling", "receipt", "idle"]


@pytest.mark.parametrize("state", [v.State.IDENTIFYING, v.State.CONSENT, v.State.FACE_VERIFY, v.State.SERVICES,
                                   v.State.FEE_REVIEW, v.State.PREPARING])
@pytest.mark.parametrize("interrupt", [v.CardRemoved, v.Cancel, v.IdleTimeout])
def test_interruptions_before_registration_reset_and_wipe(state: v.State, interrupt: type[v.Event]) -> None:
    m = v.VisitMachine()
    drive_to(m, state)
    vid = m.visit_id
    errand = "pay_fees" if state in (v.State.FEE_REVIEW, v.State.PREPARING) else "identify"
    assert m.handle(interrupt()) == [v.VisitEnded(vid, "abandoned", errand), v.WipeSecrets(vid)]
    assert m.state == v.State.IDLE and m.ctx.person is None and m.visit_id == ""


@pytest.mark.parametrize("interrupt", [v.CardRemoved, v.Cancel, v.IdleTimeout])
def test_interruption_after_trial_cancels_the_registration(interrupt: type[v.Event]) -> None:
    m = v.VisitMachine()
    drive_to(m, v.State.CONFIRM)
    vid = m.visit_id
    assert m.handle(interrupt()) == [v.CancelPrepared(vid, PERSON, PRE), v.VisitEnded(vid, "abandoned", "pay_fees"),
                                     v.WipeSecrets(vid)]
    assert m.state == v.State.IDLE


def test_card_pulled_during_settlement_does_not_interrupt_it() -> None:
    m = v.VisitMachine()
    drive_to(m, v.State.SETTLING)
    vid = m.visit_id
    assert m.handle(v.CardRemoved()) == [] and m.handle(v.IdleTimeout()) == []
    assert m.state == v.State.SETTLING
    m.handle(v.Settled(vid, settlement=SETTLED))
    assert m.state == v.State.RECEIPT
    assert m.handle(v.CardRemoved()) == [] and m.state == v.State.RECEIPT  # taking the card is expected here


def test_gateway_down_queues_the_settlement() -> None:
    m = v.VisitMachine()
    drive_to(m, v.State.PREPARING)
    vid = m.visit_id
    assert m.handle(v.GatewayDown(vid)) == [v.SettleOffline(vid, PERSON, DOC, FEES)]
    assert m.state == v.State.SETTLING
    queued = QueuedSettlement("Q20261122000001", Decimal("25.00"))
    assert m.handle(v.Queued(vid, queued=queued)) == [v.PrintReceipt(vid, PERSON, FEES, queued=queued)]
    assert m.state == v.State.RECEIPT and m.ctx.queued == queued
    # a queued plan is never cancelled by a reset
    assert m.handle(v.Finish()) == [v.VisitEnded(vid, "queued", "pay_fees"), v.WipeSecrets(vid)]


def test_late_result_of_an_abandoned_visit_is_ignored() -> None:
    m = v.VisitMachine()
    m.handle(v.CardInserted())
    old = m.visit_id
    m.handle(v.Cancel())
    m.handle(v.CardInserted())
    assert m.handle(v.Identified(old, person=PERSON, document=DOC)) == []
    assert m.state == v.State.IDENTIFYING and m.ctx.person is None


GREY_FACE = FaceMatch(5.0, "grey", False, "not run: grey")
UNLIVE_FACE = FaceMatch(9.0, "match", False, "failed: timeout")


def test_face_retries_a_grey_or_failed_liveness_attempt_then_sends_to_staff() -> None:
    m = v.VisitMachine(max_face_attempts=3)
    drive_to(m, v.State.FACE_VERIFY)
    vid = m.visit_id
    assert m.handle(v.FaceChecked(vid, match=GREY_FACE)) == [v.VerifyFace(vid, PERSON, 2)]
    assert m.handle(v.FaceChecked(vid, match=UNLIVE_FACE)) == [v.VerifyFace(vid, PERSON, 3)]
    assert m.handle(v.FaceChecked(vid, match=GREY_FACE)) == []
    assert m.state == v.State.ERROR and m.ctx.error_message == "face_attempts_exhausted"


def test_a_clear_mismatch_is_not_retried() -> None:
    """An impostor gets no second burst: only the grey zone (and a failed challenge) is tried again."""
    m = v.VisitMachine(max_face_attempts=3)
    drive_to(m, v.State.FACE_VERIFY)
    vid = m.visit_id
    assert m.handle(v.FaceChecked(vid, match=GREY_FACE)) == [v.VerifyFace(vid, PERSON, 2)]
    assert m.handle(v.FaceChecked(vid, match=BAD_FACE)) == []
    assert m.state == v.State.ERROR and m.ctx.error_message == "face_mismatch" and m.ctx.error_code == 203


def test_failures_show_the_error_and_finish_resets() -> None:
    m = v.VisitMachine()
    m.handle(v.CardInserted())
    vid = m.visit_id
    m.handle(v.Failed(vid, code=105, message="card expired"))
    assert m.state == v.State.ERROR and m.ctx.error_code == 105
    m.handle(v.Finish())
    assert m.state == v.State.IDLE


def test_business_refusal_of_settlement_keeps_registration_for_cancel() -> None:
    m = v.VisitMachine()
    drive_to(m, v.State.SETTLING)
    vid = m.visit_id
    m.handle(v.Failed(vid, code=410, message="余额不足"))
    assert m.state == v.State.ERROR and m.ctx.error_message == "余额不足"
    assert m.handle(v.Finish()) == [v.CancelPrepared(vid, PERSON, PRE), v.VisitEnded(vid, "failed", "pay_fees"),
                                    v.WipeSecrets(vid)]


def test_consent_declined_offers_the_counter() -> None:
    m = v.VisitMachine()
    drive_to(m, v.State.CONSENT)
    m.handle(v.ConsentDeclined())
    assert m.state == v.State.ERROR and m.ctx.error_message == "consent_declined"


def test_double_taps_are_ignored() -> None:
    m = v.VisitMachine()
    drive_to(m, v.State.CONFIRM)
    assert len(m.handle(v.SettlementConfirmed())) == 1
    assert m.handle(v.SettlementConfirmed()) == []  # one settlement attempt per visit at a time
    assert m.handle(v.CardInserted()) == []


def test_no_fees_means_nothing_to_settle() -> None:
    m = v.VisitMachine()
    drive_to(m, v.State.SERVICES)
    m.handle(v.FeesLoaded(m.visit_id, fees=()))
    assert m.state == v.State.FEE_REVIEW and m.handle(v.FeesConfirmed()) == []


def test_visit_context_repr_does_not_leak() -> None:
    assert CARD.citizen_id not in repr(PERSON) and CARD.citizen_id not in repr(DOC)


def test_reprint_only_after_a_failed_print() -> None:
    m = v.VisitMachine()
    m.state = v.State.RECEIPT
    m.visit_id = "v9"
    m.ctx.person, m.ctx.fees = PERSON, FEES
    assert m.handle(v.ReprintRequested()) == []  # it printed: nothing to do
    m.handle(v.ReceiptPrinted("v9", error="out of paper"))
    (effect,) = m.handle(v.ReprintRequested())
    assert isinstance(effect, v.PrintReceipt) and effect.person == PERSON and m.ctx.extra["print_error"] == ""
