"""``kiosk-provision selftest``: against the demo set-up, and with parts missing or broken."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.config import CameraConfig, KioskConfig

from drivers.card.pcscd_service import missing_parts, pcscd_responds
from scripts.selftest import check_queue, run_checks

PROVISION = Path(sys.executable).with_name("kiosk-provision")
NAMES = {"card_reader", "camera", "face_models", "qr_decode", "printer", "a4_printer", "cpu", "disk", "gateway", "clock", "payment",
         "voucher_platform", "queue", "speech"}


def provision(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")} | (env or {})
    return subprocess.run([str(PROVISION), *args], capture_output=True, text=True, timeout=120, env=full)


@pytest.mark.skipif(bool(missing_parts()), reason=f"PC/SC stack not installed: {missing_parts()}")
def test_selftest_against_the_demo_setup(tmp_path: Path) -> None:
    result = provision("selftest", "--demo", "--json", "--report", str(tmp_path / "report.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["ok"] is True and {c["name"] for c in last["checks"]} == NAMES
    assert all(set(c) == {"name", "ok", "detail", "fix", "warn"} for c in last["checks"])
    assert "test card read" in next(c["detail"] for c in last["checks"] if c["name"] == "card_reader")
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["ok"] is True
    assert not pcscd_responds()  # the pcscd the command started is stopped again


def test_selftest_reports_a_missing_pcscd_with_its_fix(tmp_path: Path) -> None:
    if pcscd_responds():
        pytest.skip("a pcscd is running on this machine: cannot show it missing")
    result = provision("selftest", "--json", env={"KIOSK_DATA_DIR": str(tmp_path)})
    assert result.returncode == 11  # the first failure is the card reader's: card area
    last = json.loads(result.stdout.strip().splitlines()[-1])
    card = next(c for c in last["checks"] if c["name"] == "card_reader")
    assert last["ok"] is False and card["ok"] is False and card["fix"]
    gateway = next(c for c in last["checks"] if c["name"] == "gateway")
    assert gateway["ok"] is False and "gateway.url" in gateway["detail"]
    payment = next(c for c in last["checks"] if c["name"] == "payment")
    assert payment["ok"] is False and "payment.key_file" in payment["detail"] and payment["fix"]
    assert (tmp_path / "selftest-report.json").exists()


@pytest.mark.slow
def test_payment_check_tells_a_wrong_key_from_a_good_one(tmp_path: Path, demo_config: KioskConfig) -> None:
    from scripts.selftest import check_payment

    assert check_payment(demo_config).ok, check_payment(demo_config)
    wrong = tmp_path / "wrong.key"
    wrong.write_text("0123456789abcdef-not-the-key")
    bad = check_payment(dataclasses.replace(demo_config, payment=dataclasses.replace(demo_config.payment,
                                                                                      key_file=str(wrong))))
    assert not bad.ok and "refused" in bad.detail and "key" in bad.fix


def test_damaged_queue_and_crashing_checks(tmp_path: Path) -> None:
    cfg = KioskConfig(data_dir=str(tmp_path))
    (tmp_path / "outbox.sqlite").write_bytes(b"not a database" * 100)
    queue = check_queue(cfg)
    assert not queue.ok and "damaged" in queue.detail and queue.fix
    broken = dataclasses.replace(cfg, camera=CameraConfig(source=str(tmp_path / "no-such-video.mp4")))
    checks = {c.name: c for c in run_checks(broken)}
    assert not checks["camera"].ok and "no readable frames" in checks["camera"].detail  # its own reason, not raised
    assert checks["qr_decode"].ok and checks["cpu"].ok


def test_workstation_checks_its_location(tmp_path: Path) -> None:
    import dataclasses

    from kiosk.config import KioskConfig
    from scripts.selftest import check_location

    cfg = KioskConfig(data_dir=str(tmp_path))
    cfg = dataclasses.replace(cfg, terminal=dataclasses.replace(cfg.terminal, role="workstation"))
    inside = check_location(cfg)
    assert inside.ok and "inside the geofence" in inside.detail
    outside = check_location(dataclasses.replace(cfg, location=dataclasses.replace(cfg.location, site_latitude=39.95)))
    assert not outside.ok and "outside_geofence" in outside.detail and outside.fix
    broken = check_location(dataclasses.replace(cfg, location=dataclasses.replace(cfg.location, geofence="1,2 3")))
    assert not broken.ok and "geofence unreadable" in broken.detail
    no_gpsd = check_location(dataclasses.replace(cfg, location=dataclasses.replace(
        cfg.location, source="gpsd", gpsd_port=9)))
    assert not no_gpsd.ok and "no answer" in no_gpsd.detail and "gpsd" in no_gpsd.fix
    production = dataclasses.replace(cfg, mode="production")  # a fixed site needs its registration there
    unproven = check_location(production)
    assert not unproven.ok and "no site evidence" in unproven.detail and "register" in unproven.fix
    from scripts.registration import keep_site_evidence

    keep_site_evidence(production, "REG0000TEST1")
    proven = check_location(production)
    assert proven.ok and "registered" in proven.detail


def test_configured_scanners_are_checked_with_their_fix(tmp_path: Path) -> None:
    from kiosk.config import QrConfig
    from scripts.selftest import check_scanners

    fifo = tmp_path / "not-an-input-device"
    os.mkfifo(fifo)
    cfg = KioskConfig(data_dir=str(tmp_path))
    assert check_scanners(cfg) == []  # nothing configured, nothing to check
    missing = check_scanners(dataclasses.replace(cfg, qr=QrConfig(scanner=str(tmp_path / "ttyACM9"),
                                                                  wedge_device=str(fifo))))
    assert [(c.name, c.ok) for c in missing] == [("qr_scanner", False), ("qr_wedge", False)]
    assert "No such file" in missing[0].detail and "plug the scanner in" in missing[0].fix
    assert "is not an input device" in missing[1].detail and "/dev/input/by-id" in missing[1].fix
    present = check_scanners(dataclasses.replace(cfg, qr=QrConfig(wedge_device="/dev/null")))  # readable, a char device
    assert [(c.name, c.ok) for c in present] == [("qr_wedge", True)]


def test_face_models_check_names_a_missing_cohort(tmp_path: Path) -> None:
    from kiosk.config import load_config
    from scripts.selftest import check_face_models

    good = check_face_models(load_config(None, {}))
    assert good.ok and "people" in good.detail and "presentation model" in good.detail
    broken = load_config(None, {"KIOSK_FACE_COHORT_FILE": str(tmp_path / "nowhere.npz")})
    bad = check_face_models(broken)
    assert not bad.ok and "calibrate-face" in bad.fix
    assert good.detail.startswith("arcface encoder")
    unlicensed = check_face_models(load_config(None, {"KIOSK_FACE_ENCODER": "dlib"}))  # dlib without its calibration
    assert not unlicensed.ok and "calibrate-face --encoder dlib" in unlicensed.detail


def test_selftest_refuses_a_replayed_camera_in_production() -> None:
    from kiosk.config import load_config
    from scripts.selftest import check_camera

    cfg = load_config(None, {"KIOSK_MODE": "production", "KIOSK_GATEWAY_URL": "https://gw.example/fsi",
                             "KIOSK_PAYMENT_PROVIDER": "none"})
    check = check_camera(cfg)
    assert not check.ok and "demo portrait" in check.detail and "device:0" in check.fix


def test_a_crashing_check_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import scripts.selftest as selftest

    def boom() -> selftest.Check:
        raise RuntimeError("sensor on fire")

    monkeypatch.setattr(selftest, "check_cpu", boom)
    checks = {c.name: c for c in selftest.run_checks(KioskConfig(data_dir=str(tmp_path)))}
    assert not checks["cpu"].ok and "check crashed: RuntimeError: sensor on fire" in checks["cpu"].detail


def test_voucher_platform_check_for_face_swipe(demo_config: KioskConfig) -> None:
    """Face swipe needs the voucher platform: the sandbox's answers; a dead address fails with the setting to
    change; face swipe off needs nothing."""
    import socket

    from scripts.selftest import check_voucher_platform

    good = check_voucher_platform(demo_config)
    assert good.ok and "auth_invalid" in good.detail, good
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/voucher"
    voucher = dataclasses.replace(demo_config.voucher, platform_url=dead)
    bad = check_voucher_platform(dataclasses.replace(demo_config, voucher=voucher))
    assert not bad.ok and "voucher.platform_url" in bad.fix and "voucher.face_swipe" in bad.fix, bad
    off = check_voucher_platform(dataclasses.replace(demo_config, voucher=dataclasses.replace(voucher, face_swipe=False)))
    assert off.ok and "off" in off.detail
