"""Reading the hospital system's JSON answers: a list under a key (invoices, departments, slots), and answers
to POSTs (invoice print marks, slot locks), where a JSON object with ``"code": "0"`` is success, a known
refusal code becomes the caller's typed refusal, and anything else is a protocol error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiosk.errors import GatewayProtocolError

from drivers.gateway.envelope import loads


def his_rows(response: Any, key: str, what: str = "") -> list[Any]:
    """The list under ``key`` of a 200 answer; GatewayProtocolError naming ``what`` (default: the key) for
    anything else."""
    try:
        rows = loads(response.content).get(key)
    except (ValueError, AttributeError):
        rows = None
    if response.status_code != 200 or not isinstance(rows, list):
        raise GatewayProtocolError(f"hospital system {what or key} malformed (HTTP {response.status_code})")
    return rows


def his_post(request: Callable[..., Any], path: str, body: dict[str, Any], refusals: tuple[str, ...],
             refused: Callable[[str, str], Exception]) -> dict[str, Any]:
    """POST ``body`` with ``request`` (HttpHospitalSystem._request); the answer object on success."""
    response = request("POST", path, body=body)
    try:
        answer = loads(response.content)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise GatewayProtocolError(f"{path}: HTTP {response.status_code}, not a JSON object")
    if response.status_code == 200 and answer.get("code") == "0":
        return answer
    code = str(answer.get("code", ""))
    if code in refusals:
        raise refused(code, str(answer.get("message", code))[:200])
    raise GatewayProtocolError(f"{path} refused: HTTP {response.status_code} {code[:40]}")
