"""What staff found for a settlement the gateway will no longer reverse (outbox state ``needs_staff``).

A 2207 sent without an answer is normally resolved by the kiosk itself: reversed with 2601, then sent
again (kiosk.settlement.run_plan). Cross-province reversals are limited in time; once the gateway
refuses the reversal, only the insured region knows whether the settlement exists. Staff look it up
(the gateway's portal, the day's detail reconciliation, a call to the agency) and record one of two
findings; each is checked where it can be before anything is written:

- :func:`settled_as`: it exists under ``setl_id``. The kiosk reads it back with 5203 and takes it as the
  step's answer only when it is this visit's (person, visit, total) and not refunded or reversed.
- :func:`not_settled`: it does not exist. The step is sent again under a new msgid (the old one is kept
  in the plan, as after a reversal).

Either way the item goes back to the queue and its next delivery finishes the visit (a paid plan then
checks the own share against the payment as usual).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kiosk.domain import decimal_or_none
from kiosk.errors import QueueError
from kiosk.ports import InsuranceGateway, MsgIdSource

Finding = Callable[[dict[str, Any]], str]


def _waiting_step(plan: Mapping[str, Any]) -> dict[str, Any]:
    step = next((s for s in plan.get("steps", []) if s.get("output") is None and s.get("reversal_refused")), None)
    if step is None:
        raise QueueError("this item has no settlement waiting on staff")
    return step


def _visit_ids(plan: Mapping[str, Any], step: Mapping[str, Any]) -> tuple[str, str]:
    """(psn_no, mdtrt_id) of the waiting step, the visit id taken from the plan's own 2201 answer."""
    data = step["input"]["data"]
    mdtrt_id = str(data.get("mdtrt_id", ""))
    if mdtrt_id.startswith("{"):
        registered = next((s["output"] for s in plan["steps"] if s["infno"] == "2201" and s.get("output")), {})
        mdtrt_id = str(registered.get("data", {}).get("mdtrt_id", ""))
    return str(data["psn_no"]), mdtrt_id


def settled_as(setl_id: str, gateway: InsuranceGateway, msgids: MsgIdSource) -> Finding:
    """The settlement exists as ``setl_id``: read it back (5203) and take it as the step's answer."""

    def record(plan: dict[str, Any]) -> str:
        step = _waiting_step(plan)
        psn_no, mdtrt_id = _visit_ids(plan, step)
        answer = gateway.call("5203", {"data": {"psn_no": psn_no, "setl_id": setl_id, "mdtrt_id": mdtrt_id}},
                              msgid=msgids.next_msgid(), insuplc_admdvs=plan["insuplc_admdvs"])
        info = answer.get("setlinfo") if isinstance(answer, Mapping) else None
        if not isinstance(info, Mapping):
            raise QueueError(f"5203 for {setl_id} answered without setlinfo: nothing recorded")
        expected = decimal_or_none(step["input"]["data"].get("medfee_sumamt"))
        problems = [name for name, ok in (
            ("another visit", str(info.get("mdtrt_id")) == mdtrt_id),
            ("another person", str(info.get("psn_no")) == psn_no),
            ("refunded or reversed", str(info.get("refd_setl_flag", "0")) != "1"),
            ("another total", expected is not None and decimal_or_none(info.get("medfee_sumamt")) == expected),
        ) if not ok]
        if problems:
            raise QueueError(f"settlement {setl_id} is not this visit's ({', '.join(problems)}): nothing recorded")
        step["output"] = {"setlinfo": dict(info)}
        step["staff_finding"] = {"found": "settled", "setl_id": setl_id}
        step.pop("unanswered", None)
        step.pop("reversal_refused", None)
        return f"settled as {setl_id} (5203 agrees: total {info.get('medfee_sumamt')})"

    return record


def not_settled(msgids: MsgIdSource) -> Finding:
    """The settlement does not exist: send the step again under a new msgid."""

    def record(plan: dict[str, Any]) -> str:
        step = _waiting_step(plan)
        old = step["msgid"]
        step.setdefault("unsettled_msgids", []).append(old)
        step["msgid"] = msgids.next_msgid()
        step["staff_finding"] = {"found": "not_settled", "msgid": old}
        step.pop("unanswered", None)
        step.pop("reversal_refused", None)
        return f"{old} not settled (staff): sending it again as {step['msgid']}"

    return record
