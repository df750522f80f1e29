"""The kiosk's unit, as install-service writes it, under a real systemd (systemd 252 booted as PID 1 of its own
namespaces by tests/systemd_namespace.py, since this machine's PID 1 is not systemd): systemd starts the kiosk
and calls it started only when the kiosk says READY=1 (Type=notify); a crash (SIGKILL of the kiosk process)
is restarted by ``Restart=always``; a frozen kiosk (SIGSTOP: no more watchdog pings from the GUI thread) is
killed by the watchdog and restarted. The one change to the unit is a drop-in for the test machine: no
default dependencies (this systemd boots nothing else), the window offscreen (no display here), the log to a
file and the in-process card twin. The config is a demo one (``kiosk run`` on a demo config runs the demo).

And the crash that matters most: a kiosk killed while its settlement (2207) is in flight. The unit brings
the kiosk back on the same data folder, and its first screen is that visit's outcome, from the outbox, followed
to its end; the unanswered settlement is resolved under its msgid, and one settlement stands."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from kiosk.config import load_config
from scripts.provision_machine import service_unit
from tests.crashed_demo import kill_during_2207, rows, standing_settlements
from tests.systemd_namespace import NamespacedSystemd, unavailable

UNIT = "hospital-kiosk.service"
KIOSK = Path(sys.executable).with_name("kiosk")


def _unit_and_drop_in(tmp_path: Path, config: Path, log: Path) -> dict[str, str]:
    unit = service_unit(load_config(config, {}), config, "root")
    drop_in = "\n".join(["[Unit]", "DefaultDependencies=no", "[Service]", "Environment=QT_QPA_PLATFORM=offscreen",
                         f"Environment=TMPDIR={tmp_path}", "Environment=KIOSK_CARD_READER=virtual",
                         f"StandardOutput=append:{log}", f"StandardError=append:{log}", ""])
    return {UNIT: unit, f"{UNIT}.d/test-machine.conf": drop_in}


@pytest.mark.skipif(bool(unavailable()), reason=unavailable() or "available")
def test_systemd_restarts_the_kiosk_after_a_crash_and_after_its_gui_froze(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "kiosk.toml"
    config.write_text(f'mode = "demo"\ndata_dir = "{data}"\n[ui]\nwatchdog_s = 5\n', encoding="utf-8")
    log = tmp_path / "kiosk.log"
    systemd = NamespacedSystemd(tmp_path, _unit_and_drop_in(tmp_path, config, log))
    try:
        started = systemd.systemctl("start", UNIT, timeout=180, check=False)  # returns once READY=1 came
        assert started.returncode == 0, (started.stderr, systemd.systemctl("status", UNIT, check=False).stdout,
                                         log.read_text(errors="replace")[-3000:] if log.exists() else "no log")
        first = systemd.show(UNIT, "ActiveState", "MainPID", "NRestarts", "WatchdogUSec", "Type")
        assert first["ActiveState"] == "active" and first["NRestarts"] == "0", first
        assert first["Type"] == "notify" and first["WatchdogUSec"] == "5s", first

        crashed = time.monotonic()
        systemd.systemctl("kill", "--kill-whom=main", "--signal=SIGKILL", UNIT)
        back = systemd.wait_for(UNIT, lambda p: p["NRestarts"] == "1" and p["ActiveState"] == "active", 120)
        crash_to_ready = time.monotonic() - crashed
        assert back["MainPID"] != first["MainPID"], back

        frozen = time.monotonic()
        systemd.systemctl("kill", "--kill-whom=main", "--signal=SIGSTOP", UNIT)
        # the watchdog, not anything else, ends it: the unit waits out RestartSec with that result
        systemd.wait_for(UNIT, lambda p: p["Result"] == "watchdog", 60)
        again = systemd.wait_for(UNIT, lambda p: p["NRestarts"] == "2" and p["ActiveState"] == "active", 180)
        freeze_to_ready = time.monotonic() - frozen
        assert again["MainPID"] != back["MainPID"], again
        print(f"systemd brought the kiosk back: after a crash in {crash_to_ready:.1f} s, after a freeze in "
              f"{freeze_to_ready:.1f} s (watchdog 5 s, abort timeout 10 s, RestartSec 1 s)")
    finally:
        systemd.stop()


@pytest.mark.slow
@pytest.mark.skipif(bool(unavailable()), reason=unavailable() or "available")
def test_a_kiosk_killed_during_its_2207_comes_back_under_systemd_to_that_visits_outcome(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "kiosk.toml"
    config.write_text(f'mode = "demo"\ndata_dir = "{data}"\n[ui]\nwatchdog_s = 20\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "NOTIFY_", "WATCHDOG_"))}
    env.update(QT_QPA_PLATFORM="offscreen", TMPDIR=str(tmp_path), KIOSK_CARD_READER="virtual")
    # a patient's visit on the demo kiosk (its autopilot), on the folder the unit will use, killed mid-2207
    crashed = kill_during_2207([str(KIOSK), "--config", str(config), "demo", "--autopilot"], env, data)

    log = tmp_path / "kiosk.log"
    systemd = NamespacedSystemd(tmp_path / "systemd", _unit_and_drop_in(tmp_path, config, log))
    try:
        started = systemd.systemctl("start", UNIT, timeout=180, check=False)  # returns once READY=1 came
        told = log.read_text(errors="replace") if log.exists() else "no log"
        assert started.returncode == 0, (started.stderr, told[-3000:])
        status = systemd.show(UNIT, "StatusText")["StatusText"]
        assert status.endswith("showing interrupted"), status  # the first screen: that visit's outcome
        assert f"the kiosk had stopped during visit {crashed.visit_id} ({crashed.reference})" in told, told[-3000:]
        # resent under its msgid at once (not when the payment's deadline would have come), and the screen
        # follows it: from "being settled" to "went through" with the amounts
        ended = f"the interrupted visit {crashed.visit_id} ({crashed.reference}) ended: settled"
        deadline = time.monotonic() + 60
        while ended not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, (rows(data / "outbox.sqlite", "SELECT state, error FROM items"),
                                                 log.read_text(errors="replace")[-3000:])
            time.sleep(0.1)  # polling the unit's log file: no event of the kiosk's reaches the test
        assert rows(data / "outbox.sqlite", "SELECT state FROM items WHERE kind = 'settlement_plan'") == [("done",)]
        # the unanswered 2207 is reversed under its msgid (2601) and settled afresh: one settlement stands
        assert len(standing_settlements(data)) == 1, rows(data / "sandbox-ledger.sqlite", "SELECT * FROM settlements")
    finally:
        systemd.stop()
