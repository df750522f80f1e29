"""Who the patient is, insurance-wise (PROTOCOL.md section 8).

A person can hold several insurance records (1101 ``insuinfo[]``: employee and resident, or two regions).
Each is classified against the terminal's treatment area (``mdtrtarea_admvs``): the same division is
local, the same province another region in the province (省内异地), anything else cross-province
(跨省异地). The patient chooses the record when there is more than one; the chosen record's
``insuplc_admdvs`` and ``insutype`` then go into every transaction that carries ``psn_no``.

Before registering, the benefit check (2001) says whether the chosen record may be used for this visit:
a paused insurance, a cross-province patient whose region requires filing and who has none, a region
that does not offer cross-province general outpatient each stop the visit before 2201.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from kiosk.regions import region_name

MED_TYPE_OUTPATIENT = "11"
MED_TYPE_EMERGENCY = "13"
MED_TYPE_CHRONIC = "14"  # chronic / special-disease outpatient (门诊慢特病)


class Locality(str, Enum):
    LOCAL = "local"
    IN_PROVINCE = "in_province"            # 省内异地
    CROSS_PROVINCE = "cross_province"      # 跨省异地


def classify(insuplc_admdvs: str, mdtrtarea_admvs: str) -> Locality:
    if insuplc_admdvs == mdtrtarea_admvs:
        return Locality.LOCAL
    if insuplc_admdvs[:2] == mdtrtarea_admvs[:2]:
        return Locality.IN_PROVINCE
    return Locality.CROSS_PROVINCE


def out_setl_flag(locality: Locality) -> str:
    """3101's ``out_setl_flag``: 2 own institution's region, 3 in-province other region, 4 cross-province."""
    return {Locality.LOCAL: "2", Locality.IN_PROVINCE: "3", Locality.CROSS_PROVINCE: "4"}[locality]


INSUTYPE_NAMES = {  # (zh, en)
    "310": ("职工基本医疗保险", "Employee basic insurance"),
    "320": ("公务员医疗补助", "Civil-servant subsidy"),
    "330": ("大额医疗费用补助", "Large-amount subsidy"),
    "340": ("离休人员医疗保障", "Retired cadres' cover"),
    "390": ("城乡居民基本医疗保险", "Resident basic insurance"),
    "392": ("城乡居民大病医疗保险", "Resident serious-illness insurance"),
    "510": ("生育保险", "Maternity insurance"),
}


def insutype_name(insutype: str, lang: str = "zh") -> str:
    names = INSUTYPE_NAMES.get(insutype)
    return (names[0] if lang == "zh" else names[1]) if names else insutype


@dataclass(frozen=True)
class InsuranceRecord:
    """One ``insuinfo`` entry of 1101."""

    insutype: str
    balance: Decimal
    insuplc_admdvs: str
    psn_type: str = ""
    emp_name: str = ""
    paused_since: str = ""  # ``paus_insu_date`` (YYYY-MM-DD), empty when the insurance is not paused

    def locality(self, mdtrtarea_admvs: str) -> Locality:
        return classify(self.insuplc_admdvs, mdtrtarea_admvs)

    def region(self, lang: str = "zh") -> str:
        return region_name(self.insuplc_admdvs, lang) or self.insuplc_admdvs

    def paused_on(self, today: dt.date) -> bool:
        try:
            return bool(self.paused_since) and dt.date.fromisoformat(self.paused_since[:10]) <= today
        except ValueError:
            return True  # a date we cannot read: better the counter than a refused settlement


class BenefitReason(str, Enum):
    """Why a visit cannot be settled with the chosen record (each has its own patient message)."""

    PAUSED = "paused"
    NOT_FILED = "not_filed"
    NO_CROSS_PROVINCE_OUTPATIENT = "no_cross_province_outpatient"
    REFUSED = "refused"  # any other check the insured region failed: its own words are shown


# 2001 ``trtinfo[].trt_chk_type`` codes the sandbox and the provinces we know of use (uncertain; anything
# else that fails is REFUSED with the region's message)
CHECK_REASONS = {"01": BenefitReason.PAUSED, "02": BenefitReason.NOT_FILED,
                 "03": BenefitReason.NO_CROSS_PROVINCE_OUTPATIENT}


@dataclass(frozen=True)
class BenefitVerdict:
    allowed: bool
    reason: BenefitReason | None = None
    detail: str = ""  # the insured region's own message, for staff and for REFUSED


def paused_verdict(record: InsuranceRecord, today: dt.date) -> BenefitVerdict | None:
    """The refusal a pause that 1101 already shows calls for (no need to ask 2001), or None."""
    if record.paused_on(today):
        return BenefitVerdict(False, BenefitReason.PAUSED, f"paus_insu_date {record.paused_since}")
    return None


def benefit_verdict(output: Mapping[str, Any], record: InsuranceRecord, today: dt.date) -> BenefitVerdict:
    """Read a 2001 answer leniently: a check with ``trt_enjymnt_flag`` "0" refuses. A pause the 1101 record
    already shows refuses even when the region's check forgot it."""
    paused = paused_verdict(record, today)
    if paused is not None:
        return paused
    checks = output.get("trtinfo") if isinstance(output, Mapping) else None
    for check in checks if isinstance(checks, list) else []:
        if not isinstance(check, Mapping) or str(check.get("trt_enjymnt_flag", "1")) != "0":
            continue
        reason = CHECK_REASONS.get(str(check.get("trt_chk_type", "")), BenefitReason.REFUSED)
        return BenefitVerdict(False, reason, str(check.get("trt_chk_rslt", ""))[:200])
    return BenefitVerdict(True)


@dataclass(frozen=True)
class ChronicFiling:
    """A chronic or special disease on file for the person (5301): the visit may use it."""

    code: str       # opsp_dise_code, the disease code passed as dise_codg
    name: str       # opsp_dise_name
    begins: str     # begndate (YYYY-MM-DD)
    ends: str       # enddate (YYYY-MM-DD), empty: open-ended


def chronic_filings(output: Mapping[str, Any], today: dt.date) -> tuple[ChronicFiling, ...]:
    """The filings of a 5301 answer that are valid today. Lenient: the list is the first list in the
    answer (provinces name the node differently); a row without a code, or out of its dates, is left out."""
    rows = next((value for value in output.values() if isinstance(value, list)), []) \
        if isinstance(output, Mapping) else []
    found = []
    for row in rows:
        if not isinstance(row, Mapping) or not row.get("opsp_dise_code"):
            continue
        filing = ChronicFiling(str(row["opsp_dise_code"]), str(row.get("opsp_dise_name") or row["opsp_dise_code"]),
                               str(row.get("begndate") or "")[:10], str(row.get("enddate") or "")[:10])
        try:
            started = not filing.begins or dt.date.fromisoformat(filing.begins) <= today
            valid = not filing.ends or dt.date.fromisoformat(filing.ends) >= today
        except ValueError:
            continue
        if started and valid:
            found.append(filing)
    return tuple(found)
