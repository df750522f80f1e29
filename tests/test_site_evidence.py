"""A fixed site is accepted in production only with the registration that vouches for it: the site and
fence the insurance office approved for this device key, kept signed by that key. Registering through the
sandbox (real HTTP) keeps it; no evidence, evidence of another site or fence, a record edited by hand and
one removed while running are each refused with their reason; a live gpsd check beside the site needs no
evidence."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from kiosk.config import KioskConfig, load_config
from kiosk.errors import ConfigError
from kiosk.position import SITE_UNPROVEN

from drivers.gateway.sandbox.server import SandboxGateway
from scripts.composition import build_location, fixed_site_problem
from scripts.provision import cli
from scripts.registration import keep_site_evidence

SITE = (39.9087, 116.3975)


def _workstation(tmp_path: Path, **location: object) -> KioskConfig:
    config = tmp_path / "workstation.toml"
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in location.items())
    config.write_text(f'mode = "production"\ndata_dir = "{tmp_path / "data"}"\n[terminal]\nrole = "workstation"\n'
                      f'[gateway]\nurl = "https://127.0.0.1:9/fsi"\n[payment]\nprovider = "none"\n'
                      f'[camera]\nsource = "device:0"\n[location]\nsource = "fixed"\n{lines}', encoding="utf-8")
    return load_config(config, {})


def _login_verdict(cfg: KioskConfig):  # type: ignore[no-untyped-def]
    source, judge, stoppers = build_location(cfg.location, lambda: fixed_site_problem(cfg))
    try:
        return judge(source.current(), None)
    finally:
        for stop in stoppers:
            stop()


def test_without_registration_a_fixed_site_is_refused_with_the_fix(tmp_path: Path) -> None:
    cfg = _workstation(tmp_path)
    assert "no site evidence" in fixed_site_problem(cfg)
    verdict = _login_verdict(cfg)
    assert not verdict.accepted and verdict.reason == SITE_UNPROVEN
    from drivers.camera.replay import ReplayCamera
    from scripts.composition import build_clinician_services, demo_portrait

    with pytest.raises(ConfigError, match="location.source: a fixed site alone") as refused:
        build_clinician_services(cfg, camera=ReplayCamera([demo_portrait()], fps=15))
    assert refused.value.exit_status == 16 and "kiosk-provision register" in str(refused.value)


def test_the_registered_site_is_accepted_and_checked_on_every_login(tmp_path: Path) -> None:
    cfg = _workstation(tmp_path)
    evidence = keep_site_evidence(cfg, "REG0000TEST1")
    assert oct(evidence.stat().st_mode & 0o777) == "0o600" and evidence.parent == cfg.key_path()
    verdict = _login_verdict(cfg)
    assert verdict.accepted and verdict.basis == "fixed site, registered"
    source, judge, _ = build_location(cfg.location, lambda: fixed_site_problem(cfg))
    assert judge(source.current(), None).accepted
    evidence.unlink()  # removed while the workstation runs: the next login is refused
    refused = judge(source.current(), None)
    assert not refused.accepted and refused.reason == SITE_UNPROVEN


def test_another_site_another_fence_or_an_edited_record_are_refused(tmp_path: Path) -> None:
    cfg = _workstation(tmp_path)
    evidence = keep_site_evidence(cfg, "REG0000TEST1")
    moved = _workstation(tmp_path, site_latitude=SITE[0] + 0.001)  # the desk moved on paper only
    assert "is not the registered one" in fixed_site_problem(moved)
    fence = "116.39,39.90 116.41,39.90 116.41,39.92 116.39,39.92"
    assert "geofence is not the one registered" in fixed_site_problem(_workstation(tmp_path, geofence=fence))
    record = json.loads(evidence.read_text())
    record["latitude"] = SITE[0] + 0.001  # the record edited to match the moved desk
    evidence.write_text(json.dumps(record))
    assert "not signed by this device's key" in fixed_site_problem(moved)
    evidence.write_text("{not json")
    assert "unreadable" in fixed_site_problem(cfg)
    other = dataclasses.replace(cfg, terminal=dataclasses.replace(cfg.terminal, terminal_no="ZZJ-0002"))
    keep_site_evidence(cfg, "REG0000TEST1")
    assert "is for terminal" in fixed_site_problem(other) and "not ZZJ-0002" in fixed_site_problem(other)


def test_a_live_check_beside_the_site_needs_no_registration(tmp_path: Path) -> None:
    cfg = _workstation(tmp_path, site_live_check="127.0.0.1:9")
    assert fixed_site_problem(cfg) == ""


def test_registering_a_workstation_keeps_its_site_evidence(tmp_path: Path, sandbox: SandboxGateway) -> None:
    runner = CliRunner()
    env = {"KIOSK_DATA_DIR": str(tmp_path / "data"), "KIOSK_GATEWAY_URL": sandbox.service_url,
           "KIOSK_TERMINAL_ROLE": "workstation"}
    first = json.loads(runner.invoke(cli, ["register", "--json"], env=env).output.strip().splitlines()[-1])
    assert first["status"] == "pending" and "site_evidence" not in first
    requests.post(f"{sandbox.url}/admin/approve-terminal", json={"registration_id": first["registration_id"]},
                  timeout=5).raise_for_status()
    result = runner.invoke(cli, ["register", "--json"], env=env)
    approved = json.loads(result.output.strip().splitlines()[-1])
    assert result.exit_code == 0 and approved["status"] == "approved"
    cfg = load_config(None, {**env, "KIOSK_MODE": "production", "KIOSK_PAYMENT_PROVIDER": "none",
                             "KIOSK_GATEWAY_URL": "https://127.0.0.1:9/fsi"})
    assert Path(approved["site_evidence"]) == cfg.key_path() / "site-evidence.json"
    assert fixed_site_problem(cfg) == ""
    assert json.loads(Path(approved["site_evidence"]).read_text())["registration_id"] == first["registration_id"]
