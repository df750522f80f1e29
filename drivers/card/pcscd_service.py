"""Starting and stopping pcscd with the vpcd virtual reader, for the demo, tests and field checks.

pcscd 1.9 always serves ``/run/pcscd/pcscd.comm``; when a pcscd already runs we
use it (and never stop it), otherwise we start our own in the foreground with a
reader configuration that names only the virtual reader.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import ReaderUnavailable

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")


def pcscd_binary() -> str | None:
    return shutil.which("pcscd") or next((p for p in ("/usr/sbin/pcscd", "/sbin/pcscd") if os.access(p, os.X_OK)),
                                         None)


def missing_parts() -> str:
    """Empty when pcscd and the vpcd driver are installed, else what is missing."""
    missing = [name for name, ok in (("pcscd", pcscd_binary() is not None), ("vsmartcard-vpcd", VPCD_DRIVER.exists()))
               if not ok]
    return ", ".join(missing)


def pcscd_responds(timeout_s: float = 0.0) -> bool:
    """True when a PC/SC context can be established (pcscd running and reachable)."""
    from smartcard.scard import SCARD_S_SUCCESS, SCARD_SCOPE_USER, SCardEstablishContext, SCardReleaseContext

    deadline = time.monotonic() + timeout_s
    while True:
        hres, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
        if hres == SCARD_S_SUCCESS:
            SCardReleaseContext(ctx)
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@dataclass
class PcscdHandle:
    """A pcscd we started (``process`` set) or found running (``process`` None)."""

    process: subprocess.Popen[bytes] | None
    port: int
    log_path: Path | None = None

    @property
    def owned(self) -> bool:
        return self.process is not None

    def stop(self) -> None:
        """Stop a pcscd we started; returns once no daemon answers, so the next start cannot adopt a
        dying one."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            PCSCD_SOCKET.unlink()
        deadline = time.monotonic() + 2
        while pcscd_responds() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.log_path is not None:  # its temporary configuration folder
            shutil.rmtree(self.log_path.parent, ignore_errors=True)

    def kill(self) -> None:
        """A crash, for tests: SIGKILL and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            PCSCD_SOCKET.unlink()


def start_pcscd(port: int = 35963, *, timeout_s: float = 10.0) -> PcscdHandle:
    """Use a running pcscd, or start one serving only the virtual reader on ``port``."""
    missing = missing_parts()
    if missing:
        raise ReaderUnavailable(f"not installed: {missing} (scripts/setup.sh installs them)")
    if pcscd_responds():
        return PcscdHandle(process=None, port=port)
    conf = Path(tempfile.mkdtemp(prefix="kiosk-pcscd-"))
    (conf / "vpcd").write_text(
        f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x{port:04X}\nLIBPATH {VPCD_DRIVER}\n'
        f"CHANNELID 0x{port:04X}\n", encoding="ascii")
    with contextlib.suppress(FileNotFoundError):
        PCSCD_SOCKET.unlink()  # a stale socket from a killed daemon
    log_path = conf / "pcscd.log"
    handle = PcscdHandle(process=None, port=port, log_path=log_path)
    try:
        with open(log_path, "wb") as log_file:
            handle.process = subprocess.Popen([pcscd_binary() or "pcscd", "--foreground", "--config", str(conf)],
                                              stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        started = pcscd_responds(timeout_s)
    except BaseException:  # interrupted while waiting: the daemon must not outlive us
        handle.stop()
        raise
    if not started:
        handle.stop()
        raise ReaderUnavailable(f"pcscd did not start (see {log_path}); are you root?")
    return handle
