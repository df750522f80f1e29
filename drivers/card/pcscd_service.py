"""Starting and stopping pcscd with the vpcd virtual reader, for the demo, tests and field checks.

pcscd 1.9 always serves ``/run/pcscd/pcscd.comm``; when a pcscd already runs we
use it (and never stop it), otherwise we start our own in the foreground with a
reader configuration that names only the virtual reader.

Our own daemon's virtual reader listens on a port below Linux's ephemeral range
(32768-60999). vsmartcard's default, 35963, lies inside it: any outgoing
connection on the machine may hold it as its local port, the driver then cannot
bind, pcscd starts without the reader and nothing says why (a CI run met this).
The port is checked before the start, and the reader must show up after it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import ReaderUnavailable

from drivers.card.vpcd_card import VPCD_PORT  # vsmartcard's default, when the machine's file names none

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
SYSTEM_VPCD_CONF = Path("/etc/reader.conf.d/vpcd")  # what the vsmartcard-vpcd package gives the machine's pcscd
OWN_VPCD_PORT = 29963  # our own pcscd's virtual reader: below the ephemeral ports, so no client socket holds it
VIRTUAL_READER = "Virtual PCD"


def pcscd_binary() -> str | None:
    return shutil.which("pcscd") or next((p for p in ("/usr/sbin/pcscd", "/sbin/pcscd") if os.access(p, os.X_OK)),
                                         None)


def missing_parts() -> str:
    """Empty when pcscd and the vpcd driver are installed, else what is missing."""
    missing = [name for name, ok in (("pcscd", pcscd_binary() is not None), ("vsmartcard-vpcd", VPCD_DRIVER.exists()))
               if not ok]
    return ", ".join(missing)


def _with_context(look: Callable[[int], bool], timeout_s: float) -> bool:
    """True once ``look(context)`` is true on a fresh PC/SC context (pcscd may still be starting), polled
    until ``timeout_s`` has passed; False when pcscd never answered or ``look`` never held."""
    from smartcard import scard as sc

    deadline = time.monotonic() + timeout_s
    while True:
        hres, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
        if hres == sc.SCARD_S_SUCCESS:
            try:
                if look(ctx):
                    return True
            finally:
                sc.SCardReleaseContext(ctx)
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def pcscd_responds(timeout_s: float = 0.0) -> bool:
    """True when a PC/SC context can be established (pcscd running and reachable)."""
    return _with_context(lambda _ctx: True, timeout_s)


def system_vpcd_port(conf: Path = SYSTEM_VPCD_CONF) -> int:
    """The port the machine's pcscd gives the virtual reader (its ``CHANNELID``)."""
    try:
        found = re.search(r"^\s*CHANNELID\s+(0x[0-9A-Fa-f]+|\d+)", conf.read_text(encoding="ascii"), re.MULTILINE)
    except (OSError, UnicodeDecodeError):
        return VPCD_PORT
    return int(found.group(1), 0) if found else VPCD_PORT


def port_taken(port: int) -> str:
    """Why the virtual reader could not listen on ``port`` (as vpcd binds it: any address, SO_REUSEADDR),
    or '' when it can."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("0.0.0.0", port))
        probe.listen(1)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        probe.close()
    return ""


def virtual_reader_listed(timeout_s: float = 0.0) -> bool:
    """True once pcscd lists the virtual reader (its driver is listening)."""
    from smartcard import scard as sc

    def listed(ctx: int) -> bool:
        _, names = sc.SCardListReaders(ctx, [])
        return any(VIRTUAL_READER in name for name in names or [])

    return _with_context(listed, timeout_s)


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


def start_pcscd(port: int = OWN_VPCD_PORT, *, timeout_s: float = 10.0) -> PcscdHandle:
    """Use a running pcscd (its virtual reader on the port its configuration names), or start one serving
    only the virtual reader on ``port``."""
    missing = missing_parts()
    if missing:
        raise ReaderUnavailable(f"not installed: {missing} (scripts/setup.sh installs them)")
    if pcscd_responds():
        return PcscdHandle(process=None, port=system_vpcd_port())
    taken = port_taken(port)
    if taken:
        raise ReaderUnavailable(f"the virtual reader's TCP port {port} is taken ({taken}): "
                                "stop what listens there or choose another port")
    conf = Path(tempfile.mkdtemp(prefix="kiosk-pcscd-"))
    (conf / "vpcd").write_text(
        f'FRIENDLYNAME "{VIRTUAL_READER}"\nDEVICENAME /dev/null:0x{port:04X}\nLIBPATH {VPCD_DRIVER}\n'
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
        reader_up = started and virtual_reader_listed(timeout_s)
    except BaseException:  # interrupted while waiting: the daemon must not outlive us
        handle.stop()
        raise
    if not reader_up:
        told = _tail(log_path)
        handle.stop()
        if not started:
            raise ReaderUnavailable(f"pcscd did not start; are you root? pcscd said: {told}")
        raise ReaderUnavailable(f"pcscd started without its virtual reader (port {port}); pcscd said: {told}")
    return handle


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(nothing)"
