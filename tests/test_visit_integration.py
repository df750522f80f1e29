"""Whole visits, headless: the pure machine driving the real parts (sandbox over HTTP, SQLite outbox,
dlib on the demo portrait, file printer), built by the composition root."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kiosk import visit as v
from kiosk.config import KioskConfig

from drivers.camera.replay import ReplayCamera
from drivers.card.virtual_card import Fault, VirtualSocialSecurityCard, load_holders
from drivers.gateway.sandbox.server import SandboxGateway
from scripts.composition import Services, build_services, demo_portrait
from scripts.demo import enroll_demo_face

HOLDERS = load_holders()


def pump(machine: v.VisitMachine, services: Services, event: v.Event, sandbox: SandboxGateway | None = None) -> None:
    """Feed an event and run every resulting effect to completion, synchronously. On the payment screen
    the patient pays the order's QR code with their phone (the sandbox's platform) before the wait."""
    queue = [event]
    while queue:
        for effect in machine.handle(queue.pop(0)):
            if isinstance(effect, v.AwaitPayment):
                assert sandbox is not None, "a visit with an own share needs the sandbox's phone to pay"
                sandbox.payments.scan(effect.order.order_no)
            result = services.effects.run(effect)
            if result is not None:
                queue.append(result)


def visit_to_confirm(machine: v.VisitMachine, services: Services, holder: str = "demo") -> None:
    services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS[holder]))
    pump(machine, services, v.CardInserted())
    assert machine.state == v.State.CONSENT, machine.ctx
    for event in (v.ConsentGiven(), v.PayFeesChosen(), v.FeesConfirmed()):
        pump(machine, services, event)
    assert machine.state == v.State.CONFIRM, (machine.state, machine.ctx.error_message)


@pytest.mark.slow
def test_happy_path_settles_once_and_prints(services: Services, sandbox: SandboxGateway) -> None:
    m = v.VisitMachine()
    visit_to_confirm(m, services)
    assert m.ctx.face is not None and m.ctx.face.liveness == "unavailable: replay camera"
    pump(m, services, v.SettlementConfirmed(), sandbox)
    assert m.state == v.State.RECEIPT and m.ctx.settlement is not None
    ledger = sandbox.settlements()
    assert [row["setl_id"] for row in ledger] == [m.ctx.settlement.setl_id]
    receipt = Path(m.ctx.extra["receipt"]).read_text(encoding="utf-8")
    for field in ("medfee_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay", "balc"):
        assert f"{float(ledger[0][field]):.2f}" in receipt
    assert "110101********1239" in receipt and "110101195603071239" not in receipt
    pump(m, services, v.Finish())
    assert m.state == v.State.IDLE and services.face._reference is None
    services.outbox.drain()  # the audit of the face check goes out like a settlement
    events = sandbox.audit_events()
    assert [e["event"] for e in events] == ["patient_face_verification"]
    assert events[0]["accepted"] is True and events[0]["band"] == "clear"
    psn_no = sandbox.psn_no_for_certno(HOLDERS["demo"].citizen_id)
    assert psn_no not in str(events) and events[0]["subject"].endswith(psn_no[-4:])
    assert "template" not in str(events) and "image" not in str(events)


@pytest.mark.slow
def test_cancel_after_trial_undoes_the_registration(services: Services, sandbox: SandboxGateway) -> None:
    m = v.VisitMachine()
    visit_to_confirm(m, services)
    mdtrt_id = m.ctx.pre_settlement.mdtrt_id
    pump(m, services, v.Cancel())
    assert m.state == v.State.IDLE and sandbox.settlements() == []
    psn_no = sandbox.psn_no_for_certno(HOLDERS["demo"].citizen_id)
    assert len(sandbox.pending_fees(psn_no)) == 3  # still owed: nothing was paid
    assert sandbox.registration_cancelled(mdtrt_id)


def queue_a_settlement_while_down(demo_config: KioskConfig, ledger: Path) -> tuple[
        KioskConfig, Services, v.VisitMachine, int]:
    """A visit whose network drops before the patient confirms: its settlement is queued. Returns the
    config, the (still open) services, the machine on its receipt and the stopped sandbox's port."""
    sandbox = SandboxGateway(ledger)
    sandbox.start()
    port = int(sandbox.url.rsplit(":", 1)[1])
    cfg = dataclasses.replace(demo_config, gateway=dataclasses.replace(demo_config.gateway, url=sandbox.service_url,
                                                                        connect_timeout_s=0.5))
    services = build_services(cfg, camera=ReplayCamera([demo_portrait()], fps=30))
    try:
        enroll_demo_face(sandbox, services)
        m = v.VisitMachine()
        services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS["demo"]))
        for event in (v.CardInserted(), v.ConsentGiven(), v.PayFeesChosen()):
            pump(m, services, event)
        assert m.state == v.State.FEE_REVIEW
        sandbox.stop()  # the network drops before the patient confirms
        pump(m, services, v.FeesConfirmed())
        assert m.state == v.State.RECEIPT and m.ctx.queued is not None
    except BaseException:
        services.close()
        sandbox.stop()
        raise
    return cfg, services, m, port


@pytest.mark.slow
def test_gateway_down_queues_then_settles_once_when_back(demo_config: KioskConfig, tmp_path: Path) -> None:
    ledger = tmp_path / "gw-ledger.sqlite"
    cfg, services, m, port = queue_a_settlement_while_down(demo_config, ledger)
    sandbox: SandboxGateway | None = None
    try:
        slip = Path(m.ctx.extra["receipt"]).read_text(encoding="utf-8")
        assert "NOT YET SETTLED" in slip and m.ctx.queued.reference in slip
        assert services.outbox.pending_count() == 2  # the queued settlement and the face check's audit event
        services.outbox.drain()
        assert services.outbox.pending_count() == 2  # still down: both kept
        sandbox = SandboxGateway(ledger, port=port)  # the network is back
        sandbox.start()
        services.outbox._clock = lambda: 4_000_000_000.0  # let the backoff expire
        assert sorted(d.state for d in services.outbox.drain()) == ["done", "done"]
        assert services.outbox.drain() == [] and services.outbox.pending_count() == 0
        assert [e["event"] for e in sandbox.audit_events()] == ["patient_face_verification"]
        settled = sandbox.settlements()
        assert len(settled) == 1 and settled[0]["medfee_sumamt"] == "97.10"
    finally:
        services.close()
        if sandbox is not None:
            sandbox.stop()


@pytest.mark.slow
@pytest.mark.parametrize(("holder", "fault", "code"), [
    ("demo", Fault.REMOVED_MID_READ, 101), ("demo", Fault.NOT_SSC, 103), ("expired", Fault.NONE, 105),
    ("unknown_person", Fault.NONE, 410), ("demo", Fault.MUTE, 102),
])
def test_identification_failures_end_on_the_error_screen(services: Services, holder: str, fault: Fault,
                                                         code: int) -> None:
    m = v.VisitMachine()
    services.card_reader.insert(VirtualSocialSecurityCard(HOLDERS[holder], fault=fault))
    pump(m, services, v.CardInserted())
    assert m.state == v.State.ERROR and m.ctx.error_code == code and m.ctx.person is None


def test_corrupt_queue_file_is_set_aside_and_reported_to_staff(demo_config: KioskConfig) -> None:
    data = Path(demo_config.data_dir)
    data.mkdir(parents=True)
    (data / "outbox.sqlite").write_bytes(b"garbage after a power cut" * 50)
    built = build_services(demo_config, camera=ReplayCamera([demo_portrait()], fps=30))
    try:
        online, pending, reader_ok, recovered = built.status()
        assert recovered and pending == 0 and reader_ok
        assert list(data.glob("outbox.sqlite.corrupt-*"))  # kept for staff, not deleted
        built.outbox.enqueue(visit_id="v1", kind="settlement_plan", payload={"steps": []})  # still works
    finally:
        built.close()


IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"BM", b"GIF8", b"II*\x00", b"MM\x00*", b"RIFF", b"\x93NUMPY")


def test_a_visit_leaves_no_face_image_or_template_on_disk_or_in_logs(services: Services, sandbox: SandboxGateway,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import numpy as np

    from kiosk.domain import InsuredPerson

    caplog.set_level(logging.DEBUG)
    data = services.cfg.data_path()
    m = v.VisitMachine()
    visit_to_confirm(m, services)
    pump(m, services, v.SettlementConfirmed(), sandbox)
    assert m.state == v.State.RECEIPT
    person = m.ctx.person
    assert isinstance(person, InsuredPerson)
    template = services.his.reference_template(person)
    assert template is not None
    pump(m, services, v.Finish())
    services.outbox.drain()
    forms = [template.tobytes(), template.astype(np.float32).tobytes(), f"{template[0]:.6f}".encode(),
             repr(float(template[0])).encode()]
    files = [p for p in data.rglob("*") if p.is_file()]
    assert files, "the visit wrote nothing at all?"
    for path in files:
        blob = path.read_bytes()
        assert not blob.startswith(IMAGE_MAGIC), f"{path} looks like an image"
        assert not any(form in blob for form in forms), f"{path} holds the face template"
    logged = caplog.text.encode()
    assert logged and not any(form in logged for form in forms)
    assert services.face._reference is None  # wiped at the end of the visit
