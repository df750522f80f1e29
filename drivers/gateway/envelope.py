"""The interface envelope (PROTOCOL.md section 1): build requests, parse answers leniently.

Pure code shared by the HTTP client and the sandbox. Amounts travel as JSON
numbers and are read back as :class:`~decimal.Decimal` so that nothing is
rounded on the way to the receipt.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kiosk.config import TerminalConfig
from kiosk.domain import FeeItem
from kiosk.errors import GatewayBusinessError, GatewayProtocolError

INFVER = "V1.0"
OPTER_TYPE_SELF_SERVICE = "2"
REQUIRED_REQUEST_FIELDS = ("infno", "msgid", "mdtrtarea_admvs", "infver", "opter_type", "inf_time",
                           "fixmedins_code", "input")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=_json_default, separators=(",", ":")).encode("utf-8")


def loads(raw: bytes | str) -> Any:
    return json.loads(raw, parse_float=Decimal)


def build_request(
    terminal: TerminalConfig,
    infno: str,
    input_: Mapping[str, Any],
    *,
    msgid: str,
    sign_no: str,
    insuplc_admdvs: str,
    now: dt.datetime,
) -> dict[str, Any]:
    return {
        "infno": infno,
        "msgid": msgid,
        "mdtrtarea_admvs": terminal.mdtrtarea_admvs,
        "insuplc_admdvs": insuplc_admdvs,
        "recer_sys_code": terminal.recer_sys_code,
        "dev_no": terminal.terminal_no,
        "dev_safe_info": "",
        "cainfo": "",
        "signtype": "",
        "infver": INFVER,
        "opter_type": OPTER_TYPE_SELF_SERVICE,
        "opter": terminal.terminal_no,
        "opter_name": terminal.terminal_name,
        "inf_time": now.strftime("%Y-%m-%d %H:%M:%S"),
        "fixmedins_code": terminal.fixmedins_code,
        "fixmedins_name": terminal.fixmedins_name,
        "sign_no": sign_no,
        "input": dict(input_),
    }


def parse_response(raw: bytes, infno: str) -> Mapping[str, Any]:
    """Return ``output`` of a successful answer.

    Raises GatewayProtocolError for anything that is not an envelope and
    GatewayBusinessError for ``infcode`` -1 (or a ``{"code", "msg"}`` failure
    wrapped outside the envelope).
    """
    try:
        body = loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise GatewayProtocolError(f"{infno}: answer is not JSON ({raw[:40]!r})") from None
    if not isinstance(body, dict):
        raise GatewayProtocolError(f"{infno}: answer is not a JSON object")
    if "infcode" not in body:
        if "code" in body and "msg" in body:  # some gateways wrap failures outside the envelope
            raise GatewayBusinessError(str(body.get("msg") or f"code {body['code']}"), infno=infno)
        raise GatewayProtocolError(f"{infno}: answer lacks infcode")
    try:
        infcode = int(str(body["infcode"]).strip())
    except ValueError:
        raise GatewayProtocolError(f"{infno}: infcode {body['infcode']!r} is not a number") from None
    if infcode != 0:
        err = str(body.get("err_msg") or "").strip()
        raise GatewayBusinessError(err or f"transaction {infno} failed with infcode {infcode}", infno=infno)
    output = body.get("output")
    if output is None:
        return {}
    if not isinstance(output, dict):
        raise GatewayProtocolError(f"{infno}: output is not an object")
    return output


def fee_item(line: Mapping[str, Any]) -> FeeItem:
    """One outstanding fee line as the hospital system sends it. Raises GatewayProtocolError."""
    try:
        return FeeItem(feedetl_sn=str(line["feedetl_sn"]), name=str(line["name"]),
                       med_list_codg=str(line["med_list_codg"]), medins_list_codg=str(line["medins_list_codg"]),
                       quantity=Decimal(str(line["cnt"])), price=Decimal(str(line["pric"])),
                       amount=Decimal(str(line["det_item_fee_sumamt"])))
    except (KeyError, TypeError, ArithmeticError) as exc:
        raise GatewayProtocolError(f"hospital system fee line malformed: {exc!r}") from None


def is_sign_error(err_msg: str) -> bool:
    """Sign-in related refusals: the client signs in again (9001) and retries once."""
    return "sign_no" in err_msg or "签到" in err_msg
