"""Gateway profile ``sm`` (PROTOCOL.md section 9) against the sandbox enforcing it over real HTTP: the
input travels SM4-encrypted and SM2-signed, answers are verified and decrypted; a wrong signing key, a
wrong SM4 key and an answer signed by someone else each get their own message, and the access refusals
queue nothing."""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.config import GatewayConfig, TerminalConfig, load_config
from kiosk.errors import ConfigError, GatewayAccessRefused, GatewayProtocolError

from drivers.gateway.access import TifPolicy
from drivers.gateway.client import HttpGateway
from drivers.gateway.message_security import MessageSecurityError, SmGatewaySide, SmProfile
from drivers.gateway.national_crypto import Sm2Key
from drivers.gateway.sandbox.server import SandboxGateway
from offline_queue.msgids import SqliteMsgIdSource
from offline_queue.store import open_store
from tests.test_gateway_access import DEMO_CERTNO, SECRET, _identify

INSTITUTION = Sm2Key.generate()
GATEWAY = Sm2Key.generate()
SM4_KEY = secrets.token_bytes(16)


@pytest.fixture
def sm_sandbox(tmp_path: Path) -> Iterator[SandboxGateway]:
    side = SmGatewaySide(SM4_KEY, GATEWAY, Sm2Key.from_public(INSTITUTION.public))
    gateway = SandboxGateway(tmp_path / "ledger.sqlite", access=TifPolicy("PAAS0001", SECRET), message_security=side)
    gateway.start()
    yield gateway
    gateway.stop()


def _client(tmp_path: Path, sandbox: SandboxGateway, *, sm4: bytes = SM4_KEY, own: Sm2Key = INSTITUTION,
            gateway_public: str = GATEWAY.public) -> HttpGateway:
    tag = secrets.token_hex(3)
    files = {"secret": SECRET, "sm4": sm4.hex(), "sm2": own.private}
    for name, text in files.items():
        (tmp_path / f"{name}-{tag}").write_text(text + "\n")
    cfg = GatewayConfig(url=sandbox.service_url, profile="sm", paasid="PAAS0001", secret_file=str(tmp_path / f"secret-{tag}"),
                        sm4_key_file=str(tmp_path / f"sm4-{tag}"), sm2_key_file=str(tmp_path / f"sm2-{tag}"),
                        sm2_gateway_public_key=gateway_public, read_timeout_s=5.0)
    return HttpGateway(cfg, TerminalConfig(), SqliteMsgIdSource(open_store(tmp_path / f"outbox-{tag}.sqlite"),
                                                                "H11010100001"))


def test_the_sealed_envelope_hides_the_input_and_any_change_breaks_the_signature() -> None:
    profile = SmProfile(SM4_KEY, INSTITUTION, GATEWAY)
    side = SmGatewaySide(SM4_KEY, GATEWAY, Sm2Key.from_public(INSTITUTION.public))
    envelope = {"infno": "1101", "msgid": "H1101010000120261202120000" + "0001",
                "input": {"data": {"certno": DEMO_CERTNO, "psn_name": "张三"}}}
    sealed = profile.seal_request(envelope)
    assert DEMO_CERTNO not in json.dumps(sealed) and sealed["signtype"] == "SM2" and sealed["enctype"] == "SM4"
    opened, refusal = side.open_request(sealed)
    assert refusal is None and opened == envelope
    for field, value in (("msgid", "H11010100001202612021200009999"), ("input", sealed["input"][:-4] + "AAA=")):
        _, refusal = side.open_request({**sealed, field: value})
        assert refusal is not None and refusal[0] == "SM-411"  # every field is under the signature
    answer = side.seal_answer({"infcode": 0, "output": {"baseinfo": {"certno": DEMO_CERTNO}}})
    assert profile.open_answer(answer)["output"] == {"baseinfo": {"certno": DEMO_CERTNO}}
    with pytest.raises(MessageSecurityError, match="does not verify"):
        profile.open_answer({**answer, "infcode": -1})
    with pytest.raises(MessageSecurityError, match="not signed"):
        profile.open_answer({"infcode": 0, "output": {"baseinfo": {}}})
    with pytest.raises(MessageSecurityError, match="not signed by the gateway"):
        profile.open_answer({"infcode": -1, "err_msg": "a forged refusal"})


def test_a_person_is_identified_through_the_sm_gateway(tmp_path: Path, sm_sandbox: SandboxGateway) -> None:
    assert _identify(_client(tmp_path, sm_sandbox)).certno == DEMO_CERTNO


def test_wrong_keys_are_refused_with_their_own_fix(tmp_path: Path, sm_sandbox: SandboxGateway) -> None:
    with pytest.raises(GatewayAccessRefused) as unsigned:
        _identify(_client(tmp_path, sm_sandbox, own=Sm2Key.generate()))  # a key the province never registered
    assert unsigned.value.reason == "message_signature" and "gateway.sm2_key_file" in str(unsigned.value)
    with pytest.raises(GatewayAccessRefused) as undecryptable:
        _identify(_client(tmp_path, sm_sandbox, sm4=secrets.token_bytes(16)))
    assert undecryptable.value.reason == "message_key" and "gateway.sm4_key_file" in str(undecryptable.value)
    with pytest.raises(GatewayProtocolError, match="sm2_gateway_public_key"):  # answers not believed
        _identify(_client(tmp_path, sm_sandbox, gateway_public=Sm2Key.generate().public))


def test_unusable_key_files_name_their_key(tmp_path: Path, sm_sandbox: SandboxGateway) -> None:
    client = _client(tmp_path, sm_sandbox)
    cfg = client._cfg
    bad = tmp_path / "bad-key"
    bad.write_text("not hex at all")
    for key in ("sm4_key_file", "sm2_key_file"):
        with pytest.raises(ConfigError, match=f"gateway.{key}"):
            HttpGateway(dataclasses.replace(cfg, **{key: str(bad)}), TerminalConfig(), client._msgids)
    with pytest.raises(ConfigError, match="gateway.sm2_key_file"):
        HttpGateway(dataclasses.replace(cfg, sm2_key_file=str(tmp_path / "missing")), TerminalConfig(), client._msgids)


def test_production_sm_needs_its_keys() -> None:
    base = {"KIOSK_MODE": "production", "KIOSK_GATEWAY_URL": "https://gw.example/fsi", "KIOSK_PAYMENT_PROVIDER": "none",
            "KIOSK_GATEWAY_PROFILE": "sm", "KIOSK_GATEWAY_PAASID": "P1", "KIOSK_GATEWAY_SECRET_FILE": "/etc/k/s"}
    with pytest.raises(ConfigError, match="gateway.sm4_key_file"):
        load_config(None, base)
    keys = {"KIOSK_GATEWAY_SM4_KEY_FILE": "/etc/k/sm4", "KIOSK_GATEWAY_SM2_KEY_FILE": "/etc/k/sm2"}
    with pytest.raises(ConfigError, match="gateway.sm2_gateway_public_key"):
        load_config(None, {**base, **keys})
    with pytest.raises(ConfigError, match="gateway.sm2_gateway_public_key"):
        load_config(None, {**base, **keys, "KIOSK_GATEWAY_SM2_GATEWAY_PUBLIC_KEY": "04abc"})
    cfg = load_config(None, {**base, **keys, "KIOSK_GATEWAY_SM2_GATEWAY_PUBLIC_KEY": GATEWAY.public})
    assert cfg.gateway.profile == "sm"
