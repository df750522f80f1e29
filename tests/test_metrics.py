"""The metrics endpoint (issue 21): the kiosk's real services on the demo config with ``metrics.port`` set,
a whole visit (card, face on dlib, fees, the own share paid on the sandbox's platform, 2207), then the
exposition read over real HTTP as Prometheus would. It holds the metrics the operations team alerts on, and
no name, ID number, card number, psn_no or token of the patient. Access: a bearer token; HTTPS with client
certificates (mTLS) from a CA made here; bad settings refused with the key named."""

from __future__ import annotations

import dataclasses
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kiosk import visit as v
from kiosk.config import KioskConfig, MetricsConfig
from kiosk.errors import ConfigError

from drivers.card.virtual_card import load_holders
from drivers.gateway.sandbox.server import SandboxGateway
from drivers.metrics.prometheus_telemetry import PrometheusTelemetry
from drivers.metrics.server import MetricsServer
from scripts.composition import Services
from tests.test_tls import Authority
from tests.test_visit_integration import pump, visit_to_confirm

NAMES = ("kiosk_visits_total", "kiosk_settlement_seconds_bucket", "kiosk_gateway_requests_total",
         "kiosk_outbox_items", "kiosk_outbox_oldest_age_seconds", "kiosk_device_up", "kiosk_gateway_up",
         "kiosk_face_checks_total", "kiosk_face_verification_seconds_bucket", "kiosk_clock_skew_seconds",
         "kiosk_printer_paper", "kiosk_build_info", "kiosk_start_time_seconds", "kiosk_reversals_total")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def metered(demo_config: KioskConfig, sandbox: SandboxGateway) -> Iterator[Services]:
    from drivers.camera.replay import ReplayCamera
    from scripts.composition import build_services, demo_portrait
    from scripts.demo import enroll_demo_face

    cfg = dataclasses.replace(demo_config, metrics=MetricsConfig(port=free_port()))
    built = build_services(cfg, camera=ReplayCamera([demo_portrait()], fps=30))
    enroll_demo_face(sandbox, built)
    yield built
    built.close()


def scrape_until(url: str, wanted: str, timeout_s: float = 15.0) -> str:
    """Scrape until the exposition holds ``wanted`` (the event the test waits for); the last text else."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = requests.get(url, timeout=5).text
        if wanted in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def _value(text: str, line_start: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(line_start))
    return float(line.rsplit(" ", 1)[1])


@pytest.mark.slow
def test_a_visit_shows_in_the_metrics_and_no_personal_data_does(metered: Services, sandbox: SandboxGateway) -> None:
    assert metered.metrics is not None
    m = v.VisitMachine()
    visit_to_confirm(m, metered)
    pump(m, metered, v.SettlementConfirmed(), sandbox)
    assert m.state == v.State.RECEIPT, m.ctx.error_message
    holder = load_holders()["demo"]
    secrets = {m.ctx.person.psn_no, m.ctx.person.name, holder.citizen_id, holder.card_no, holder.card_sn}
    pump(m, metered, v.Finish())

    metered.sender.start()  # its first probe tells whether the gateway answers
    text = scrape_until(metered.metrics.url, "\nkiosk_gateway_up 1.0")
    for name in NAMES:
        assert f"\n{name}" in text, name
    assert _value(text, 'kiosk_visits_total{errand="pay_fees",outcome="settled"}') == 1
    assert _value(text, 'kiosk_gateway_requests_total{infno="2207",outcome="ok"}') == 1
    assert _value(text, 'kiosk_settlement_seconds_count{infno="2207"}') == 1
    assert _value(text, 'kiosk_face_checks_total{liveness="unavailable",verdict="match"}') >= 1  # demo portrait
    assert _value(text, 'kiosk_device_up{device="card_reader"}') == 1
    assert _value(text, "kiosk_printer_paper") == 1
    assert abs(_value(text, "kiosk_clock_skew_seconds")) < 5  # the sandbox runs on this machine's clock
    for secret in secrets:
        assert secret and secret not in text, "personal data in the metrics"
    # every label value but the configuration's hash (hex digits: a run of nine decimals happens by chance)
    labels = [value for key, value in re.findall(r'(\w+)="([^"]*)"', text) if key != "config_sha256"]
    assert labels and not [x for x in labels if re.search(r"\d{9,}", x)], "a number-like label (ID, card, psn_no)"


def test_the_outbox_gauges_follow_the_queue(metered: Services) -> None:
    metered.outbox.enqueue(visit_id="vq", kind="settlement_plan", payload={"steps": []}, not_before=4e9)
    text = requests.get(metered.metrics.url, timeout=5).text
    assert _value(text, 'kiosk_outbox_items{state="pending"}') == 1
    assert _value(text, 'kiosk_outbox_oldest_age_seconds{state="pending"}') >= 0
    assert _value(text, 'kiosk_outbox_items{state="needs_staff"}') == 0


def _telemetry() -> PrometheusTelemetry:
    return PrometheusTelemetry(version="test", config_sha256="0" * 64, role="kiosk")


def test_a_bearer_token_is_required_when_configured(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token-for-prometheus\n", encoding="utf-8")
    server = MetricsServer(MetricsConfig(port=free_port(), token_file=str(token)), _telemetry().registry).start()
    try:
        assert requests.get(server.url, timeout=5).status_code == 401
        wrong = requests.get(server.url, headers={"Authorization": "Bearer nope"}, timeout=5)
        assert wrong.status_code == 401
        right = requests.get(server.url, headers={"Authorization": "Bearer s3cret-token-for-prometheus"}, timeout=5)
        assert right.status_code == 200 and "kiosk_build_info" in right.text
        assert requests.get(server.url.replace("/metrics", "/other"), timeout=5).status_code == 404
    finally:
        server.stop()


def test_https_with_client_certificates_lets_in_only_the_scraper_the_ca_signed(tmp_path: Path) -> None:
    ca, stranger = Authority.make("Hospital metrics CA"), Authority.make("Someone else")
    cert, key = ca.issue(tmp_path, "kiosk")
    scraper, other = ca.issue(tmp_path, "prometheus"), stranger.issue(tmp_path, "intruder")
    bundle = ca.bundle(tmp_path / "ca.pem")
    cfg = MetricsConfig(port=free_port(), tls_cert=str(cert), tls_key=str(key), client_ca=str(bundle))
    server = MetricsServer(cfg, _telemetry().registry).start()
    try:
        assert server.url.startswith("https://")
        ok = requests.get(server.url, verify=str(bundle), cert=tuple(map(str, scraper)), timeout=5)
        assert ok.status_code == 200 and "kiosk_start_time_seconds" in ok.text
        for client_cert in (None, tuple(map(str, other))):
            with pytest.raises(requests.exceptions.RequestException):
                requests.get(server.url, verify=str(bundle), cert=client_cert, timeout=5)
        with pytest.raises(requests.exceptions.RequestException):  # plain HTTP is not served
            requests.get(server.url.replace("https://", "http://"), timeout=5)
    finally:
        server.stop()


@pytest.mark.parametrize(("cfg", "key"), [
    (MetricsConfig(port=1, tls_cert="/nonexistent.pem"), "metrics.tls_cert and metrics.tls_key"),
    (MetricsConfig(port=1, client_ca="/ca.pem"), "metrics.client_ca"),
    (MetricsConfig(port=1, tls_cert="/nonexistent.pem", tls_key="/nonexistent.key"), "cannot load"),
])
def test_bad_tls_settings_are_refused_with_the_key_named(cfg: MetricsConfig, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        MetricsServer(cfg, _telemetry().registry)


def test_a_short_or_missing_token_file_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("abc", encoding="utf-8")
    for path, reason in ((short, "at least 16"), (tmp_path / "missing", "cannot read")):
        with pytest.raises(ConfigError, match=reason):
            MetricsServer(MetricsConfig(port=free_port(), token_file=str(path)), _telemetry().registry)


def test_a_port_in_use_is_refused_with_the_key_named() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigError, match="metrics.port"):
            MetricsServer(MetricsConfig(port=busy.getsockname()[1]), _telemetry().registry)


def test_the_gateway_client_reports_each_request_to_the_telemetry(sandbox: SandboxGateway, tmp_path: Path) -> None:
    """With the recording twin: latency, outcome and clock skew per transaction code, refusals included."""
    import datetime as dt

    from kiosk.config import GatewayConfig, TerminalConfig
    from kiosk.errors import GatewayBusinessError
    from kiosk.identity import document_from_card

    from drivers.gateway.client import HttpGateway
    from drivers.metrics.recording import RecordingTelemetry
    from offline_queue.msgids import SqliteMsgIdSource
    from offline_queue.store import open_store

    telemetry = RecordingTelemetry()
    store = open_store(tmp_path / "outbox.sqlite")
    msgids = SqliteMsgIdSource(store, TerminalConfig().fixmedins_code)
    gateway = HttpGateway(GatewayConfig(url=sandbox.service_url), TerminalConfig(), msgids, telemetry=telemetry)
    doc = document_from_card(load_holders()["demo"], dt.date.today())
    gateway.call("1101", {"data": {"mdtrt_cert_type": doc.cert_type.value, "mdtrt_cert_no": doc.cert_no,
                                   "card_sn": doc.card_sn, "begntime": "2026-12-02 09:00:00"}}, msgid=msgids.next_msgid())
    with pytest.raises(GatewayBusinessError):
        gateway.call("5203", {"data": {"psn_no": "nobody", "setl_id": "ST0", "mdtrt_id": "MD0"}}, msgid=msgids.next_msgid())
    store.close()
    calls = [(args[0], args[2]) for name, args in telemetry.calls if name == "gateway_answered"]
    assert calls == [("9001", "ok"), ("1101", "ok"), ("5203", "refused")]
    skews = [args[3] for name, args in telemetry.calls if name == "gateway_answered" and args[2] == "ok"]
    assert all(s is not None and abs(s) < 5 for s in skews)
    assert telemetry.counts("gateway_answered")["1101"] == 1


def test_gnss_is_up_only_with_a_fresh_usable_fix() -> None:
    from kiosk.ports import PositionReading
    from scripts.composition_metrics import gnss_up

    def fix(mode: int, age_s: float) -> PositionReading:
        return PositionReading(39.9, 116.4, mode=mode, accuracy_m=5.0, age_s=age_s, source="gpsd")

    assert gnss_up(fix(3, 1.0), 10.0) and gnss_up(fix(2, 9.9), 10.0)
    assert not gnss_up(None, 10.0) and not gnss_up(fix(1, 1.0), 10.0) and not gnss_up(fix(3, 30.0), 10.0)


@pytest.mark.slow
def test_a_clinician_workstation_reports_its_gnss(demo_config: KioskConfig, sandbox: SandboxGateway,
                                                  tmp_path: Path) -> None:
    """A workstation's location source is a device: kiosk_device_up{device="gnss"} from its fix at scrape time
    (here the demo's fixed site, always fresh)."""
    from drivers.camera.replay import ReplayCamera
    from scripts.composition import build_clinician_services, demo_portrait

    port = free_port()
    cfg = dataclasses.replace(demo_config, metrics=MetricsConfig(port=port),
                              terminal=dataclasses.replace(demo_config.terminal, role="workstation"))
    services = build_clinician_services(cfg, camera=ReplayCamera([demo_portrait()], fps=30))
    try:
        text = scrape_until(f"http://127.0.0.1:{port}/metrics", 'device="gnss"')
        assert _value(text, 'kiosk_device_up{device="gnss"}') == 1.0
        assert 'role="workstation"' in text
    finally:
        services.close()
