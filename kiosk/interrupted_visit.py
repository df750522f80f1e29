"""A visit the kiosk was in the middle of when it stopped (a crash, a power cut, the watchdog): its
settlement plan was committed to the outbox, but the patient never saw how it ended. On the next start the
kiosk shows that outcome first, from the outbox, instead of an idle screen that would leave the patient
wondering whether to pay again.

``outcome``: ``settled`` (the settlement is done: its amounts), ``settling`` (committed; the kiosk is still
settling it, or staff are: nothing more to pay) or ``not_settled`` (refused or cancelled: any own share
paid is returned by the plan itself)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kiosk.domain import decimal_or_none

SETTLING_STATES = frozenset({"pending", "in_flight", "ambiguous", "needs_staff", "dead"})


@dataclass(frozen=True)
class InterruptedVisit:
    visit_id: str
    reference: str  # the outbox item: what staff look up
    outcome: str  # settled | settling | not_settled
    medfee_sumamt: Decimal | None = None
    fund_pay_sumamt: Decimal | None = None
    psn_cash_pay: Decimal | None = None


def interrupted_visit(visit_id: str, reference: str, state: str, result: Mapping[str, Any] | None) -> InterruptedVisit:
    """From the outbox item's state and result (the settlement's output when done)."""
    if state == "done" and isinstance(result, Mapping) and isinstance(result.get("setlinfo"), Mapping):
        info = result["setlinfo"]
        return InterruptedVisit(visit_id, reference, "settled", *(
            decimal_or_none(info.get(name)) for name in ("medfee_sumamt", "fund_pay_sumamt", "psn_cash_pay")))
    if state in SETTLING_STATES:
        return InterruptedVisit(visit_id, reference, "settling")
    return InterruptedVisit(visit_id, reference, "not_settled")
