"""The sandbox gateway over real HTTP: envelope checks, every transaction, the ledger as ground truth."""

from __future__ import annotations

import datetime as dt
import json
import socket
import sqlite3
from decimal import Decimal
from typing import Any

import pytest
import requests

from kiosk.config import TerminalConfig

from drivers.gateway.envelope import build_request, dumps, loads
from drivers.gateway.sandbox.server import SandboxGateway

CARD_NO, CARD_SN = "A01234567", "110100D15600000501234567890ABCDE"


class Raw:
    """Posts envelopes by hand, to test what a sloppy or hostile client may send."""

    def __init__(self, sandbox: SandboxGateway, terminal: TerminalConfig) -> None:
        self.url, self.terminal, self.seq = sandbox.service_url, terminal, 0
        self.sign_no = ""

    def msgid(self) -> str:
        self.seq += 1
        return f"{self.terminal.fixmedins_code}{dt.datetime.now():%Y%m%d%H%M%S}{self.seq:04d}"

    def post(self, body: bytes) -> dict[str, Any]:
        response = requests.post(self.url, data=body, timeout=5)
        assert response.status_code == 200
        return dict(loads(response.content))

    def call(self, code: str, input_: dict[str, Any], msgid: str | None = None,
             overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.sign_no and code != "9001":
            self.sign_no = self.call("9001", {"signIn": {}})["output"]["signinoutb"]["sign_no"]
        env = build_request(self.terminal, code, input_, msgid=msgid or self.msgid(), sign_no=self.sign_no,
                            insuplc_admdvs="110101", now=dt.datetime.now())
        env.update(overrides or {})
        return self.post(dumps(env))


@pytest.fixture
def raw(sandbox: SandboxGateway, terminal: TerminalConfig) -> Raw:
    return Raw(sandbox, terminal)


def person(raw: Raw) -> dict[str, Any]:
    out = raw.call("1101", {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": CARD_NO, "card_sn": CARD_SN}})
    assert out["infcode"] == 0, out
    return dict(out["output"])


def settle(raw: Raw, sandbox: SandboxGateway) -> tuple[dict[str, Any], str]:
    psn_no = person(raw)["baseinfo"]["psn_no"]
    reg = raw.call("2201", {"data": {"psn_no": psn_no, "insutype": "310"}})
    mdtrt_id = reg["output"]["data"]["mdtrt_id"]
    fees = sandbox.pending_fees(psn_no)
    lines = [dict(f, mdtrt_id=mdtrt_id, psn_no=psn_no, chrg_bchno="B1") for f in fees]
    assert raw.call("2204", {"feedetail": lines})["infcode"] == 0
    total = sum(f["det_item_fee_sumamt"] for f in fees)
    data = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "chrg_bchno": "B1", "medfee_sumamt": total, "acct_used_flag": "1"}
    trial = raw.call("2206", {"data": data})
    assert trial["infcode"] == 0, trial
    msgid = raw.msgid()
    setl = raw.call("2207", {"data": data}, msgid=msgid)
    assert setl["infcode"] == 0, setl
    assert setl["output"]["setlinfo"] == dict(trial["output"]["setlinfo"], **{
        k: setl["output"]["setlinfo"][k] for k in ("setl_id", "setl_time", "medins_setl_id")})
    return dict(setl["output"]["setlinfo"]), msgid


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"{}", "lacks required field infno"),
    (b"null", "must be a JSON object"),
])
def test_garbage_bodies_get_a_clear_refusal(raw: Raw, body: bytes, message: str) -> None:
    answer = raw.post(body)
    assert answer["infcode"] == -1 and message in answer["err_msg"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"msgid": "123"}, "msgid must be 30 chars"),
    ({"msgid": "X" * 30}, "msgid must be 30 chars"),
    ({"fixmedins_code": ""}, "lacks required field fixmedins_code"),
    ({"input": "data"}, "input must be an object"),
    ({"opter_type": "7"}, "opter_type must be"),
    ({"infno": "9999"}, "unknown transaction infno 9999"),
    ({"sign_no": "forged"}, "sign_no invalid"),
])
def test_malformed_envelopes_are_refused(raw: Raw, overrides: dict[str, Any], message: str) -> None:
    answer = raw.call("1101", {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": CARD_NO}}, overrides=overrides)
    assert answer["infcode"] == -1 and message in answer["err_msg"]


def test_unknown_person_and_forged_card(raw: Raw) -> None:
    unknown = raw.call("1101", {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": "C99887766"}})
    assert unknown["infcode"] == -1 and "person not found" in unknown["err_msg"]
    forged = raw.call("1101", {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": CARD_NO, "card_sn": "00" * 16}})
    assert forged["infcode"] == -1 and "card_sn" in forged["err_msg"]
    assert raw.call("2201", {"data": {"psn_no": "nobody", "insutype": "310"}})["err_msg"] == "person nobody not found"


def test_person_info(raw: Raw) -> None:
    out = person(raw)
    assert out["baseinfo"]["psn_name"] == "王秀英" and out["insuinfo"][0]["balc"] == Decimal("12.00")


def test_msgid_reuse(raw: Raw, sandbox: SandboxGateway) -> None:
    msgid = raw.msgid()
    body = {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": CARD_NO}}
    first = raw.call("1101", body, msgid=msgid)
    assert raw.call("1101", body, msgid=msgid) == first  # same body: the stored answer again
    other = raw.call("1101", {"data": {"mdtrt_cert_type": "03", "mdtrt_cert_no": "A07654321"}}, msgid=msgid)
    assert other["infcode"] == -1 and "already used with a different body" in other["err_msg"]


def test_settlement_split_and_ledger(raw: Raw, sandbox: SandboxGateway) -> None:
    info, msgid = settle(raw, sandbox)
    total = info["medfee_sumamt"]
    assert total == Decimal("97.1")
    assert info["hifp_pay"] + info["acct_pay"] + info["psn_cash_pay"] == total
    assert info["balc"] == Decimal("12.00") - info["acct_pay"]
    rows = sandbox.settlements()
    assert len(rows) == 1 and rows[0]["msgid"] == msgid
    assert sandbox.pending_fees(info["psn_no"]) == []  # the hospital's orders are paid
    with sqlite3.connect(sandbox.ledger_path) as conn:
        stored = conn.execute("SELECT balc FROM persons WHERE psn_no = ?", (info["psn_no"],)).fetchone()[0]
    assert Decimal(stored) == info["balc"]


def test_resending_a_settlement_with_its_msgid_settles_once(raw: Raw, sandbox: SandboxGateway) -> None:
    info, msgid = settle(raw, sandbox)
    data = {"psn_no": info["psn_no"], "mdtrt_id": info["mdtrt_id"], "chrg_bchno": "B1",
            "medfee_sumamt": info["medfee_sumamt"], "acct_used_flag": "1"}
    again = raw.call("2207", {"data": data}, msgid=msgid)
    assert again["output"]["setlinfo"]["setl_id"] == info["setl_id"]
    assert len(sandbox.settlements()) == 1
    fresh = raw.call("2207", {"data": data})  # a blind resend with a new msgid finds nothing left to settle
    assert fresh["infcode"] == -1 and "no unsettled fees" in fresh["err_msg"]


def test_refund_query_and_reversal(raw: Raw, sandbox: SandboxGateway) -> None:
    info, msgid = settle(raw, sandbox)
    query = raw.call("5203", {"data": {"psn_no": info["psn_no"], "setl_id": info["setl_id"]}})
    assert query["output"]["setlinfo"]["refd_setl_flag"] == "0"
    refund = raw.call("2208", {"data": {k: info[k] for k in ("setl_id", "mdtrt_id", "psn_no")}})
    assert refund["output"]["setlinfo"]["medfee_sumamt"] == -info["medfee_sumamt"]
    assert raw.call("2208", {"data": {k: info[k] for k in ("setl_id", "mdtrt_id", "psn_no")}})["infcode"] == -1
    query = raw.call("5203", {"data": {"psn_no": info["psn_no"], "setl_id": info["setl_id"]}})
    assert query["output"]["setlinfo"]["refd_setl_flag"] == "1"
    missing = raw.call("2601", {"data": {"psn_no": info["psn_no"], "omsgid": raw.msgid(), "oinfno": "2207"}})
    assert missing["infcode"] == -1 and "not found" in missing["err_msg"]


def test_reversal_by_msgid_restores_the_fees(raw: Raw, sandbox: SandboxGateway) -> None:
    info, msgid = settle(raw, sandbox)
    out = raw.call("2601", {"data": {"psn_no": info["psn_no"], "omsgid": msgid, "oinfno": "2207"}})
    assert out["infcode"] == 0
    assert len(sandbox.pending_fees(info["psn_no"])) == 3
    assert sandbox.settlements()[0]["reversed"] == 1


def test_amount_mismatch_and_bad_fee_lines(raw: Raw, sandbox: SandboxGateway) -> None:
    psn_no = person(raw)["baseinfo"]["psn_no"]
    mdtrt_id = raw.call("2201", {"data": {"psn_no": psn_no, "insutype": "310"}})["output"]["data"]["mdtrt_id"]
    line = {"feedetl_sn": "X", "mdtrt_id": mdtrt_id, "psn_no": psn_no, "chrg_bchno": "B", "det_item_fee_sumamt": 10,
            "cnt": 2, "pric": 3}
    assert "differs from cnt x pric" in raw.call("2204", {"feedetail": [line]})["err_msg"]
    assert "non-negative" in raw.call("2204", {"feedetail": [dict(line, cnt=-1)]})["err_msg"]
    assert "must be a number" in raw.call("2204", {"feedetail": [dict(line, pric="NaN-ish")]})["err_msg"]
    assert raw.call("2204", {"feedetail": [dict(line, det_item_fee_sumamt=6)]})["infcode"] == 0
    trial = raw.call("2206", {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "chrg_bchno": "B",
                                       "medfee_sumamt": 7}})
    assert "differs from the uploaded fees" in trial["err_msg"]
    assert raw.call("2205", {"data": {"chrg_bchno": "0000", "mdtrt_id": mdtrt_id, "psn_no": psn_no}})["infcode"] == 0
    assert raw.call("2202", {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id}})["infcode"] == 0
    assert "was cancelled" in raw.call("2202", {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id}})["err_msg"]


def test_hospital_endpoints(sandbox: SandboxGateway) -> None:
    base = sandbox.url
    assert requests.get(base + "/health", timeout=5).json() == {"status": "ok"}
    assert requests.get(base + "/his/face-template", params={"psn_no": "x"}, timeout=5).status_code == 404
    bad = requests.post(base + "/admin/enroll-face", data=b'{"psn_no": "11000019560307001", "template": [1]}',
                        timeout=5)
    assert bad.status_code == 400 and "128" in bad.json()["error"]
    ok = requests.post(base + "/admin/enroll-face",
                       data=json.dumps({"psn_no": "11000019560307001", "template": [0.5] * 128}), timeout=5)
    assert ok.status_code == 200
    assert requests.get(base + "/his/face-template", params={"psn_no": "11000019560307001"},
                        timeout=5).json()["template"] == [0.5] * 128
    assert requests.get(base + "/nowhere", timeout=5).status_code == 404


def _connect(url: str) -> str:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(2)
        try:
            s.connect((host, int(port)))
        except ConnectionRefusedError:
            return "refused"
    return "connected"


def test_refused_connections_are_real_refusals_and_the_port_comes_back(sandbox: SandboxGateway) -> None:
    session = requests.Session()  # a keep-alive connection is open before the outage
    assert session.get(sandbox.url + "/health", timeout=5).status_code == 200
    sandbox.refuse_connections()
    assert _connect(sandbox.url) == "refused"  # the kernel answers the SYN with a reset: nothing listens
    with pytest.raises(requests.ConnectionError):
        session.get(sandbox.url + "/health", timeout=5)  # the kept-alive connection was closed too
    sandbox.listen_again()
    assert session.get(sandbox.url + "/health", timeout=5).json() == {"status": "ok"}


def test_a_refuse_fault_drops_the_request_unprocessed_then_refuses_for_its_window(raw: Raw,
                                                                                sandbox: SandboxGateway) -> None:
    requests.post(sandbox.url + "/admin/faults", data=json.dumps({"faults": [
        {"kind": "refuse", "infno": "1101", "delay_s": 1.5}]}), timeout=5).raise_for_status()
    with pytest.raises(requests.ConnectionError):
        person(raw)
    assert _connect(sandbox.url) == "refused"
    assert sandbox.listening.wait(timeout=5)  # the window ends by itself
    assert person(raw)["baseinfo"]["psn_no"]
    answer = requests.post(sandbox.url + "/admin/faults", data=b'{"refuse_s": 3.0}', timeout=5)
    assert answer.status_code == 200  # answered first, then the outage starts
    assert sandbox.refusing.wait(timeout=5)
    assert _connect(sandbox.url) == "refused"
