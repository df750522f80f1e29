"""The locked-down kiosk session (issue 21): the kiosk tells systemd when its window is up and feeds the
watchdog from the GUI thread (sd_notify's datagrams, received here on a socket bound where
``NOTIFY_SOCKET`` points, as systemd would); and the window runs full screen in the ``cage`` compositor
(Debian's package, its headless backend, as an unprivileged user: cage refuses root), photographed through
the compositor with ``grim``; when the kiosk process is killed, cage ends with it, so systemd's
``Restart=`` brings the whole session back."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.processes import command, descendants
from tests.screenshots import SHOTS

ROOT = Path(__file__).resolve().parents[1]
KIOSK = Path(sys.executable).with_name("kiosk")


class NotifySocket:
    """systemd's end of sd_notify: a datagram socket; ``expect`` waits for a message (the event)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        path.chmod(0o777)  # the kiosk may run as another user (cage refuses root)
        self.seen: list[str] = []

    def expect(self, message: str, timeout_s: float) -> None:
        self.sock.settimeout(timeout_s)
        while message not in self.seen:
            try:
                self.seen.extend(self.sock.recv(4096).decode().split("\n"))
            except socket.timeout:
                raise AssertionError(f"no {message} within {timeout_s} s; seen {self.seen}") from None

    def close(self) -> None:
        self.sock.close()


def expect_ready(notify: NotifySocket, process: subprocess.Popen[str]) -> None:
    """READY=1 within 120 s, or the process is killed and what it wrote to stderr is the failure."""
    try:
        notify.expect("READY=1", timeout_s=120)
    except AssertionError:
        process.kill()
        raise AssertionError(process.communicate()[1][-3000:]) from None


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


def _env(tmp_path: Path, notify: NotifySocket, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "NOTIFY_", "WATCHDOG_"))}
    env.update(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="1000000", KIOSK_CARD_READER="virtual",
               TMPDIR=str(tmp_path), **extra)
    return env


def test_the_kiosk_says_ready_feeds_the_watchdog_and_says_stopping(tmp_path: Path, notify: NotifySocket) -> None:
    kiosk = subprocess.Popen([str(KIOSK), "demo"], env=_env(tmp_path, notify, QT_QPA_PLATFORM="offscreen"),
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        notify.expect("READY=1", timeout_s=120)
        notify.seen.clear()
        notify.expect("WATCHDOG=1", timeout_s=5)  # every 0.5 s with WatchdogSec=1
        notify.seen.clear()
        notify.expect("WATCHDOG=1", timeout_s=5)
        kiosk.send_signal(signal.SIGTERM)
        notify.expect("STOPPING=1", timeout_s=30)
        assert kiosk.wait(timeout=60) == 0, kiosk.stderr.read() if kiosk.stderr else ""
    finally:
        if kiosk.poll() is None:
            kiosk.kill()
            kiosk.wait()


def test_without_systemd_nothing_is_sent(tmp_path: Path) -> None:
    from drivers.service_manager import ServiceManager

    manager = ServiceManager({})
    assert not manager.active and manager.ping_interval_ms() is None
    manager.ready()  # does nothing, raises nothing
    other = ServiceManager({"NOTIFY_SOCKET": str(tmp_path / "gone.sock"), "WATCHDOG_USEC": "30000000",
                            "WATCHDOG_PID": "1"})
    assert other.ping_interval_ms() is None  # the watchdog is another process's
    other.ping()  # the manager went away: logged, not raised


NOBODY = "nobody"


@pytest.mark.slow
@pytest.mark.alone
@pytest.mark.skipif(shutil.which("cage") is None or shutil.which("grim") is None,
                    reason="Debian's cage, grim and xwayland are not installed (scripts/test.sh installs them)")
def test_the_kiosk_runs_full_screen_in_cage_and_cage_ends_when_the_kiosk_dies() -> None:
    _unprivileged(_run_in_cage)


def _unprivileged(run: Callable[[Path], None]) -> None:
    """pytest's own folders are root's (0700): the unprivileged session gets a folder of its own in /tmp."""
    tmp_path = Path(tempfile.mkdtemp(prefix="kiosk-cage-"))
    with _reachable_interpreter():
        try:
            run(tmp_path)
        finally:
            shutil.rmtree(tmp_path, ignore_errors=True)


@contextlib.contextmanager
def _reachable_interpreter() -> Iterator[None]:
    """On this CI machine Python is pyenv's, under /root (0700): the unprivileged session user could not
    start it. Let others pass through (not read) the folders above it for the test, then restore them. On a
    kiosk the .venv is made from Debian's /usr/bin/python3 and this does nothing."""
    changed: list[tuple[Path, int]] = []
    for folder in Path(os.path.realpath(sys.executable)).parents:
        mode = folder.stat().st_mode & 0o777
        if not mode & 0o001:
            changed.append((folder, mode))
            folder.chmod(mode | 0o001)
    try:
        yield
    finally:
        for folder, mode in changed:
            folder.chmod(mode)


def _run_in_cage(tmp_path: Path) -> None:
    user = pwd.getpwnam(NOBODY)
    notify = NotifySocket(tmp_path / "notify.sock")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    os.chown(runtime, user.pw_uid, user.pw_gid)
    tmp_path.chmod(0o777)  # the demo's data folder goes to TMPDIR, written by the unprivileged user
    env = _env(tmp_path, notify, XDG_RUNTIME_DIR=str(runtime), HOME=str(runtime), WLR_BACKENDS="headless",
               WLR_LIBINPUT_NO_DEVICES="1", WLR_RENDERER="pixman", QT_QPA_PLATFORM="wayland")
    as_nobody = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    cage = subprocess.Popen([*as_nobody, "cage", "-d", "--", str(KIOSK), "demo"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        expect_ready(notify, cage)
        _assert_the_window_fills_the_output(_photograph(as_nobody, env, runtime, "cage-idle-screen.png"), notify.seen)

        kiosk_pid = _child_of(cage.pid, "kiosk")
        os.kill(kiosk_pid, signal.SIGKILL)  # a crash
        assert cage.wait(timeout=5) is not None  # the session ends with it: systemd restarts the unit
    finally:
        notify.close()
        if cage.poll() is None:
            cage.kill()
            cage.wait()


@pytest.mark.slow
@pytest.mark.alone
@pytest.mark.skipif(shutil.which("cage") is None or shutil.which("grim") is None,
                    reason="Debian's cage, grim and xwayland are not installed (scripts/test.sh installs them)")
def test_after_a_kill_during_its_2207_the_kiosk_in_cage_shows_that_visits_outcome() -> None:
    """The acceptance's last step through the compositor: a demo kiosk killed while its 2207 is in flight,
    started again in cage on the same folder (as systemd's Restart= does), shows that visit's outcome
    first and follows it to "went through"; photographed with grim."""
    _unprivileged(_crash_then_cage)


def _crash_then_cage(tmp_path: Path) -> None:
    from tests.crashed_demo import LogWatch, kill_during_2207, standing_settlements

    user = pwd.getpwnam(NOBODY)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    os.chown(runtime, user.pw_uid, user.pw_gid)
    tmp_path.chmod(0o777)  # the data folder and its keys are made by the unprivileged user
    data = tmp_path / "data"
    config = tmp_path / "kiosk.toml"
    config.write_text(f'mode = "demo"\ndata_dir = "{data}"\n', encoding="utf-8")
    as_nobody = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    quiet = {k: v for k, v in os.environ.items() if not k.startswith(("KIOSK_", "NOTIFY_", "WATCHDOG_"))}
    quiet.update(KIOSK_CARD_READER="virtual", TMPDIR=str(tmp_path), XDG_RUNTIME_DIR=str(runtime), HOME=str(runtime))
    crashed = kill_during_2207([*as_nobody, str(KIOSK), "--config", str(config), "demo", "--autopilot"],
                               {**quiet, "QT_QPA_PLATFORM": "offscreen"}, data)

    notify = NotifySocket(tmp_path / "notify.sock")
    env = _env(tmp_path, notify, XDG_RUNTIME_DIR=str(runtime), HOME=str(runtime), WLR_BACKENDS="headless",
               WLR_LIBINPUT_NO_DEVICES="1", WLR_RENDERER="pixman", QT_QPA_PLATFORM="wayland")
    cage = subprocess.Popen([*as_nobody, "cage", "-d", "--", str(KIOSK), "--config", str(config), "run"], env=env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert cage.stderr is not None
        ended = LogWatch(cage.stderr, rf"the interrupted visit {crashed.visit_id} \(\S+\) ended: (\w+)")
        notify.expect("READY=1", timeout_s=120)
        assert any(line.endswith("showing interrupted") for line in notify.seen), notify.seen
        # a whole frame through the compositor (see _photograph: a photograph of an update may show only
        # the changed labels on black)
        _assert_the_window_fills_the_output(_photograph(as_nobody, env, runtime, "cage-interrupted-visit.png"),
                                            notify.seen)
        assert ended.wait(60) == "settled"  # resent at once, and the screen followed it to its end
        assert len(standing_settlements(data)) == 1
    finally:
        notify.close()
        if cage.poll() is None:
            cage.kill()
            cage.wait()


def _photograph(as_nobody: list[str], env: dict[str, str], runtime: Path, name: str) -> np.ndarray:
    """The compositor's output through grim, kept as <SHOTS>/<name> (tests/screenshots.py). READY=1 comes once the window
    is exposed (its first whole frame committed to the compositor). cage's headless output with
    the pixman renderer (wlroots 0.15) hands grim the last frame it rendered, and it renders only what was
    damaged: once the status line has changed (the gateway found, ~2 s after READY) a photograph shows that
    line on black until the whole window is drawn again. So photograph at once and until a frame is whole
    (see _fill_problems) or 20 s have passed; the last one is returned."""
    shot = runtime / name
    deadline = time.monotonic() + 20
    while True:
        grim = subprocess.run([*as_nobody, "grim", str(shot)], env={**env, "WAYLAND_DISPLAY": "wayland-0"},
                              capture_output=True, text=True, timeout=60)
        assert grim.returncode == 0, grim.stderr
        image = np.asarray(Image.open(shot).convert("RGB"))
        if not _fill_problems(image) or time.monotonic() > deadline:
            break
    shutil.copy(shot, SHOTS / name)
    return image


def _fill_problems(image: np.ndarray) -> list[str]:
    """Why a photograph of the output is not the kiosk full screen: black edges (the compositor's background
    shows: the window does not fill the output), or a uniform frame (nothing drawn)."""
    height, width = image.shape[:2]
    if (width, height) != (1280, 720):  # cage's headless output
        return [f"the output is {width}x{height}, not cage's headless 1280x720"]
    edges = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    lit = (edges.mean(axis=1) > 40).mean()
    problems = [] if lit > 0.95 else [f"black edges ({lit:.0%} of the edge lit): the window does not fill the output"]
    return problems + ([] if image.std() > 10 else ["a uniform frame: nothing drawn"])


def _assert_the_window_fills_the_output(image: np.ndarray, notified: list[str]) -> None:
    """Full screen: the window covers the whole output, and it is the kiosk's light background, not an empty
    frame. When the compositor handed over only a damaged part (see _photograph: on a busy machine the first
    whole frame can pass between two photographs), the photograph must still show the kiosk's pixels through
    the compositor, and the kiosk's own account of its geometry (READY=1's STATUS line, ``notified``) must
    say the window fills cage's output."""
    problems = _fill_problems(image)
    if not problems:
        return
    drawn = (image.mean(axis=2) > 40).mean()
    geometry = next((found.group(1) for line in notified
                     if (found := re.match(r"STATUS=window (\d+x\d+ on a \d+x\d+) screen", line))), None)
    assert drawn > 0.005 and geometry == "1280x720 on a 1280x720", \
        f"{problems}; {drawn:.1%} of the output drawn; the kiosk said: window {geometry} screen"


def _child_of(parent: int, name: str) -> int:
    """The pid of the first descendant of ``parent`` whose command line mentions ``name`` (not cage itself)."""
    for pid in descendants(parent):
        cmdline = command(pid)
        if name in cmdline and "cage" not in cmdline.split(" ", 1)[0]:
            return pid
    raise AssertionError(f"no {name} process under {parent}")


@pytest.mark.parametrize("session", ["x11", "cage"])
def test_the_unit_is_a_notify_service_with_a_watchdog_that_systemd_accepts(tmp_path: Path, session: str) -> None:
    import dataclasses

    from kiosk.config import KioskConfig, UiConfig
    from scripts.provision_machine import service_unit

    cfg = dataclasses.replace(KioskConfig(data_dir=str(tmp_path / "data")), ui=UiConfig(session=session, watchdog_s=20))
    unit = service_unit(cfg, tmp_path / "kiosk.toml", "root")
    lines = unit.splitlines()
    for line in ("Type=notify", "NotifyAccess=all", "WatchdogSec=20", "Restart=always", "RestartSec=1",
                 "TimeoutAbortSec=10"):
        assert line in lines, line
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    if session == "cage":
        assert exec_start.startswith("ExecStart=/usr/bin/cage -d -- ") and exec_start.endswith("/kiosk run")
        assert "TTYPath=/dev/tty1" in lines and "Environment=QT_QPA_PLATFORM=wayland" in lines
        assert " -s " not in exec_start  # no VT switching: no way out to a console
    else:
        assert "Environment=DISPLAY=:0" in lines and exec_start.endswith("/kiosk run")
    if shutil.which("systemd-analyze") and (session != "cage" or shutil.which("cage")):
        path = tmp_path / "hospital-kiosk.service"
        path.write_text(unit, encoding="utf-8")
        checked = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, check=False)
        problems = [line for line in (checked.stdout + checked.stderr).splitlines()
                    if "Unknown key" in line or "Failed to parse" in line or "Invalid" in line or "not executable" in line]
        assert problems == [], problems


@contextlib.contextmanager
def _bare_x_server() -> Iterator[str]:
    """Xvfb at 1366x768, no window manager; yields its DISPLAY."""
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1366x768x24", "-nolisten", "tcp"],
                            pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as displayfd:
            display = displayfd.readline().strip()  # Xvfb writes its display number once it accepts clients
        assert display, "Xvfb did not start"
        yield f":{display}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=30)


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Debian's xvfb is not installed (scripts/setup.sh installs it)")
def test_under_a_bare_x_server_the_window_fills_the_screen(tmp_path: Path, notify: NotifySocket) -> None:
    """No window manager to size it (issue 23 saw 809x634 in a corner): the window takes the screen."""
    with _bare_x_server() as display:
        kiosk = subprocess.Popen([str(KIOSK), "demo"], env=_env(tmp_path, notify, DISPLAY=display,
                                                                QT_QPA_PLATFORM="xcb"),
                                 cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            notify.expect("READY=1", timeout_s=120)
            assert "STATUS=window 1366x768 on a 1366x768 screen, showing idle" in notify.seen, notify.seen
        finally:
            kiosk.terminate()
            kiosk.wait(timeout=60)


ROLE_STARTS = {  # how each role's window is started, as the unit (kiosk run) or a technician (kiosk demo) does
    "patient-run": (["run"], {}, "idle"),
    "workstation-run": (["run"], {"KIOSK_TERMINAL_ROLE": "workstation"}, "locked"),
    "clinician-demo": (["demo", "--role", "clinician"], {}, "locked"),
    "workstation-demo": (["demo"], {"KIOSK_TERMINAL_ROLE": "workstation"}, "locked"),
}


@pytest.mark.parametrize("platform", ["offscreen", "xcb"])
@pytest.mark.parametrize("start", sorted(ROLE_STARTS))
def test_each_roles_window_starts_as_the_service_starts_it(tmp_path: Path, notify: NotifySocket, start: str,
                                                            platform: str) -> None:
    """Issue 35.1: the clinician workstation's window crashed on start (the patient window's start-up
    method called on it), and a demo config with the workstation role showed the patient kiosk. Each
    role's real window, through the one path both commands take, says READY=1 with its first screen,
    and stops cleanly on SIGTERM."""
    argv, extra, first_screen = ROLE_STARTS[start]
    with contextlib.ExitStack() as stack:
        display = {}
        if platform == "xcb":
            if shutil.which("Xvfb") is None:
                pytest.skip("Debian's xvfb is not installed (scripts/setup.sh installs it)")
            display = {"DISPLAY": stack.enter_context(_bare_x_server())}
        kiosk = subprocess.Popen([str(KIOSK), *argv], env=_env(tmp_path, notify, QT_QPA_PLATFORM=platform,
                                                               **display, **extra),
                                 cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            expect_ready(notify, kiosk)
            status = next((line for line in notify.seen if line.startswith("STATUS=window ")), "")
            assert status.endswith(f", showing {first_screen}"), notify.seen
            if platform == "xcb":
                assert status.startswith("STATUS=window 1366x768 on a 1366x768 screen"), status
            kiosk.send_signal(signal.SIGTERM)
            assert kiosk.wait(timeout=60) == 0, kiosk.stderr.read() if kiosk.stderr else ""
        finally:
            if kiosk.poll() is None:
                kiosk.kill()
                kiosk.wait()


def test_the_full_screen_judgement_of_a_photograph() -> None:
    """A whole light frame passes; a frame of only the damaged status line passes only when the kiosk says
    its window fills cage's output; a black frame or a smaller window does not."""
    said_full = ["READY=1", "STATUS=window 1280x720 on a 1280x720 screen, showing idle"]
    said_small = ["READY=1", "STATUS=window 1024x600 on a 1280x720 screen, showing idle"]
    whole = np.full((720, 1280, 3), 235, np.uint8)
    whole[300:400, 200:900] = 20  # text
    damaged_only = np.zeros((720, 1280, 3), np.uint8)
    damaged_only[672:712, 24:1256] = 235  # the status line, as the compositor hands it over after an update
    _assert_the_window_fills_the_output(whole, said_small)  # judged on the pixels alone
    _assert_the_window_fills_the_output(damaged_only, said_full)
    for image, notified in ((damaged_only, said_small), (np.zeros((720, 1280, 3), np.uint8), said_full),
                            (damaged_only, ["READY=1"])):
        with pytest.raises(AssertionError, match="black edges"):
            _assert_the_window_fills_the_output(image, notified)
    assert _fill_problems(np.zeros((800, 1280, 3), np.uint8)) == ["the output is 1280x800, not cage's headless 1280x720"]
