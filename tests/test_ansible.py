"""Fleet provisioning with Ansible (issue 21), for real: ``ansible-playbook -c local`` runs the shipped role
(deploy/ansible) on this machine into a throwaway prefix: it checks out this repository's commit, runs
scripts/setup.sh (a new .venv), writes the config from inventory variables with ``kiosk-provision init``,
registers with the sandbox gateway (the insurance office approves between runs, as in the field), runs
selftest and install-service. The run after approval signs in; the run after that changes nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.card.pcscd_service import missing_parts as pcscd_missing
from drivers.card.pcscd_service import start_pcscd
from drivers.gateway.sandbox.server import SandboxGateway
from tests.test_tls import Authority

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK = ROOT / "deploy" / "ansible" / "site.yml"
ANSIBLE = Path(sys.executable).with_name("ansible-playbook")


def _recap(output: str) -> dict[str, int]:
    match = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, output[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True))


@pytest.mark.slow
@pytest.mark.skipif(not ANSIBLE.exists(), reason="ansible-core is not installed in .venv (scripts/setup.sh installs it)")
@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs git and a git checkout")
def test_the_role_provisions_a_terminal_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    ca = Authority.make("Province test CA")  # production speaks HTTPS only: the sandbox too, here
    sandbox = SandboxGateway(tmp_path / "ledger.sqlite", tls=ca.issue(tmp_path, "gateway"))
    sandbox.start()
    try:
        _provision(tmp_path, sandbox, ca.bundle(tmp_path / "province-ca.pem"))
    finally:
        sandbox.stop()


def _provision(tmp_path: Path, sandbox: SandboxGateway, ca_bundle: Path) -> None:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    config, data = tmp_path / "etc" / "kiosk.toml", tmp_path / "data"
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"kiosks": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "kiosk_source": str(ROOT), "kiosk_version": commit, "kiosk_prefix": str(tmp_path / "prefix"),
        "kiosk_config": str(config), "kiosk_data_dir": str(data), "kiosk_unit_dir": str(tmp_path / "units"),
        "kiosk_user": "root", "kiosk_create_user": False, "kiosk_institution_code": "H11010100001",
        "kiosk_institution_name": "示范市第一人民医院", "kiosk_terminal_no": "ZZJ-0777", "kiosk_msgid_lane": "7",
        "kiosk_gateway_url": sandbox.service_url, "kiosk_ca_bundle": str(ca_bundle), "kiosk_counter": "门诊一楼 3 号人工窗口",
        "kiosk_selftest_must_pass": False,  # this machine has no camera: selftest says so (checked below)
    }}}}), encoding="utf-8")
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "atmp"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0", "PATH": f"{ANSIBLE.parent}:{os.environ['PATH']}"}
    env = {k: v for k, v in env.items() if not k.startswith("KIOSK_")}

    def play() -> dict[str, int]:
        run = subprocess.run([str(ANSIBLE), "-i", str(inventory), str(PLAYBOOK), "-e", "ansible_become=false"],
                             capture_output=True, text=True, env=env, timeout=1500)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        return _recap(run.stdout)

    first = play()
    assert first["changed"] >= 4 and first["failed"] == 0, first  # checkout, set-up, init, register, unit
    text = config.read_text(encoding="utf-8")
    assert 'terminal_no = "ZZJ-0777"' in text and 'msgid_lane = "7"' in text and 'mode = "production"' in text
    assert (tmp_path / "units" / "hospital-kiosk.service").exists()
    registration = json.loads((data / "registration.json").read_text(encoding="utf-8"))
    assert registration["status"] == "pending"

    sandbox.approve_terminal(registration["registration_id"])  # the insurance office scans the QR code
    second = play()
    assert second["changed"] == 1, second  # registration completed: signed in
    assert json.loads((data / "registration.json").read_text(encoding="utf-8"))["status"] == "approved"

    third = play()
    assert third["changed"] == 0 and third["failed"] == 0, third

    # the machine's PC/SC stack with a reader in it: pcscd with vsmartcard's virtual reader standing in for
    # the USB one (the production selftest cannot tell them apart); no camera can be attached here
    pcscd = start_pcscd() if not pcscd_missing() else None
    try:
        selftest = subprocess.run([str(tmp_path / "prefix" / "app" / ".venv" / "bin" / "kiosk-provision"), "selftest",
                                   "--config", str(config), "--json"], capture_output=True, text=True, env=env,
                                  timeout=300)
    finally:
        if pcscd is not None:
            pcscd.stop()
    checks = {c["name"]: c for c in json.loads(selftest.stdout.strip().splitlines()[-1])["checks"]}
    failing = {name for name, c in checks.items() if not c["ok"]}
    assert checks["gateway"]["ok"] and checks["queue"]["ok"] and checks["disk"]["ok"], checks
    assert failing <= {"camera"} | ({"card_reader"} if pcscd is None else set()), checks  # only the camera
    assert "cannot be opened" in checks["camera"]["detail"], checks["camera"]  # said plainly, with the fix
