"""The requests client against the real sandbox, and against misbehaving servers on loopback."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kiosk.config import GatewayConfig, TerminalConfig
from kiosk.domain import CertType, IdentityDocument
from kiosk.errors import GatewayBusinessError, GatewayNoAnswer, GatewayProtocolError, GatewayUnreachable
from kiosk.settlement import parse_person

from drivers.gateway.client import HttpGateway, HttpHospitalSystem
from drivers.gateway.inprocess import InProcessGateway
from drivers.gateway.sandbox.server import SandboxGateway
from offline_queue.msgids import SqliteMsgIdSource

CARD_1101 = {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": "A01234567",
                      "card_sn": "110100D15600000501234567890ABCDE"}}


def client(url: str, terminal: TerminalConfig, msgids: SqliteMsgIdSource, read_s: float = 2.0) -> HttpGateway:
    return HttpGateway(GatewayConfig(url=url, connect_timeout_s=1.0, read_timeout_s=read_s), terminal, msgids)


def test_person_info_over_http(sandbox: SandboxGateway, terminal: TerminalConfig, msgids: SqliteMsgIdSource) -> None:
    gateway = client(sandbox.service_url, terminal, msgids)
    person = parse_person(gateway.call("1101", CARD_1101, msgid=msgids.next_msgid()))
    assert person.name == "王秀英" and person.balance == Decimal("12.00") and person.insuplc_admdvs == "110101"
    assert gateway.probe()


def test_business_error_carries_err_msg(sandbox: SandboxGateway, terminal: TerminalConfig,
                                        msgids: SqliteMsgIdSource) -> None:
    gateway = client(sandbox.service_url, terminal, msgids)
    with pytest.raises(GatewayBusinessError, match="person not found") as err:
        gateway.call("1101", {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": "ZZZ"}}, msgid=msgids.next_msgid())
    assert err.value.code == 410


def test_signs_in_again_when_sign_no_is_refused(tmp_path, terminal: TerminalConfig, msgids: SqliteMsgIdSource) -> None:
    first = SandboxGateway(tmp_path / "ledger.sqlite")
    first.start()
    gateway = client(first.service_url, terminal, msgids)
    gateway.call("1101", CARD_1101, msgid=msgids.next_msgid())
    port = int(first.url.rsplit(":", 1)[1])
    first.stop()
    second = SandboxGateway(tmp_path / "other-ledger.sqlite", port=port)  # a gateway that never saw our sign_no
    second.start()
    try:
        assert gateway.call("1101", CARD_1101, msgid=msgids.next_msgid())["baseinfo"]["psn_name"] == "王秀英"
    finally:
        second.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_connection_is_unreachable(terminal: TerminalConfig, msgids: SqliteMsgIdSource) -> None:
    gateway = client(f"http://127.0.0.1:{free_port()}/fsi", terminal, msgids)
    with pytest.raises(GatewayUnreachable):
        gateway.call("1101", CARD_1101, msgid=msgids.next_msgid())
    assert not gateway.probe()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections, reads, never answers: the outcome of a request is unknown."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/fsi"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_no_answer_is_ambiguous(silent_server: str, terminal: TerminalConfig, msgids: SqliteMsgIdSource) -> None:
    gateway = client(silent_server, terminal, msgids, read_s=0.5)
    with pytest.raises(GatewayNoAnswer, match="no answer"):
        gateway.call("9001", {}, msgid=msgids.next_msgid())


def canned_server(status: int, body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.mark.parametrize(("status", "body", "error", "message"), [
    (200, b"<html>proxy error</html>", GatewayProtocolError, "not JSON"),
    (200, b"[]", GatewayProtocolError, "not a JSON object"),
    (200, b'{"output": {}}', GatewayProtocolError, "lacks infcode"),
    (200, b'{"infcode": "x"}', GatewayProtocolError, "not a number"),
    (200, b'{"infcode": 0, "output": [1]}', GatewayProtocolError, "output is not an object"),
    (200, b'{"infcode": "-1", "err_msg": ""}', GatewayBusinessError, "failed with infcode -1"),
    (200, b'{"code": 500, "msg": "service busy"}', GatewayBusinessError, "service busy"),
    (502, b"bad gateway", GatewayNoAnswer, "HTTP 502"),
    (404, b"", GatewayProtocolError, "HTTP 404"),
])
def test_hostile_answers_give_clear_errors(status: int, body: bytes, error: type[Exception], message: str,
                                           terminal: TerminalConfig, msgids: SqliteMsgIdSource) -> None:
    server = canned_server(status, body)
    try:
        gateway = client(f"http://127.0.0.1:{server.server_address[1]}/fsi", terminal, msgids)
        gateway._sign_no, gateway._sign_day = "S", gateway._clock().strftime("%Y%m%d")  # skip sign-in
        with pytest.raises(error, match=message):
            gateway.call("1101", CARD_1101, msgid=msgids.next_msgid())
    finally:
        server.shutdown()
        server.server_close()


def test_inprocess_twin_answers_like_the_http_client(sandbox: SandboxGateway, terminal: TerminalConfig,
                                                     msgids: SqliteMsgIdSource) -> None:
    http = client(sandbox.service_url, terminal, msgids)
    twin = InProcessGateway(sandbox, terminal, msgids)
    a = parse_person(http.call("1101", CARD_1101, msgid=msgids.next_msgid()))
    b = parse_person(twin.call("1101", CARD_1101, msgid=msgids.next_msgid()))
    assert a == b
    his = HttpHospitalSystem(GatewayConfig(url=sandbox.service_url))
    assert his.pending_fees(a) == twin.pending_fees(a) and len(his.pending_fees(a)) == 3
    assert his.reference_template(a) is None and twin.reference_template(a) is None
    sandbox.enroll_face(a.psn_no, [0.25] * 128)
    assert list(his.reference_template(a)) == list(twin.reference_template(a)) == [0.25] * 128
    twin.down = True  # the twin's fault: an unreachable gateway
    assert not twin.probe()
    with pytest.raises(GatewayUnreachable):
        twin.call("1101", CARD_1101, msgid=msgids.next_msgid())


def test_hospital_system_unreachable(terminal: TerminalConfig) -> None:
    his = HttpHospitalSystem(GatewayConfig(url=f"http://127.0.0.1:{free_port()}/fsi", connect_timeout_s=0.5))
    doc = IdentityDocument(CertType.SOCIAL_SECURITY_CARD, "A")
    assert doc.cert_type.value == "03"
    person = parse_person({"baseinfo": {"psn_no": "P", "certno": "C", "psn_name": "N"},
                           "insuinfo": [{"insutype": "310", "balc": 1, "insuplc_admdvs": "110101"}]})
    with pytest.raises(GatewayUnreachable):
        his.pending_fees(person)


def test_malformed_1101_output_is_a_protocol_error() -> None:
    with pytest.raises(GatewayProtocolError, match="baseinfo"):
        parse_person({})
    with pytest.raises(GatewayProtocolError, match="no insurance record"):
        parse_person({"baseinfo": {}, "insuinfo": []})
    base = {"psn_no": "P", "certno": "C", "psn_name": "N"}
    with pytest.raises(GatewayProtocolError, match="balc"):
        parse_person({"baseinfo": base, "insuinfo": [{"insutype": "310", "balc": "lots", "insuplc_admdvs": "110101"}]})
    with pytest.raises(GatewayProtocolError, match="not a division code"):  # it goes into every later header
        parse_person({"baseinfo": base, "insuinfo": [{"insutype": "310", "balc": "1", "insuplc_admdvs": "1"}]})
    with pytest.raises(GatewayProtocolError, match="not an object"):
        parse_person({"baseinfo": base, "insuinfo": [{"insutype": "310", "balc": "1", "insuplc_admdvs": "110101"},
                                                     "garbage"]})


def test_config_without_url_is_refused(terminal: TerminalConfig, msgids: SqliteMsgIdSource) -> None:
    with pytest.raises(GatewayProtocolError, match="gateway.url"):
        HttpGateway(dataclasses.replace(GatewayConfig(), url=""), terminal, msgids)
