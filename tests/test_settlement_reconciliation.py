"""Daily reconciliation (issue 18): the kiosk's journal of the day's settlements against the gateway's books,
over real HTTP to the sandbox (3201; where they differ 9101, 3202, 9102); the sandbox told to lose or alter a
settlement; the gateway down; the running kiosk's own daily run and its retry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk import visit as v
from kiosk.config import KioskConfig
from kiosk.errors import GatewayUnreachable
from kiosk.settlement_reconciliation import DailyReconciler, Difference, Reconciliation, read_result_file

from drivers.gateway.sandbox.server import SandboxGateway
from scripts.composition import Services
from scripts.demo import PATIENTS
from scripts.provision import cli
from tests.test_insured_elsewhere import _to_services
from tests.test_visit_integration import pump


def _settle(services: Services, sandbox: SandboxGateway, patient: str) -> str:
    m = v.VisitMachine()
    _to_services(m, services, sandbox, PATIENTS[patient])
    for event in (v.PayFeesChosen(), v.FeesConfirmed(), v.SettlementConfirmed()):
        pump(m, services, event, sandbox)
    assert m.state == v.State.RECEIPT, m.ctx.error_message
    setl_id = m.ctx.settlement.setl_id
    pump(m, services, v.Finish())  # the next patient: the visit is wiped
    return setl_id


def _config(tmp_path: Path, cfg: KioskConfig) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'data_dir = "{cfg.data_dir}"\n[gateway]\nurl = "{cfg.gateway.url}"\nread_timeout_s = 5.0\n'
                    f'connect_timeout_s = 1.0\n', encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_day_of_settlements_reconciles_and_a_lost_one_is_named(services: Services, sandbox: SandboxGateway,
                                                                 demo_config: KioskConfig, tmp_path: Path) -> None:
    local = _settle(services, sandbox, "local")
    cross = _settle(services, sandbox, "cross-province")
    config = _config(tmp_path, demo_config)
    today = dt.date.today().isoformat()
    done = CliRunner().invoke(cli, ["reconcile", "--config", str(config), "--date", today, "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output.strip().splitlines()[-1])
    assert result["balanced"] and result["settlements"] == 2
    assert {g["setl_optins"] for g in result["groups"]} == {"110101", "440106"}  # one 3201 per clearing agency

    sandbox.drop_settlement(cross)  # the gateway's books lose the cross-province settlement
    lost = CliRunner().invoke(cli, ["reconcile", "--config", str(config), "--date", today, "--json"])
    assert lost.exit_code == 3, lost.output
    found = json.loads(lost.output.strip().splitlines()[-1])
    assert not found["balanced"] and found["differences"] == [{"setl_id": cross, "kind": "kiosk_only", "detail": ""}]
    sandbox.alter_settlement(local, "1.00")
    text = CliRunner().invoke(cli, ["reconcile", "--config", str(config), "--date", today])
    assert text.exit_code == 3 and f"ALERT {local}: the amounts differ" in text.output, text.output
    assert f"ALERT {cross}: this kiosk has a settlement the gateway lacks" in text.output

    for _ in range(10):  # each run's result went into the audit stream (one item of a stream per round)
        if not services.outbox.drain():
            break
    events = [e for e in sandbox.audit_events() if e["event"] == "daily_reconciliation"]
    assert [e["balanced"] for e in events] == [True, False, False]
    assert {"setl_id": cross, "kind": "kiosk_only"} in events[1]["differences"]
    assert "psn_no" not in json.dumps(events)


def test_with_the_gateway_down_it_exits_14_and_says_the_kiosk_tries_again(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[gateway]\nurl = "http://127.0.0.1:9/fsi"\n'
                      'connect_timeout_s = 0.5\n', encoding="utf-8")
    from offline_queue.crypto import PayloadCipher, load_or_create_key
    from offline_queue.outbox import SqliteOutbox
    from offline_queue.store import open_store

    (tmp_path / "data").mkdir()
    store = open_store(tmp_path / "data" / "outbox.sqlite")
    outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(tmp_path / "data-keys" / "outbox.key")),
                          lambda p, s: {})
    plan = {"insuplc_admdvs": "110101", "steps": [{"infno": "2207", "msgid": "M1", "output": {}, "input": {
        "data": {"psn_no": "P1", "insutype": "310"}}}]}
    ref = outbox.enqueue(visit_id="v1", kind="settlement_plan", payload=plan)
    outbox._db.execute("UPDATE items SET state = 'done', result = ? WHERE id = ?", (outbox._cipher.seal(json.dumps(
        {"setlinfo": {"setl_id": "ST1", "medfee_sumamt": "10.00", "clr_optins": "110101"}}).encode()),
        int(ref[9:])))
    store.close()
    down = CliRunner().invoke(cli, ["reconcile", "--config", str(config)])
    assert down.exit_code == 14 and "the running kiosk tries again by itself" in down.output, down.output


def test_the_kiosk_reconciles_after_closing_and_tries_again_while_the_gateway_is_away() -> None:
    calls: list[str] = []
    answers: list[object] = [GatewayUnreachable("down"), Reconciliation("2026-12-02")]

    def run(day: str) -> Reconciliation:
        calls.append(day)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    daily = DailyReconciler(run, dt.time(20, 0), retry_s=900)
    daily.done.add("2026-12-01")
    assert daily.tick(dt.datetime(2026, 12, 2, 19, 59)) is None and calls == []  # not before closing
    assert daily.tick(dt.datetime(2026, 12, 2, 20, 1)) is None and calls == ["2026-12-02"]  # down
    assert daily.tick(dt.datetime(2026, 12, 2, 20, 10)) is None and calls == ["2026-12-02"]  # waits its retry
    assert daily.tick(dt.datetime(2026, 12, 2, 20, 17)) is not None and calls == ["2026-12-02"] * 2
    assert daily.tick(dt.datetime(2026, 12, 2, 23, 0)) is None and len(calls) == 2  # once a day
    assert daily._due_day(dt.datetime(2026, 12, 4, 8, 0)) == "2026-12-03"  # a day it missed: the next morning


def test_a_result_file_that_is_not_a_zip_is_refused() -> None:
    with pytest.raises(ValueError, match="not a readable zip"):
        read_result_file(b"<html>error</html>")
    assert Difference("ST1", "gateway_only").line() == "ST1: the gateway has a settlement this kiosk lacks"
