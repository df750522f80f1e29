"""The alert rules with the real tools (issue 21): ``promtool check rules`` and ``promtool test rules`` on
deploy/prometheus; then a real Prometheus server (Debian's package) scraping a kiosk's metrics endpoint
every second with the shipped rules (their ``for:`` holds shortened to 1 s, the expressions unchanged).
The gateway goes down with a settlement committed: Prometheus's HTTP API shows the queue depth rise and
KioskGatewayUnreachable and KioskQueueBackingUp fire; the gateway comes back, the kiosk sends the
settlement, and both clear."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from kiosk.config import KioskConfig, MetricsConfig
from kiosk.identity import document_from_card

from drivers.card.virtual_card import load_holders
from drivers.gateway.sandbox.server import SandboxGateway
from scripts.composition import Services
from tests.test_metrics import free_port

RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
NOT_INSTALLED = "Debian's prometheus package is not installed (scripts/test.sh installs it)"


@pytest.mark.skipif(shutil.which("promtool") is None, reason=NOT_INSTALLED)
def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    check = subprocess.run(["promtool", "check", "rules", "kiosk-alerts.yml"], cwd=RULES, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS: 12 rules found" in check.stdout, check.stdout + check.stderr
    unit = subprocess.run(["promtool", "test", "rules", "kiosk-alerts.test.yml"], cwd=RULES, capture_output=True,
                          text=True, timeout=120)
    assert unit.returncode == 0 and "SUCCESS" in unit.stdout, unit.stdout + unit.stderr


def test_every_alert_has_a_runbook_section_in_the_technicians_guide() -> None:
    rules = (RULES / "kiosk-alerts.yml").read_text(encoding="utf-8")
    guide = (RULES.parents[1] / "docs" / "technician.md").read_text(encoding="utf-8").lower()
    alerts = re.findall(r"- alert: (\w+)", rules)
    assert len(alerts) == 12
    for alert in alerts:
        assert f"docs/technician.md#{alert.lower()}" in rules, alert
        assert f'<a id="{alert.lower()}"></a>' in guide, f"no section for {alert} in docs/technician.md"


@pytest.fixture
def metered(demo_config: KioskConfig, sandbox: SandboxGateway) -> Iterator[Services]:
    from drivers.camera.replay import ReplayCamera
    from scripts.composition import build_services, demo_portrait

    cfg = dataclasses.replace(demo_config, metrics=MetricsConfig(port=free_port()))
    built = build_services(cfg, camera=ReplayCamera([demo_portrait()], fps=30))
    built.sender.start()
    yield built
    built.close()


@pytest.fixture
def prometheus(tmp_path: Path, metered: Services) -> Iterator[str]:
    if shutil.which("prometheus") is None:
        pytest.skip(NOT_INSTALLED)
    rules = re.sub(r"for: \d+[smh]", "for: 1s", (RULES / "kiosk-alerts.yml").read_text(encoding="utf-8"))
    (tmp_path / "rules.yml").write_text(rules, encoding="utf-8")
    target = metered.metrics.url.split("://", 1)[1].split("/", 1)[0]
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{tmp_path / 'rules.yml'}']\n"
        f"scrape_configs:\n  - job_name: kiosk\n    static_configs: [{{targets: ['{target}']}}]\n", encoding="utf-8")
    port = free_port()
    server = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                               f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
                               "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _ready(url), "Prometheus to be ready", timeout_s=60)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        return requests.get(url + "/-/ready", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def until(condition: Callable[[], object], what: str, timeout_s: float = 60) -> None:
    """Wait for ``condition`` (polled: Prometheus's state is only readable by asking)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def query(url: str, expr: str) -> list[dict]:
    answer = requests.get(url + "/api/v1/query", params={"query": expr}, timeout=5).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def firing(url: str) -> set[str]:
    alerts = requests.get(url + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def pending_items(url: str) -> float | None:
    result = query(url, 'kiosk_outbox_items{job="kiosk",state="pending"}')
    return float(result[0]["value"][1]) if result else None


@pytest.mark.slow
def test_prometheus_sees_the_queue_rise_and_the_alerts_fire_while_the_gateway_is_down(
        prometheus: str, metered: Services, sandbox: SandboxGateway) -> None:
    until(lambda: query(prometheus, 'kiosk_gateway_up{job="kiosk"} == 1'), "the first scrape with the gateway up")
    doc = document_from_card(load_holders()["demo"], dt.date.today())
    person = metered.settlement.identify(doc)
    fees = metered.his.pending_fees(person)
    pre = metered.settlement.prepare(person, doc, fees)

    sandbox.refuse_connections()  # the gateway host goes down
    metered.settlement.queue_settlement("v-prom", person, doc, pre, fees)  # committed, not yet sent
    until(lambda: pending_items(prometheus) == 1, "the queue depth to rise in Prometheus")
    until(lambda: {"KioskGatewayUnreachable", "KioskQueueBackingUp"} <= firing(prometheus), "the alerts to fire")

    sandbox.listen_again()
    metered.sender.wake()
    until(lambda: pending_items(prometheus) == 0, "the kiosk to send the settlement", timeout_s=90)
    until(lambda: not {"KioskGatewayUnreachable", "KioskQueueBackingUp"} & firing(prometheus), "the alerts to clear")
    assert [s for s in sandbox.settlements() if not s["reversed"]], "the queued settlement reached the gateway"

    # the Grafana dashboard's queries run on this Prometheus, and the per-kiosk ones find this kiosk
    instance = query(prometheus, "kiosk_build_info")[0]["metric"]["instance"]
    for title, expr in dashboard_queries():
        result = query(prometheus, expr.replace("$instance", instance))  # asserts the query is valid
        if title in ("Queue depth", "Devices", "Kiosks up"):
            assert result, f"dashboard panel {title!r} shows nothing for {instance}: {expr}"


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads((RULES.parent / "grafana" / "kiosk-fleet.json").read_text(encoding="utf-8"))
    return [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])]


def test_the_dashboard_has_a_row_per_kiosk_and_the_panels_the_hospital_needs() -> None:
    board = json.loads((RULES.parent / "grafana" / "kiosk-fleet.json").read_text(encoding="utf-8"))
    rows = [p for p in board["panels"] if p["type"] == "row"]
    assert any(row.get("repeat") == "instance" for row in rows)  # one row per kiosk
    titles = {title for title, _ in dashboard_queries()}
    assert {"Queue depth", "Settlement latency (p95, s)", "Devices", "Firing alerts"} <= titles
    assert all("kiosk_" in expr or "up{" in expr or "ALERTS" in expr for _, expr in dashboard_queries())
