"""The gateway client over real TLS: the sandbox serves HTTPS with certificates made here by a CA made
here; the client trusts only ``gateway.ca_bundle``. A wrong CA, an expired certificate and a certificate
for another host are each refused before anything is sent, with the handshake's own reason and the
network exit status (14); the right certificate settles a real 1101."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kiosk.config import GatewayConfig, TerminalConfig
from kiosk.errors import GatewayTlsRefused, GatewayUnreachable
from kiosk.settlement import parse_person

from drivers.gateway.client import HttpGateway, HttpHospitalSystem
from drivers.gateway.sandbox.server import SandboxGateway
from offline_queue.msgids import SqliteMsgIdSource

CARD_1101 = {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": "A01234567",
                      "card_sn": "110100D15600000501234567890ABCDE"}}
NOW = dt.datetime.now(dt.timezone.utc)


@dataclass
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=1))
                .not_valid_after(NOW + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    def issue(self, folder: Path, name: str, *, host: str = "127.0.0.1", expired: bool = False) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        start = NOW - dt.timedelta(days=60 if expired else 1)
        end = NOW - dt.timedelta(days=1) if expired else NOW + dt.timedelta(days=30)
        try:
            alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
                .sign(self.key, hashes.SHA256()))
        chain, private = folder / f"{name}.pem", folder / f"{name}.key"
        chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        return chain, private

    def bundle(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path


@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    return Authority.make("Hospital test CA")


def serve(tmp_path: Path, cert: tuple[Path, Path]) -> SandboxGateway:
    sandbox = SandboxGateway(tmp_path / "ledger.sqlite", tls=cert)
    sandbox.start()
    return sandbox


@pytest.fixture
def good(tmp_path: Path, ca: Authority) -> Iterator[SandboxGateway]:
    sandbox = serve(tmp_path, ca.issue(tmp_path, "good"))
    yield sandbox
    sandbox.stop()


def client(url: str, bundle: Path, msgids: SqliteMsgIdSource) -> HttpGateway:
    return HttpGateway(GatewayConfig(url=url, ca_bundle=str(bundle), connect_timeout_s=2.0, read_timeout_s=5.0),
                       TerminalConfig(), msgids)


def test_the_right_certificate_carries_a_real_transaction(good: SandboxGateway, ca: Authority, tmp_path: Path,
                                                          msgids: SqliteMsgIdSource) -> None:
    assert good.service_url.startswith("https://127.0.0.1:")
    gateway = client(good.service_url, ca.bundle(tmp_path / "ca.pem"), msgids)
    person = parse_person(gateway.call("1101", CARD_1101, msgid=msgids.next_msgid()))
    assert person.name == "王秀英" and gateway.probe()
    his = HttpHospitalSystem(GatewayConfig(url=good.service_url, ca_bundle=str(tmp_path / "ca.pem")))
    assert his.pending_fees(person)  # the hospital system's side over the same TLS
    gateway.close()
    his.close()


def test_a_gateway_signed_by_another_ca_is_refused(good: SandboxGateway, tmp_path: Path,
                                                   msgids: SqliteMsgIdSource) -> None:
    stranger = Authority.make("Someone else's CA").bundle(tmp_path / "stranger.pem")
    gateway = client(good.service_url, stranger, msgids)
    with pytest.raises(GatewayTlsRefused, match="certificate not accepted: .*(unable to get local issuer|self.signed)") as err:
        gateway.call("1101", CARD_1101, msgid=msgids.next_msgid())
    assert err.value.exit_status == 14 and isinstance(err.value, GatewayUnreachable)  # nothing was sent
    assert "gateway.ca_bundle" in str(err.value)
    his = HttpHospitalSystem(GatewayConfig(url=good.service_url, ca_bundle=str(stranger)))
    with pytest.raises(GatewayTlsRefused, match="hospital system: certificate not accepted"):
        his.reference_template(parse_person_stub())
    gateway.close()
    his.close()


@pytest.mark.parametrize(("issue", "reason"), [
    ({"expired": True}, "certificate not accepted: certificate has expired"),
    ({"host": "gateway.other-hospital.example"}, "certificate not accepted: .*(ostname mismatch|IP address mismatch)"),
])
def test_a_bad_certificate_from_our_own_ca_is_refused(tmp_path: Path, ca: Authority, msgids: SqliteMsgIdSource,
                                                      issue: dict, reason: str) -> None:
    """Trusted issuer, but expired or for another host: refused all the same, with the reason."""
    sandbox = serve(tmp_path, ca.issue(tmp_path, "bad", **issue))
    try:
        gateway = client(sandbox.service_url, ca.bundle(tmp_path / "ca.pem"), msgids)
        with pytest.raises(GatewayTlsRefused, match=reason):
            gateway.call("1101", CARD_1101, msgid=msgids.next_msgid())
        gateway.close()
    finally:
        sandbox.stop()


def test_selftest_names_the_certificate_problem(good: SandboxGateway, ca: Authority, tmp_path: Path) -> None:
    import dataclasses

    from kiosk.config import KioskConfig
    from scripts.selftest import check_gateway

    def checked(bundle: Path) -> list:  # type: ignore[type-arg]
        cfg = KioskConfig()
        return check_gateway(dataclasses.replace(cfg, gateway=GatewayConfig(url=good.service_url, ca_bundle=str(bundle))))

    trusted = checked(ca.bundle(tmp_path / "ca.pem"))
    assert trusted[0].ok and "TLS verified" in trusted[0].detail
    tls = next(c for c in trusted if c.name == "tls")  # subject, expiry and pin, for the technician
    assert tls.ok and "CN=127.0.0.1" in tls.detail and "expires" in tls.detail and "pin sha256//" in tls.detail
    other_pin = "sha256//" + "A" * 43 + "="
    pinned = check_gateway(dataclasses.replace(KioskConfig(), gateway=GatewayConfig(
        url=good.service_url, ca_bundle=str(tmp_path / "ca.pem"), pin_sha256=other_pin)))
    assert not pinned[0].ok and "pin mismatch" in pinned[0].detail and "gateway.pin_sha256" in pinned[0].fix
    refused = checked(Authority.make("Someone else's CA").bundle(tmp_path / "stranger.pem"))
    assert not refused[0].ok and "certificate not accepted" in refused[0].detail and "gateway.ca_bundle" in refused[0].fix


def parse_person_stub():  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from kiosk.domain import InsuredPerson

    return InsuredPerson("P1", "C", "N", "1", "", "", "310", Decimal(0), "110101")


def test_the_environment_does_not_choose_trust_or_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """$REQUESTS_CA_BUNDLE and $HTTPS_PROXY are ignored; gateway.proxy is the one way to a proxy."""
    from drivers.gateway.client import build_session

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    session = build_session(GatewayConfig(url="https://gw.example/fsi", ca_bundle="/srv/kiosk/ca.pem"))
    settings = session.merge_environment_settings("https://gw.example/fsi", {}, None, None, None)
    assert settings["verify"] == "/srv/kiosk/ca.pem" and not settings["proxies"]
    proxied = build_session(GatewayConfig(url="https://gw.example/fsi", proxy="http://proxy.hospital.local:3128"))
    assert proxied.proxies == {"http": "http://proxy.hospital.local:3128", "https": "http://proxy.hospital.local:3128"}


def test_public_key_pins_refuse_another_key_and_accept_the_pinned_one(good: SandboxGateway, ca: Authority,
                                                                      tmp_path: Path, msgids: SqliteMsgIdSource) -> None:
    """A certificate from our own CA with the right host and dates, but another key than pinned: refused
    before anything is sent; the pinned key (and a renewed certificate for it) passes."""
    import ssl as std_ssl

    from kiosk.errors import ConfigError

    from drivers.gateway.pinning import spki_pin

    host, port = good.url.removeprefix("https://").split(":")
    pem = std_ssl.get_server_certificate((host, int(port)))
    right = spki_pin(std_ssl.PEM_cert_to_DER_cert(pem))
    bundle = ca.bundle(tmp_path / "ca.pem")
    other = spki_pin(std_ssl.PEM_cert_to_DER_cert(
        (tmp_path / "ca.pem").read_text()))  # the CA's own key: a valid pin format, not the server's key

    def gateway(pins: str) -> HttpGateway:
        return HttpGateway(GatewayConfig(url=good.service_url, ca_bundle=str(bundle), pin_sha256=pins,
                                         connect_timeout_s=2.0, read_timeout_s=5.0), TerminalConfig(), msgids)

    pinned = gateway(f"sha256//{right}")
    assert parse_person(pinned.call("1101", CARD_1101, msgid=msgids.next_msgid())).name == "王秀英"
    wrong = gateway(other)
    before = len(good.settlements())
    with pytest.raises(GatewayTlsRefused, match="public key pin mismatch") as err:
        wrong.call("1101", CARD_1101, msgid=msgids.next_msgid())
    assert err.value.exit_status == 14 and f"sha256//{right}" in str(err.value)
    assert len(good.settlements()) == before
    assert parse_person(gateway(f"{other},{right}").call("1101", CARD_1101,
                                                         msgid=msgids.next_msgid())).name == "王秀英"
    with pytest.raises(ConfigError, match="gateway.pin_sha256"):
        gateway("not-a-pin")
    pinned.close()
    wrong.close()
