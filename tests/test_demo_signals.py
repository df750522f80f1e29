"""``kiosk demo`` stopped by SIGTERM (systemd) or Ctrl+C, in its window or while starting, ends cleanly:
no traceback, and no process it started (its own pcscd) is left running. Without a display it says so
instead of hanging."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
KIOSK = Path(sys.executable).with_name("kiosk")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return "?"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Demo:
    """``kiosk demo`` in a child process; ``ready`` is set once its window runs, ``started`` at its first
    log line."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([str(KIOSK), "demo", "--data-dir", str(tmp_path / "demo")], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.started, self.ready = threading.Event(), threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            self.started.set()
            if "event loop running" in line:
                self.ready.set()

    def stop(self, signum: int) -> int:
        children = {c: _cmdline(c) for c in _children(self.process.pid)}
        watched = {c: os.pidfd_open(c) for c in children if _alive(c)}
        self.process.send_signal(signum)
        status = self.process.wait(timeout=60)
        try:  # a helper may see its parent go a moment later (multiprocessing's tracker): wait for its exit
            pending = [fd for c, fd in watched.items() if _alive(c)]
            while pending:
                ready, _, _ = select.select(pending, [], [], 10.0)
                if not ready:
                    break
                pending = [fd for fd in pending if fd not in ready]
        finally:
            for fd in watched.values():
                os.close(fd)
        left = {c: cmd for c, cmd in children.items() if _alive(c)}
        assert not left, f"left running: {left}"
        return status


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")} | {"QT_QPA_PLATFORM": "offscreen"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_running_demo_stops_cleanly_and_leaves_nothing_behind(tmp_path: Path, signum: int) -> None:
    demo = Demo(tmp_path, _env())
    try:
        assert demo.ready.wait(120), "".join(demo.lines)[-2000:]
        assert any("pcscd" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")
                   for c in _children(demo.process.pid)), "the demo's own pcscd was expected"
        assert demo.stop(signum) == 0
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
    assert "Traceback" not in "".join(demo.lines)


def test_ctrl_c_while_starting_stops_cleanly(tmp_path: Path) -> None:
    demo = Demo(tmp_path, _env())
    try:
        assert demo.started.wait(120)
        status = demo.stop(signal.SIGINT)
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
    assert status in (0, 130) and "Traceback" not in "".join(demo.lines), "".join(demo.lines)[-2000:]


def test_without_a_display_the_demo_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in _env().items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([str(KIOSK), "demo", "--data-dir", str(tmp_path / "demo")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no display" in result.stderr and "--autopilot" in result.stderr
