"""Pre-audit (事前事中, 3101) before the patient confirms, and the feedback of how its warnings were handled
(3103). PROTOCOL.md section 8; field names vary by province, so answers are read leniently.

A warning is shown in plain words before the patient confirms (it does not stop the visit: the rules are
the insured region's, and staff or the doctor decide); confirming or cancelling is fed back with 3103.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.insurance import Locality, out_setl_flag

TRIGGER_OUTPATIENT_CHARGE = "2"  # trig_scen: outpatient charging (uncertain: provinces number scenes differently)
CONTINUED, CANCELLED = "1", "2"  # 3103 dspo_way: the patient went on, or stopped


@dataclass(frozen=True)
class AuditWarning:
    warn_rslt_id: str
    rule: str
    severity: str
    message: str


def request_3101(psn_no: str, mdtrt_id: str, med_type: str, fee_lines: list[Mapping[str, Any]],
                 locality: Locality) -> dict[str, Any]:
    return {"data": {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "med_type": med_type,
                     "trig_scen": TRIGGER_OUTPATIENT_CHARGE, "out_setl_flag": out_setl_flag(locality),
                     "fsi_order_dtos": [dict(line) for line in fee_lines]}}


def warnings_of(output: Mapping[str, Any]) -> tuple[AuditWarning, ...]:
    rows = output.get("result") if isinstance(output, Mapping) else None
    found = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, Mapping) or not row.get("warn_rslt_id"):
            continue
        message = str(row.get("vola_dscr") or row.get("vola_cont") or row.get("rule_name") or "")[:200]
        found.append(AuditWarning(str(row["warn_rslt_id"]), str(row.get("rule_name") or ""),
                                  str(row.get("sev_deg") or ""), message))
    return tuple(found)


def request_3103(warnings: tuple[AuditWarning, ...], disposition: str) -> dict[str, Any]:
    reason = "患者确认后继续结算" if disposition == CONTINUED else "患者取消本次结算"
    return {"warns": [{"warn_rslt_id": w.warn_rslt_id, "dspo_way": disposition, "dspo_way_rea": reason}
                      for w in warnings]}
