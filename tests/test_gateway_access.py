"""Gateway access profile ``tif`` (PROTOCOL.md section 9) against the sandbox enforcing it over real
HTTP: the signature, a wrong secret, a replayed nonce and a skewed clock each get their own refusal and
message, and none of them is taken for a network outage (nothing is queued)."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kiosk import visit as v
from kiosk.config import CardConfig, GatewayConfig, KioskConfig, TerminalConfig, load_config
from kiosk.domain import CertType, IdentityDocument
from kiosk.errors import ConfigError, GatewayAccessRefused

from drivers.gateway.access import TifPolicy, tif_headers, tif_signature
from drivers.gateway.client import HttpGateway, post as _post
from drivers.gateway.sandbox.server import SandboxGateway
from offline_queue.msgids import SqliteMsgIdSource
from offline_queue.store import open_store

SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
DEMO_CERTNO = "110101195603071239"


def test_signature_is_sha256_of_timestamp_secret_nonce_timestamp() -> None:
    expected = hashlib.sha256(b"1764633600s3cretn0nce1764633600").hexdigest()
    assert tif_signature("1764633600", "s3cret", "n0nce") == expected
    headers = tif_headers("P001", "s3cret", now=1764633600, nonce="n0nce")
    assert headers == {"x-tif-paasid": "P001", "x-tif-timestamp": "1764633600", "x-tif-nonce": "n0nce",
                       "x-tif-signature": expected}
    assert tif_headers("P001", "s3cret")["x-tif-nonce"] != tif_headers("P001", "s3cret")["x-tif-nonce"]


@pytest.fixture
def tif_sandbox(tmp_path: Path) -> Iterator[SandboxGateway]:
    gateway = SandboxGateway(tmp_path / "ledger.sqlite", access=TifPolicy("PAAS0001", SECRET))
    gateway.start()
    yield gateway
    gateway.stop()


def _gateway(tmp_path: Path, sandbox: SandboxGateway, secret: str, **changes: object) -> HttpGateway:
    secret_file = tmp_path / f"secret-{len(secret)}-{secret[:4]}"
    secret_file.write_text(secret)
    cfg = GatewayConfig(url=sandbox.service_url, profile="tif", paasid="PAAS0001", secret_file=str(secret_file),
                        read_timeout_s=5.0)
    cfg = dataclasses.replace(cfg, **changes)
    store = open_store(tmp_path / f"outbox-{secret[:4]}.sqlite")
    return HttpGateway(cfg, TerminalConfig(), SqliteMsgIdSource(store, "H11010100001"))


def _identify(gateway: HttpGateway) -> object:
    from kiosk.settlement import parse_person

    doc = IdentityDocument(CertType.ID_CARD, DEMO_CERTNO, citizen_id=DEMO_CERTNO)
    return parse_person(gateway.call("1101", {"data": {"mdtrt_cert_type": doc.cert_type.value,
                                                       "mdtrt_cert_no": doc.cert_no, "certno": DEMO_CERTNO,
                                                       "psn_cert_type": "01"}}, msgid="H11010100001" + "0" * 18))


def test_the_right_secret_passes_and_the_wrong_one_is_a_configuration_fault(tmp_path: Path,
                                                                           tif_sandbox: SandboxGateway) -> None:
    assert _identify(_gateway(tmp_path, tif_sandbox, SECRET)).certno == DEMO_CERTNO
    with pytest.raises(GatewayAccessRefused) as refused:
        _identify(_gateway(tmp_path, tif_sandbox, "not-the-secret"))
    assert refused.value.reason == "signature" and "gateway.secret_file" in str(refused.value)
    assert refused.value.exit_status == 14
    with pytest.raises(GatewayAccessRefused) as unknown:
        _identify(_gateway(tmp_path, tif_sandbox, SECRET, paasid="PAAS9999"))
    assert unknown.value.reason == "paasid"
    plain = HttpGateway(GatewayConfig(url=tif_sandbox.service_url), TerminalConfig(),
                        SqliteMsgIdSource(open_store(tmp_path / "plain.sqlite"), "H11010100001"))
    with pytest.raises(GatewayAccessRefused):  # the plain profile against a gateway that asks for tif
        _identify(plain)


def test_a_replayed_nonce_and_a_skewed_clock_are_refused_with_their_own_fix(tif_sandbox: SandboxGateway) -> None:
    headers = tif_headers("PAAS0001", SECRET)
    session = requests.Session()
    session.trust_env = False
    first = session.post(tif_sandbox.service_url, data=b"{}", headers=headers, timeout=5)
    assert first.status_code == 200  # past the access layer (the envelope itself is refused inside)
    with pytest.raises(GatewayAccessRefused) as replay:
        _post(session, tif_sandbox.service_url, b"{}", (3, 5), "1101", headers)
    assert replay.value.reason == "nonce"
    skewed = tif_headers("PAAS0001", SECRET, now=time.time() - 900)
    with pytest.raises(GatewayAccessRefused) as stale:
        _post(session, tif_sandbox.service_url, b"{}", (3, 5), "1101", skewed)
    assert stale.value.reason == "stale" and "time sync" in str(stale.value)
    session.close()


@pytest.mark.slow
def test_a_refused_access_ends_the_visit_with_its_message_and_queues_nothing(tmp_path: Path,
                                                                            tif_sandbox: SandboxGateway) -> None:
    from drivers.camera.replay import ReplayCamera
    from drivers.card.virtual_card import VirtualSocialSecurityCard, load_holders
    from scripts.composition import build_services, demo_portrait
    from tests.test_visit_integration import pump

    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not-the-secret")
    key = tmp_path / "payment.key"
    key.write_bytes(tif_sandbox.payment_key)
    cfg = KioskConfig(data_dir=str(tmp_path / "data"), card=CardConfig(reader="virtual"))
    cfg = dataclasses.replace(cfg, gateway=GatewayConfig(url=tif_sandbox.service_url, profile="tif",
                                                         paasid="PAAS0001", secret_file=str(wrong)),
                              payment=dataclasses.replace(cfg.payment, key_file=str(key)))
    built = build_services(cfg, camera=ReplayCamera([demo_portrait()], fps=30))
    try:
        machine = v.VisitMachine()
        built.card_reader.insert(VirtualSocialSecurityCard(load_holders()["demo"]))
        pump(machine, built, v.CardInserted())
        assert machine.state == v.State.ERROR and machine.ctx.error_code == 405
        assert "gateway.secret_file" in machine.ctx.error_message
        assert built.outbox.pending_count() == 0  # an access refusal is not an outage: nothing queued
    finally:
        built.close()


def test_production_tif_needs_its_access_id_and_secret() -> None:
    base = {"KIOSK_MODE": "production", "KIOSK_GATEWAY_URL": "https://gw.example/fsi",
            "KIOSK_PAYMENT_PROVIDER": "none", "KIOSK_GATEWAY_PROFILE": "tif"}
    with pytest.raises(ConfigError, match="gateway.paasid"):
        load_config(env=base)
    cfg = load_config(env={**base, "KIOSK_GATEWAY_PAASID": "P1", "KIOSK_GATEWAY_SECRET_FILE": "/etc/k/secret"})
    assert cfg.gateway.profile == "tif"


def test_the_hospital_system_and_voucher_paths_are_behind_the_same_access_layer(tmp_path: Path,
                                                                               tif_sandbox: SandboxGateway) -> None:
    from drivers.gateway.client import HttpHospitalSystem
    from drivers.gateway.voucher_platform import HttpVoucherPlatform
    from kiosk.domain import InsuredPerson

    right = tmp_path / "right.secret"
    right.write_text(SECRET)
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("not-the-secret")
    cfg = GatewayConfig(url=tif_sandbox.service_url, profile="tif", paasid="PAAS0001", secret_file=str(right))
    person = InsuredPerson("P1", "C", "N", "1", "", "", "310", 0, "110101")
    assert HttpHospitalSystem(cfg).pending_fees(person) == ()  # let through: an unknown person has no fees
    assert HttpHospitalSystem(cfg).record_audit({"event": "probe"})["status"] == "recorded"
    refused = dataclasses.replace(cfg, secret_file=str(wrong))
    with pytest.raises(GatewayAccessRefused, match="hospital system"):
        HttpHospitalSystem(refused).pending_fees(person)
    with pytest.raises(GatewayAccessRefused, match="audit"):
        HttpHospitalSystem(refused).record_audit({"event": "probe"})
    with pytest.raises(GatewayAccessRefused, match="voucher"):
        HttpVoucherPlatform(refused, TerminalConfig()).resolve("EC" + "0" * 30)
