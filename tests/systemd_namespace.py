"""A real systemd for tests: systemd booted as PID 1 of its own PID and mount namespace.

The machine's PID 1 is not systemd (a container), so the kiosk's unit is tested under a systemd of the test's
own: ``unshare`` gives it a PID namespace (it is PID 1 there) and a private mount namespace with its own
``/run`` and ``/var/tmp``; the units the test writes go to ``/run/systemd/system`` (runtime units), and it
boots straight into a target that pulls in nothing (``--unit``), with the units that would clean temporary
folders or start the machine's pcscd masked. ``systemctl`` reaches it through ``nsenter``. Killing it (PID 1
of the namespace) ends every process it started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.processes import command, descendants

SYSTEMD = Path("/lib/systemd/systemd")
BOOT_TARGET = "test-boot.target"
MASKED = ("systemd-tmpfiles-setup.service", "systemd-tmpfiles-setup-dev.service", "systemd-tmpfiles-clean.timer",
          "pcscd.service", "pcscd.socket", "network-online.target", "graphical.target")
BOOT = """set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /var/tmp
mkdir -p /run/systemd/system
cp -r "$TEST_UNITS"/. /run/systemd/system/
for unit in $TEST_MASKED; do ln -sf /dev/null "/run/systemd/system/$unit"; done
exec env container=other "$TEST_SYSTEMD" --system --unit="$TEST_BOOT_TARGET" --log-target=console --log-color=no
"""


def unavailable() -> str:
    """Why a namespaced systemd cannot run here, or '' when it can."""
    if os.geteuid() != 0:
        return "booting systemd in a namespace needs root"
    missing = [tool for tool in ("unshare", "nsenter") if shutil.which(tool) is None]
    if missing or not SYSTEMD.exists():
        return f"missing {', '.join(missing) or SYSTEMD}"
    return ""


class NamespacedSystemd:
    """``units``: file name -> text, written as runtime units (drop-in folders as ``name.d/file.conf``)."""

    def __init__(self, folder: Path, units: dict[str, str]) -> None:
        self.folder = folder
        unit_dir = folder / "units"
        for name, text in {BOOT_TARGET: "[Unit]\nDescription=nothing but what the test starts\n"
                                        "DefaultDependencies=no\n", **units}.items():
            path = unit_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        env = {**os.environ, "TEST_UNITS": str(unit_dir), "TEST_MASKED": " ".join(MASKED),
               "TEST_SYSTEMD": str(SYSTEMD), "TEST_BOOT_TARGET": BOOT_TARGET}
        self.log = (folder / "systemd.log").open("w")
        self._unshare = subprocess.Popen(["unshare", "--pid", "--fork", "--mount", "--mount-proc",
                                          "--propagation", "private", "sh", "-c", BOOT],
                                         env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.pid = self._manager_pid(deadline=time.monotonic() + 30)
        except BaseException:
            self._unshare.kill()  # its namespace's processes end with it
            self._unshare.wait(timeout=30)
            self.log.close()
            raise
        booted = self.systemctl("is-system-running", "--wait", timeout=60, check=False)
        if booted.stdout.strip() not in ("running", "degraded"):
            self.stop()
            raise RuntimeError(f"systemd did not boot: {booted.stdout} {booted.stderr}")

    def _manager_pid(self, deadline: float) -> int:
        """systemd's pid as this machine sees it: the child of unshare's forked child, once it runs systemd."""
        while time.monotonic() < deadline:
            if self._unshare.poll() is not None:
                raise RuntimeError(f"unshare ended with {self._unshare.returncode}: "
                                   f"{(self.folder / 'systemd.log').read_text(errors='replace')[-2000:]}")
            for pid in descendants(self._unshare.pid):
                if command(pid).startswith(str(SYSTEMD)) and self._answers(pid):
                    return pid
            time.sleep(0.05)  # polling for a process to appear: there is no event to wait on
        raise RuntimeError("systemd did not start in its namespace")

    def _answers(self, pid: int) -> bool:
        probe = subprocess.run(["nsenter", "-t", str(pid), "-m", "-p", "systemctl", "is-system-running"],
                               capture_output=True, text=True, timeout=30, check=False)
        return bool(probe.stdout.strip())

    def systemctl(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-p", "systemctl", "--no-pager", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"systemctl {' '.join(args)}: {done.returncode} {done.stdout} {done.stderr}")
        return done

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        out = self.systemctl("show", unit, *(f"--property={p}" for p in properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def wait_for(self, unit: str, condition: Callable[[dict[str, str]], bool], timeout_s: float) -> dict[str, str]:
        """Poll the unit's properties (systemd offers no event here without D-Bus) until ``condition(props)``."""
        deadline = time.monotonic() + timeout_s
        while True:
            props = self.show(unit, "ActiveState", "SubState", "MainPID", "NRestarts", "Result")
            if condition(props):
                return props
            if time.monotonic() > deadline:
                raise AssertionError(f"{unit}: still {props} after {timeout_s} s")
            time.sleep(0.1)

    def stop(self) -> None:
        """Kill PID 1 of the namespace: the kernel ends every process in it."""
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        try:
            self._unshare.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._unshare.kill()
            self._unshare.wait(timeout=30)
        self.log.close()

