"""Simulated twin of the gateway client: the sandbox's transactions called without HTTP.

Same envelope code, same ledger, no sockets: for fast headless tests of the
visit. Tested against the HTTP client on the same sandbox (tests/test_gateway_client.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np

from kiosk.config import TerminalConfig
from kiosk.domain import FeeItem, InsuredPerson
from kiosk.errors import GatewayUnreachable
from kiosk.ports import MsgIdSource, Template

from drivers.gateway.envelope import build_request, dumps, fee_item, parse_response
from drivers.gateway.sandbox.server import SandboxGateway


class InProcessGateway:
    def __init__(self, sandbox: SandboxGateway, terminal: TerminalConfig, msgids: MsgIdSource) -> None:
        self._sandbox, self._terminal, self._msgids = sandbox, terminal, msgids
        self._sign_no = ""
        self.down = False  # fault injection: behave as an unreachable gateway

    def call(self, infno: str, input_: Mapping[str, Any], *, msgid: str,
             insuplc_admdvs: str = "") -> Mapping[str, Any]:
        if self.down:
            raise GatewayUnreachable(f"{infno}: gateway unreachable (simulated)")
        if not self._sign_no:
            out = self._exchange("9001", {"signIn": {"opter_no": self._terminal.terminal_no}},
                                 self._msgids.next_msgid(), "")
            self._sign_no = str(out["signinoutb"]["sign_no"])
        return self._exchange(infno, input_, msgid, insuplc_admdvs)

    def _exchange(self, infno: str, input_: Mapping[str, Any], msgid: str, insuplc: str) -> Mapping[str, Any]:
        envelope = build_request(self._terminal, infno, input_, msgid=msgid, sign_no=self._sign_no,
                                 insuplc_admdvs=insuplc, now=dt.datetime.now())
        return parse_response(self._sandbox.call_service(dumps(envelope)), infno)

    def probe(self) -> bool:
        return not self.down

    def pending_fees(self, person: InsuredPerson) -> tuple[FeeItem, ...]:
        return tuple(fee_item(line) for line in self._sandbox.pending_fees(person.psn_no))

    def reference_template(self, person: InsuredPerson) -> Template | None:
        template = self._sandbox.face_template(person.psn_no)
        return None if template is None else np.asarray(template, dtype=np.float64)
