"""The electronic voucher end to end: a hardware scanner (serial, on a pty; keyboard wedge) -> the visit
machine -> the voucher platform and 1101 type 01 on the sandbox over HTTP -> the consent screen; and every
bad scan gives its message without a crash."""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk import visit as v
from kiosk.config import KioskConfig
from kiosk.domain import CertType
from kiosk.errors import GatewayProtocolError

from drivers.camera.replay import ReplayCamera
from drivers.card.virtual_card import load_holders
from drivers.gateway.voucher_platform import HttpVoucherPlatform
from drivers.gateway.sandbox.server import SandboxGateway
from kiosk.keyboard_wedge import WedgeAssembler
from drivers.qr.serial_scanner import SerialQrScanner
from scripts.composition import Services

from test_gateway_client import canned_server  # the same canned HTTP answer as the gateway client's tests
from test_visit_integration import pump  # the same pump as whole visits; the services fixture is in conftest

DEMO = load_holders()["demo"]


class PtyScanner:
    """The device side of a serial scanner: what a real one would send down the wire."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def scanner() -> Iterator[tuple[PtyScanner, SerialQrScanner, list[str], threading.Event]]:
    device = PtyScanner()
    scans: list[str] = []
    arrived = threading.Event()
    reader = SerialQrScanner(device.device, idle_flush_s=0.2)

    def on_scan(payload: str) -> None:
        scans.append(payload)
        arrived.set()

    reader.set_listener(on_scan)
    reader.start()
    assert reader.wait_opens(1, timeout_s=10)
    yield device, reader, scans, arrived
    reader.close()
    device.close()


def next_scan(scans: list[str], arrived: threading.Event) -> str:
    """The oldest scan not yet taken, waiting for one when there is none (the listener appends, then
    sets ``arrived``)."""
    while not scans:
        assert arrived.wait(10), "no scan arrived"
        arrived.clear()
    return scans.pop(0)


def visit_from_scan(services: Services, payload: str) -> v.VisitMachine:
    machine = v.VisitMachine()
    pump(machine, services, v.VoucherScanned(payload=payload))
    return machine


def test_serial_scanner_to_a_resolved_voucher(services: Services, sandbox: SandboxGateway, scanner) -> None:
    device, _reader, scans, arrived = scanner
    code = sandbox.issue_voucher(DEMO.citizen_id)
    device.send(code.encode() + b"\r\n")
    machine = visit_from_scan(services, next_scan(scans, arrived))
    assert machine.state == v.State.CONSENT, (machine.ctx.error_code, machine.ctx.error_message)
    assert machine.ctx.document.cert_type is CertType.VOUCHER and machine.ctx.person.certno == DEMO.citizen_id
    assert code not in repr(machine.ctx.document) and machine.ctx.document.cert_no not in repr(machine.ctx.document)


@pytest.mark.parametrize(("wire", "reason"), [
    (b"\xff\xfe\x00\x81garbage\x9c\r\n", "binary"),
    (b"https://example.com/pay?id=1\r\n", "link"),
    (b"134567890123456789\r\n", "payment_code"),
    (b"EC" + b"A" * 5000 + b"\r\n", "length"),
    (b"ECshort", "length"),  # cut off mid-line: delivered after a pause, refused
])
def test_bad_scans_each_give_their_message(services: Services, scanner, wire: bytes, reason: str) -> None:
    device, _reader, scans, arrived = scanner
    device.send(wire)
    machine = visit_from_scan(services, next_scan(scans, arrived))
    # issue 35.8: no visit begins and nobody is sent to the counter; the idle screen shows what to show instead
    assert machine.state == v.State.IDLE and machine.ctx.extra["idle_hint"] == f"voucher.{reason}"
    assert machine.ctx.error_code == 0


def test_truncated_valid_looking_scan_is_unknown_to_the_platform(services: Services, sandbox, scanner) -> None:
    device, _reader, scans, arrived = scanner
    code = sandbox.issue_voucher(DEMO.citizen_id)
    device.send(code[:40].encode())  # the rest never arrives
    machine = visit_from_scan(services, next_scan(scans, arrived))
    assert machine.state == v.State.ERROR and machine.ctx.error_message == "voucher.unknown"


def test_an_expired_code_asks_for_a_fresh_one(services: Services, sandbox: SandboxGateway) -> None:
    code = sandbox.issue_voucher(DEMO.citizen_id, code_ttl_s=-1)  # a screenshot from earlier
    machine = visit_from_scan(services, code)
    assert machine.state == v.State.ERROR and machine.ctx.error_message == "voucher.expired"


def test_scanner_survives_a_burst_and_keeps_reading(scanner, sandbox: SandboxGateway) -> None:
    device, _reader, scans, arrived = scanner
    device.send(b"\r\n\r\n" + b"x" * 100_000 + b"\nECsecond-scan-after-noise-1234\n")
    first = next_scan(scans, arrived)
    assert len(first) <= 2049  # cut at max_line: memory stays bounded
    assert next_scan(scans, arrived) == "ECsecond-scan-after-noise-1234" and scans == []


@pytest.mark.parametrize("body", [
    b'{"code":"0","data":{"idNo":"1"}}',  # fields missing
    b"not json",
    b"[1,2]",
    b'{"code":"0","data":{"idNo":"1","idType":"01","userName":"x","ecToken":"' + b"A" * 500 + b'","insuOrg":"110101"}}',
    b'{"code":"busy"}',  # a code the platform does not document
])
def test_hostile_platform_answers_are_protocol_errors(demo_config: KioskConfig, body: bytes) -> None:
    import dataclasses

    server = canned_server(200, body)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/voucher/resolve"
        platform = HttpVoucherPlatform(dataclasses.replace(demo_config.gateway, voucher_url=url), demo_config.terminal)
        with pytest.raises(GatewayProtocolError):
            platform.resolve("EC" + "B" * 30)
    finally:
        server.shutdown()


def test_keyboard_wedge_tells_a_scanner_from_a_person() -> None:
    wedge = WedgeAssembler()
    t = 0.0
    for char in "ECabcdefgh12345":
        assert wedge.feed(char, t) is None
        t += 0.004
    assert wedge.feed("\r", t) == "ECabcdefgh12345"
    typed = WedgeAssembler()
    for i, char in enumerate("ECabcdefgh12345"):
        typed.feed(char, i * 0.2)  # a person types 5 keys a second
    assert typed.feed("\r", 3.2) is None
    assert WedgeAssembler().feed("\r", 0.0) is None  # a lone Enter
    short = WedgeAssembler()
    for i, char in enumerate("abc"):
        short.feed(char, i * 0.001)
    assert short.feed("\n", 0.004) is None



def test_camera_decodes_a_real_photographed_code_within_a_few_frames(shared_data: Path) -> None:
    """A replayed frame sequence: nothing, then a photographed code (ZXing blackbox set, payload known)."""
    import numpy as np

    from drivers.camera.replay import load_frames
    from drivers.qr.camera_source import CameraQrSource

    photo = shared_data / "qr" / "zxing_qrcode-1" / "1.png"
    truth = (photo.with_suffix(".txt")).read_text(encoding="utf-8").replace("\r\n", "\n")
    blank = [np.full((480, 640, 3), 90, np.uint8)] * 5
    camera = ReplayCamera(blank + load_frames(photo) * 20, fps=15)
    source = CameraQrSource(camera, interval_s=0.05)
    found: list[str] = []
    arrived = threading.Event()
    source.set_listener(lambda payload: (found.append(payload), arrived.set()))
    camera.start()
    source.start()
    try:
        assert arrived.wait(10), f"not decoded after {source.frames_decoded} frames"
        assert source.frames_decoded <= 12  # 5 blank frames, then the code within a few more
        time.sleep(0.5)
        assert found == [truth]  # held in view: reported once, not once per frame
    finally:
        source.close()
        camera.stop()
