"""Starting and stopping pcscd with the vpcd virtual reader, for the demo, tests and field checks.

pcscd 1.9 always serves ``/run/pcscd/pcscd.comm``; when a pcscd already runs we
use it (and never stop it), otherwise we start our own in the foreground with a
reader configuration that names only the virtual reader.

Our own daemon's virtual reader listens on a port below Linux's ephemeral range
(32768-60999). vsmartcard's default, 35963, lies inside it: any outgoing
connection on the machine may hold it as its local port, the driver then cannot
bind, pcscd starts without the reader and nothing says why (a CI run met this).
The port is checked before the start, and the reader must show up after it.
vpcd opens two readers, on the port and the one above it.

A private daemon: pcscd itself always listens on ``/run/pcscd/pcscd.comm``, but
the client library connects where ``PCSCLITE_CSOCK_NAME`` points (read once, at
the process's first PC/SC call). When that names another folder, our pcscd is
started in a mount namespace of its own with that folder bound over
``/run/pcscd``: its socket is the private one, the machine's pcscd (and any other
private one) is untouched, and two demos or two test workers each have their own
reader and card. A file beside the private socket names its virtual reader's
port, so a process that adopts that daemon inserts its cards where it listens.
"""

from __future__ import annotations

import atexit
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
PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")  # where pcscd listens (the machine's, or ours in its namespace)
PORT_FILE = "vpcd-port"  # beside a private socket: its daemon's virtual reader port
SYSTEM_VPCD_CONF = Path("/etc/reader.conf.d/vpcd")  # what the vsmartcard-vpcd package gives the machine's pcscd
OWN_VPCD_PORT = 29963  # our own pcscd's virtual reader: below the ephemeral ports, so no client socket holds it
PORT_ENV = "KIOSK_VPCD_PORT"  # a private daemon's port, reserved by reserve_vpcd_port for this process
_reserved: list[object] = []  # the lock files of the ports this process holds, open for its lifetime
VIRTUAL_READER = "Virtual PCD"


def pcscd_socket() -> Path:
    """The socket this process's PC/SC calls go to: ``PCSCLITE_CSOCK_NAME`` when set, else the machine's."""
    return Path(os.environ.get("PCSCLITE_CSOCK_NAME") or PCSCD_SOCKET)


def private_socket() -> bool:
    return pcscd_socket() != PCSCD_SOCKET


def use_private_pcscd(folder: Path) -> Path:
    """Point this process's PC/SC calls (and its children's) at a private pcscd in ``folder``. Call before
    the first PC/SC call: the client library reads the variable once. Returns the socket's path."""
    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "pcscd.comm"
    os.environ["PCSCLITE_CSOCK_NAME"] = str(socket_path)
    return socket_path


def adopted_port() -> int:
    """The virtual reader's port of the pcscd already answering on our socket: a private one names it in
    the file beside its socket; the machine's in its reader configuration."""
    if private_socket():
        with contextlib.suppress(OSError, ValueError):
            return int((pcscd_socket().parent / PORT_FILE).read_text(encoding="ascii"))
    return system_vpcd_port()


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


def own_vpcd_port() -> int:
    """The port our own pcscd's virtual reader listens on: the one this process reserved, else 29963."""
    return int(os.environ.get(PORT_ENV) or OWN_VPCD_PORT)


def reserve_vpcd_port(tries: int = 64) -> int:
    """Reserve a free pair of virtual reader ports (vpcd listens on the port and the next) for this process
    and its children, above 29963 in steps of two: a lock file per port, held while the process lives,
    keeps two demos or test workers started at the same moment from choosing the same pair."""
    import fcntl

    for port in range(OWN_VPCD_PORT, OWN_VPCD_PORT + 2 * tries, 2):
        lock = open(Path(tempfile.gettempdir()) / f"kiosk-vpcd-{port}.lock", "w")  # noqa: SIM115 - held open
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        if port_taken(port) or port_taken(port + 1):  # held by something that does not take our locks
            lock.close()
            continue
        _reserved.append(lock)
        os.environ[PORT_ENV] = str(port)
        return port
    raise ReaderUnavailable(f"no free pair of virtual reader ports from {OWN_VPCD_PORT} on ({tries} tried)")


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
            pcscd_socket().unlink()
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
            pcscd_socket().unlink()


def _daemon_command(conf: Path) -> list[str]:
    """pcscd in the foreground on ``conf``; for a private socket, in a mount namespace of its own with the
    socket's folder bound over /run/pcscd (root only: mounting needs it)."""
    daemon = [pcscd_binary() or "pcscd", "--foreground", "--config", str(conf)]
    if not private_socket():
        return daemon
    if os.geteuid() != 0:
        raise ReaderUnavailable(f"a private pcscd (PCSCLITE_CSOCK_NAME={pcscd_socket()}) needs root to start: "
                                "run as root, or unset PCSCLITE_CSOCK_NAME")
    unshare = shutil.which("unshare")
    if unshare is None:
        raise ReaderUnavailable("a private pcscd needs unshare (Debian's util-linux)")
    return [unshare, "--mount", "--propagation", "private", "--", "sh", "-c",
            'mkdir -p /run/pcscd && mount --bind "$0" /run/pcscd && exec "$@"', str(pcscd_socket().parent), *daemon]


def start_pcscd(port: int | None = None, *, timeout_s: float = 10.0) -> PcscdHandle:
    """Use a pcscd already answering on our socket (its virtual reader on the port it names), or start one
    serving only the virtual reader on ``port`` (a private one when ``PCSCLITE_CSOCK_NAME`` says so)."""
    missing = missing_parts()
    if missing:
        raise ReaderUnavailable(f"not installed: {missing} (scripts/setup.sh installs them)")
    if pcscd_responds():
        return PcscdHandle(process=None, port=adopted_port())
    port = own_vpcd_port() if port is None else port
    for each in (port, port + 1):  # vpcd's two readers
        taken = port_taken(each)
        if taken:
            raise ReaderUnavailable(f"the virtual reader's TCP port {each} is taken ({taken}): "
                                    "stop what listens there or choose another port")
    conf = Path(tempfile.mkdtemp(prefix="kiosk-pcscd-"))
    (conf / "vpcd").write_text(
        f'FRIENDLYNAME "{VIRTUAL_READER}"\nDEVICENAME /dev/null:0x{port:04X}\nLIBPATH {VPCD_DRIVER}\n'
        f"CHANNELID 0x{port:04X}\n", encoding="ascii")
    with contextlib.suppress(FileNotFoundError):
        pcscd_socket().unlink()  # a stale socket from a killed daemon
    if private_socket():
        pcscd_socket().parent.mkdir(parents=True, exist_ok=True)
        (pcscd_socket().parent / PORT_FILE).write_text(str(port), encoding="ascii")
    log_path = conf / "pcscd.log"
    handle = PcscdHandle(process=None, port=port, log_path=log_path)
    try:
        command = _daemon_command(conf)
        with open(log_path, "wb") as log_file:
            handle.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                              start_new_session=True)
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


def isolate_this_process() -> Path | None:
    """Give this process (and what it starts) a private pcscd socket of its own, in a new temporary folder,
    whatever it inherited: a demo's or a demo selftest's virtual card is then seen by its own kiosk only,
    never by another demo or the machine's pcscd (and never theirs by it). Call at the start of the
    process, before any PC/SC call. Not root: nothing changes (no private daemon can be mounted), None."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return None
    folder = Path(tempfile.mkdtemp(prefix="kiosk-pcsc-"))
    use_private_pcscd(folder)
    atexit.register(shutil.rmtree, folder, True)
    reserve_vpcd_port()
    return folder


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(nothing)"
