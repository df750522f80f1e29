"""Cards through the real PC/SC stack: pcscd with the vpcd driver, our virtual card over TCP, pyscard."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.errors import CardDataCorrupt, CardError, CardMute, CardRemoved, NotSocialSecurityCard, ReaderUnavailable

from drivers.card.pcsc_reader import PcscCardReader, ReaderState
from drivers.card.pcscd_service import PcscdHandle, missing_parts, port_taken, start_pcscd, virtual_reader_listed
from drivers.card.virtual_card import Fault, VirtualSocialSecurityCard, load_holders
from drivers.card.vpcd_card import VpcdCardSession

HOLDERS = load_holders()
pytestmark = pytest.mark.skipif(bool(missing_parts()), reason=f"PC/SC stack not installed: {missing_parts()}")


@pytest.fixture(scope="module")
def pcscd() -> Iterator[PcscdHandle]:
    handle = start_pcscd()
    if not handle.owned and not virtual_reader_listed():
        pytest.skip("a pcscd started before vsmartcard-vpcd was installed is running without the virtual "
                    "reader: restart pcscd")
    yield handle
    handle.stop()


class Events:
    """Card inserted/removed notifications as the reader's monitor thread delivers them."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._changed = threading.Condition()

    def note(self, what: str) -> None:
        with self._changed:
            self.seen.append(what)
            self._changed.notify_all()

    def wait(self, count: int, timeout_s: float = 15.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.seen) >= count, timeout=timeout_s)


@pytest.fixture
def reader(pcscd: PcscdHandle) -> Iterator[tuple[PcscCardReader, Events]]:
    r, events = PcscCardReader(), Events()
    r.set_listener(lambda: events.note("in"), lambda: events.note("out"))
    r.start()
    assert r.wait_for_state(ReaderState.EMPTY, timeout_s=10), r.state
    events.seen.clear()  # a card the previous test left may have been reported before pcscd saw it go
    yield r, events
    r.wait_for_state(ReaderState.EMPTY, timeout_s=5)  # pcscd has seen the last card leave: the next test starts clean
    r.close()


def insert(card: VirtualSocialSecurityCard, pcscd: PcscdHandle, **kwargs: float) -> VpcdCardSession:
    session = VpcdCardSession(card, port=pcscd.port, **kwargs)
    session.insert()
    return session


@pytest.mark.parametrize("key", ["demo", "employee", "expired", "unknown_person"])
def test_holders_read_correctly(reader: tuple[PcscCardReader, Events], pcscd: PcscdHandle, key: str) -> None:
    r, events = reader
    session = insert(VirtualSocialSecurityCard(HOLDERS[key]), pcscd)
    try:
        assert events.wait(1) and events.seen == ["in"]
        assert r.read_identity() == HOLDERS[key]
        assert "Virtual PCD" in r.description
    finally:
        session.remove()
    assert events.wait(2) and events.seen == ["in", "out"]


@pytest.mark.parametrize(("fault", "error", "message"), [
    (Fault.NOT_SSC, NotSocialSecurityCard, "no social-security application"),
    (Fault.CORRUPT_TLV, CardDataCorrupt, "malformed"),
    (Fault.WRONG_LENGTH, CardDataCorrupt, "kept asking"),
    (Fault.REMOVED_MID_READ, CardRemoved, "removed during the read"),
    (Fault.MUTE, CardMute, "does not answer"),
])
def test_faults_give_their_clear_error(reader: tuple[PcscCardReader, Events], pcscd: PcscdHandle, fault: Fault,
                                       error: type[CardError], message: str) -> None:
    r, events = reader
    session = insert(VirtualSocialSecurityCard(HOLDERS["demo"], fault=fault), pcscd)
    try:
        assert events.wait(1)
        with pytest.raises(error, match=message):
            r.read_identity()
    finally:
        session.remove()


def test_removal_mid_read_leaves_nothing_and_the_next_card_reads(reader: tuple[PcscCardReader, Events],
                                                                 pcscd: PcscdHandle) -> None:
    r, events = reader
    session = insert(VirtualSocialSecurityCard(HOLDERS["demo"], fault=Fault.REMOVED_MID_READ, remove_after=9), pcscd)
    assert events.wait(1)
    result = None
    with pytest.raises(CardRemoved):
        result = r.read_identity()
    assert result is None  # no partial identity
    assert events.wait(2) and events.seen[-1] == "out"
    session.remove()
    session = insert(VirtualSocialSecurityCard(HOLDERS["employee"]), pcscd)
    assert events.wait(3)
    assert r.read_identity().name == "李建国"
    session.remove()


def test_slow_card_still_reads(reader: tuple[PcscCardReader, Events], pcscd: PcscdHandle) -> None:
    r, events = reader
    session = insert(VirtualSocialSecurityCard(HOLDERS["demo"]), pcscd, delay_s=0.03)
    assert events.wait(1)
    started = time.monotonic()
    assert r.read_identity().name == "王秀英"
    assert time.monotonic() - started >= 0.03 * 15  # every command was slow
    session.remove()


def test_no_card_in_the_reader(reader: tuple[PcscCardReader, Events]) -> None:
    r, _ = reader
    with pytest.raises(CardRemoved, match="no card"):
        r.read_identity()


def test_pcscd_killed_and_restarted_while_the_kiosk_runs(pcscd: PcscdHandle) -> None:
    if not pcscd.owned:
        pytest.skip("a pcscd we did not start is running: not killing it")
    r, events = PcscCardReader(), Events()
    r.set_listener(lambda: events.note("in"), lambda: events.note("out"))
    r.start()
    try:
        assert r.wait_for_state(ReaderState.EMPTY, timeout_s=10)
        session = insert(VirtualSocialSecurityCard(HOLDERS["demo"]), pcscd)
        assert events.wait(1)
        pcscd.kill()  # crash, with a card in the reader
        assert r.wait_for_state(ReaderState.PCSCD_NOT_RUNNING, timeout_s=5), r.state
        assert events.wait(2) and events.seen[-1] == "out"
        with pytest.raises(ReaderUnavailable, match="pcscd is not running"):
            r.read_identity()
        session.remove()
        restarted = start_pcscd(pcscd.port)
        pcscd.process = restarted.process  # the module fixture stops the new one
        assert r.wait_for_state(ReaderState.EMPTY, timeout_s=10), r.state
        session = insert(VirtualSocialSecurityCard(HOLDERS["employee"]), pcscd)
        assert events.wait(3)
        assert r.read_identity().name == "李建国"  # same reader object: no kiosk restart
        assert r.contexts_established >= 2
        session.remove()
        r.wait_for_state(ReaderState.EMPTY, timeout_s=5)
    finally:
        r.close()


def test_field_check_command_inserts_a_card(reader: tuple[PcscCardReader, Events], pcscd: PcscdHandle) -> None:
    import subprocess
    import sys

    r, events = reader
    command = subprocess.Popen([sys.executable, "-m", "drivers.card", "--holder", "employee", "--seconds", "20",
                                "--port", str(pcscd.port)], stdout=subprocess.PIPE, text=True)
    try:
        assert events.wait(1, timeout_s=10)
        assert r.read_identity().name == "李建国"
    finally:
        command.terminate()
        command.wait(timeout=10)
    unknown = subprocess.run([sys.executable, "-m", "drivers.card", "--holder", "nobody"], capture_output=True,
                             text=True, timeout=30)
    assert unknown.returncode == 2 and "unknown holder" in unknown.stderr


def test_a_card_held_briefly_by_another_process_is_waited_for(reader: tuple[PcscCardReader, Events],
                                                               pcscd: PcscdHandle) -> None:
    """pcscd answers a sharing violation (0x8010000B) while another client holds the card: the read
    waits for the card to be released instead of sending the patient to the counter."""
    import threading

    from smartcard import scard as sc

    r, events = reader
    session = insert(VirtualSocialSecurityCard(HOLDERS["demo"]), pcscd)
    try:
        assert events.wait(1)
        hres, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
        _, names = sc.SCardListReaders(ctx, [])
        name = next(n for n in names if "Virtual PCD" in n)
        hres, handle, _ = sc.SCardConnect(ctx, name, sc.SCARD_SHARE_EXCLUSIVE,
                                          sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1)
        assert hres == sc.SCARD_S_SUCCESS  # another process now holds the card exclusively
        released = threading.Event()
        read: list[object] = []
        worker = threading.Thread(target=lambda: read.append(r.read_identity()))
        real_connect = sc.SCardConnect

        def release_after_first_refusal(*args: object) -> object:
            result = real_connect(*args)
            if result[0] != sc.SCARD_S_SUCCESS and not released.is_set():
                sc.SCardDisconnect(handle, sc.SCARD_LEAVE_CARD)  # the other process lets go
                released.set()
            return result

        sc.SCardConnect = release_after_first_refusal
        try:
            worker.start()
            worker.join(timeout=10)
        finally:
            sc.SCardConnect = real_connect
            sc.SCardReleaseContext(ctx)
        assert released.is_set() and read == [HOLDERS["demo"]]
    finally:
        session.remove()


def test_the_virtual_readers_port_is_never_an_ephemeral_one_and_a_taken_port_is_named() -> None:
    """A CI run once met pcscd without its virtual reader: vsmartcard's default port 35963 lies in Linux's
    ephemeral range, and an outgoing connection held it as its local port, so the driver could not bind."""
    from drivers.card.pcscd_service import OWN_VPCD_PORT, own_vpcd_port

    low, high = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    for port in (OWN_VPCD_PORT, own_vpcd_port(), OWN_VPCD_PORT + 2 * 64 + 1):  # the first, ours, the last reservable
        assert not low <= port <= high, (port, low, high)
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.socket()
        try:
            client.connect(server.getsockname())  # its local port: an ephemeral one, as any client's
            held = client.getsockname()[1]
            assert port_taken(held), f"port {held} is held by a connected socket"
        finally:
            client.close()
    assert port_taken(own_vpcd_port()) == "" or virtual_reader_listed()  # free, or our pcscd's reader has it


TWO_DEMOS = """
import sys, time
from drivers.card.pcscd_service import isolate_this_process, own_vpcd_port, pcscd_socket, start_pcscd
from drivers.card.pcsc_reader import PcscCardReader, ReaderState
from drivers.card.virtual_card import VirtualSocialSecurityCard, load_holders
from drivers.card.vpcd_card import VpcdCardSession

isolate_this_process()
pcscd = start_pcscd()
print(pcscd.owned, own_vpcd_port(), pcscd_socket(), flush=True)
reader = PcscCardReader()
reader.set_listener(lambda: None, lambda: None)
reader.start()
assert reader.wait_for_state(ReaderState.EMPTY, timeout_s=10), reader.state
session = VpcdCardSession(VirtualSocialSecurityCard(load_holders()[sys.argv[1]]), port=pcscd.port)
session.insert()
assert reader.wait_for_state(ReaderState.CARD_PRESENT, timeout_s=10), reader.state
print(reader.read_identity().name, flush=True)
sys.stdin.readline()  # held until both have read: each must see its own card, not the other's
session.remove()
reader.close()
pcscd.stop()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="a private pcscd is mounted over /run/pcscd: root only")
def test_two_demos_at_once_each_read_their_own_card_in_their_own_pcscd() -> None:
    """Issue 35.19 and the parallel suite: two processes, each isolated (as `kiosk demo` is), each with a
    card of another holder in its virtual reader at the same time; each reads its own, on its own port and
    socket, and the machine's /run/pcscd is not touched."""
    system_socket_before = Path("/run/pcscd/pcscd.comm").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("PCSCLITE_CSOCK_NAME", "KIOSK_VPCD_PORT")}
    holders = ("demo", "employee")
    children = [subprocess.Popen([sys.executable, "-c", TWO_DEMOS, key], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1], env=env)
                for key in holders]
    try:
        started = [child.stdout.readline().split() for child in children]  # type: ignore[union-attr]
        read = [child.stdout.readline().strip() for child in children]  # type: ignore[union-attr]
        for child in children:
            child.stdin.write("\n")  # type: ignore[union-attr]
            child.stdin.flush()  # type: ignore[union-attr]
        outcomes = [child.wait(timeout=60) for child in children]
        errors = [child.stderr.read()[-2000:] for child in children]  # type: ignore[union-attr]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert outcomes == [0, 0], errors
    assert [s[0] for s in started] == ["True", "True"], started  # each started its own daemon
    assert started[0][1] != started[1][1] and started[0][2] != started[1][2], started  # own port, own socket
    expected = [load_holders()[key].name for key in holders]
    assert read == expected, (read, expected)
    assert Path("/run/pcscd/pcscd.comm").exists() == system_socket_before


def test_an_adopted_pcscd_is_used_on_the_port_its_configuration_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from drivers.card.pcscd_service import system_vpcd_port

    conf = tmp_path / "vpcd"
    conf.write_text('FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x8C7B\nCHANNELID    0x75AB\n', encoding="ascii")
    assert system_vpcd_port(conf) == 0x75AB
    conf.write_text("# CHANNELID 0x1234\nCHANNELID 30001\n", encoding="ascii")
    assert system_vpcd_port(conf) == 30001
    conf.write_text("FRIENDLYNAME x\n", encoding="ascii")
    assert system_vpcd_port(conf) == 35963  # none named: vsmartcard's default
    assert system_vpcd_port(tmp_path / "absent") == 35963
