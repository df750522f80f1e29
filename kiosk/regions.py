"""Region names of division codes (``insuplc_admdvs``, ``mdtrtarea_admvs``), from a shipped table
(kiosk/regions.tsv), never from the network.

Medical-insurance pools also use codes that are no administrative division: ``XX9900`` is a province's
own pool (省本级) and ``XXYY99`` a prefecture's (市本级). A code the table does not know is shown as the
nearest level it does know, with the code itself.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

PROVINCE_EN = {
    "11": "Beijing", "12": "Tianjin", "13": "Hebei", "14": "Shanxi", "15": "Inner Mongolia", "21": "Liaoning",
    "22": "Jilin", "23": "Heilongjiang", "31": "Shanghai", "32": "Jiangsu", "33": "Zhejiang", "34": "Anhui",
    "35": "Fujian", "36": "Jiangxi", "37": "Shandong", "41": "Henan", "42": "Hubei", "43": "Hunan",
    "44": "Guangdong", "45": "Guangxi", "46": "Hainan", "50": "Chongqing", "51": "Sichuan", "52": "Guizhou",
    "53": "Yunnan", "54": "Tibet", "61": "Shaanxi", "62": "Gansu", "63": "Qinghai", "64": "Ningxia",
    "65": "Xinjiang", "71": "Taiwan", "81": "Hong Kong", "82": "Macao",
}
# prefecture-level rows that are no place of their own (a municipality's districts, directly governed counties)
NOT_A_PLACE = ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划")


@cache
def _table() -> dict[str, str]:
    text = resources.files("kiosk").joinpath("regions.tsv").read_text(encoding="utf-8")
    rows = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {code: name for code, name in rows}


def province_of(code: str) -> str:
    return code[:2]


def region_name(code: str, lang: str = "zh") -> str:
    """E.g. 440306 -> "广东省 深圳市 宝安区" (zh) or "Guangdong, 深圳市 宝安区" (en); "" for a code that is
    not six digits."""
    if len(code) != 6 or not code.isdigit():
        return ""
    table = _table()
    province = table.get(code[:2] + "0000", "")
    parts: list[str] = []
    if code[2:4] == "99":
        parts.append("省本级" if lang == "zh" else "provincial pool")
    elif code[2:4] != "00":
        prefecture = table.get(code[:4] + "00", "")
        if prefecture and prefecture not in NOT_A_PLACE:
            parts.append(prefecture)
        if code[4:] == "99":
            parts.append("市本级" if lang == "zh" else "city pool")
        elif code[4:] != "00":
            parts.append(table.get(code, code))
    if not province:
        return code
    head = province if lang == "zh" else PROVINCE_EN.get(code[:2], province)
    if not parts:
        return head
    return f"{head} {' '.join(parts)}" if lang == "zh" else f"{head}, {' '.join(parts)}"
