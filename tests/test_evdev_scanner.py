"""The keyboard-wedge scanner read from its input device, end to end to a resolved voucher.

This machine has no /dev/input and no /dev/uinput, so no kernel input device can be made here. The
scanner's device is a FIFO instead, carrying exactly what the kernel delivers: 24-byte ``struct
input_event`` records with their timestamps. The reader code is the same for both; only the grab
(EVIOCGRAB) cannot work on a FIFO, and the reader says so and goes on."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk import visit as v
from kiosk.domain import CertType

from drivers.card.virtual_card import load_holders
from drivers.gateway.sandbox.server import SandboxGateway
from drivers.qr.evdev_scanner import EVENT, EV_KEY, EvdevWedgeScanner, key_events
from tests.test_voucher_flow import next_scan, visit_from_scan

DEMO = load_holders()["demo"]


class Device:
    """A FIFO standing in for /dev/input/eventN: each write() is one burst of the kernel's records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self._fd: int | None = None
        self._plugs = 0

    def plug(self, reader: EvdevWedgeScanner, timeout_s: float = 10.0) -> None:
        """Waits for the reader to have opened the FIFO once more than at the last plug (a writer's
        non-blocking open fails with ENXIO while no reader has it open), then opens the writing end."""
        self._plugs += 1
        assert reader.wait_opens(self._plugs, timeout_s), "the reader never opened the device"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(self._fd, True)

    def write(self, records: bytes) -> None:
        assert self._fd is not None
        os.write(self._fd, records)

    def type(self, text: str, *, gap_s: float = 0.004, suffix: str = "\r") -> None:
        """Written at once, stamped as typed until now (the reader sees a burst that it read late)."""
        start = time.time() - (len(text) + len(suffix)) * gap_s
        self.write(key_events(text, start=start, gap_s=gap_s, suffix=suffix))

    def unplug(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@pytest.fixture
def wedge(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Device, list[str], threading.Event]]:
    suffix = getattr(request, "param", "enter")
    device = Device(tmp_path / "event-kbd")
    reader = EvdevWedgeScanner(str(device.path), suffix=suffix, max_gap_s=0.05)
    scans: list[str] = []
    arrived = threading.Event()
    reader.set_listener(lambda payload: (scans.append(payload), arrived.set()))
    reader.start()
    device.plug(reader)
    yield device, scans, arrived
    device.unplug()
    reader.close()


def test_wedge_scanner_device_to_a_resolved_voucher(services, sandbox: SandboxGateway, wedge) -> None:
    device, scans, arrived = wedge
    code = sandbox.issue_voucher(DEMO.citizen_id)  # upper and lower case, digits, '-' and '_'
    device.type(code)
    scanned = next_scan(scans, arrived)
    assert scanned == code  # shift handled: the exact payload from key codes alone
    machine = visit_from_scan(services, scanned)
    assert machine.state == v.State.CONSENT, (machine.ctx.error_code, machine.ctx.error_message)
    assert machine.ctx.document.cert_type is CertType.VOUCHER and machine.ctx.person.certno == DEMO.citizen_id


@pytest.mark.parametrize(("wedge", "suffix"), [("tab", "\t"), ("none", "")], indirect=["wedge"])
def test_scanners_with_a_tab_or_no_suffix(wedge, suffix: str) -> None:
    device, scans, arrived = wedge
    device.type("ECfirst-code_0123456789", suffix=suffix)
    assert next_scan(scans, arrived) == "ECfirst-code_0123456789"  # with no suffix, the pause ends it
    device.type("ECsecond-code_987654", suffix=suffix)
    assert next_scan(scans, arrived) == "ECsecond-code_987654"


def test_a_person_typing_on_a_keyboard_is_not_a_scan(wedge) -> None:
    device, scans, arrived = wedge
    device.type("ECtypedbyhand1234", gap_s=0.2)  # five keys a second, by the kernel's own stamps
    device.type("ECscanned-after-typing")
    assert next_scan(scans, arrived) == "ECscanned-after-typing" and scans == []


def test_bad_scans_each_give_their_message(services, wedge) -> None:
    device, scans, arrived = wedge
    for text, reason in [("https://example.com/pay?id=1", "link"), ("134567890123456789", "payment_code"),
                         ("EC" + "A" * 5000, "length")]:
        device.type(text)
        machine = visit_from_scan(services, next_scan(scans, arrived))
        # issue 35.8: no visit begins; the idle screen says what to show instead
        assert machine.state == v.State.IDLE and machine.ctx.extra["idle_hint"] == f"voucher.{reason}", text


def test_noise_on_the_device_is_ignored_and_reading_goes_on(wedge) -> None:
    device, scans, arrived = wedge
    now = time.time()
    noise = b"".join(EVENT.pack(int(now), 0, kind, code, value) for kind, code, value in [
        (EV_KEY, 59, 1), (EV_KEY, 59, 0),        # F1: no character
        (EV_KEY, 103, 1), (EV_KEY, 103, 2),      # an arrow key, auto-repeating
        (0x04, 4, 458792), (0x00, 0, 0),         # EV_MSC scan code, EV_SYN
        (EV_KEY, 999, 1)])                       # no such key
    device.write(noise + b"\x01\x02\x03")  # and a record cut short: the rest of it never arrives
    device.write(bytes(EVENT.size - 3))  # ... until it does, as zeros (an EV_SYN)
    device.type("ECafter-the-noise-42")
    assert next_scan(scans, arrived) == "ECafter-the-noise-42" and scans == []


def test_an_unplugged_scanner_is_reopened_and_reads_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    path = tmp_path / "event-kbd"
    reader = EvdevWedgeScanner(str(path))
    scans: list[str] = []
    arrived = threading.Event()
    reader.set_listener(lambda payload: (scans.append(payload), arrived.set()))
    reader.start()
    try:
        assert reader.missing.wait(timeout=10)
        assert not reader.connected and "No such file" in caplog.text  # not plugged in yet: said once
        device = Device(path)
        device.plug(reader)  # within the reader's one-second retry
        device.type("ECbefore-unplugging-1")
        assert next_scan(scans, arrived) == "ECbefore-unplugging-1"
        assert "not grabbed" in caplog.text  # a FIFO is no input device: logged, and reading goes on
        device.unplug()
        device.plug(reader)
        device.type("ECafter-plugging-in-2")
        assert next_scan(scans, arrived) == "ECafter-plugging-in-2"
        device.unplug()
    finally:
        reader.close()


def test_an_unknown_suffix_is_refused() -> None:
    with pytest.raises(ValueError, match="enter, tab, none"):
        EvdevWedgeScanner("/dev/input/event0", suffix="crlf")


def test_the_config_puts_a_wedge_device_among_the_voucher_sources(demo_config) -> None:
    import dataclasses

    from scripts.composition import build_qr_sources

    cfg = dataclasses.replace(demo_config, qr=dataclasses.replace(demo_config.qr, camera=False, wedge_suffix="tab",
                                                                  wedge_device="/dev/input/by-id/usb-scanner-event-kbd"))
    sources = build_qr_sources(cfg, camera=None)
    assert [s.description for s in sources] == ["keyboard-wedge scanner /dev/input/by-id/usb-scanner-event-kbd"]
    assert sources[0]._wedge.terminators == ("\t",)
