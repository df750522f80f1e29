"""The funds that pay an outpatient bill, in words a patient reads (PROTOCOL.md section 8).

2206/2207 return each fund by its field name; the screen and the receipt name each non-zero one in plain
words and print exactly the amount returned (amounts are never summed into groups of our own: provinces
define their subtotals differently).
"""

from __future__ import annotations

from decimal import Decimal

from kiosk.domain import SettlementAmounts

# field: (zh, en), in the order a patient reads them: the insurance funds, then the accounts, then cash
FUND_WORDS: dict[str, tuple[str, str]] = {
    "hifp_pay": ("基本医保统筹", "Basic insurance"),
    "cvlserv_pay": ("公务员医疗补助", "Civil-servant subsidy"),
    "hifes_pay": ("企业补充医疗保险", "Employer supplementary insurance"),
    "hifmi_pay": ("大病保险", "Critical illness"),
    "hifob_pay": ("大额医疗补助", "Large-amount subsidy"),
    "maf_pay": ("医疗救助", "Medical assistance"),
    "oth_pay": ("其他基金", "Other funds"),
    "acct_pay": ("个人账户", "Personal account"),
    "acct_mulaid_pay": ("家庭共济账户", "Family account"),
    "psn_cash_pay": ("个人现金", "Cash"),
}


def fund_lines(amounts: SettlementAmounts, *, include_cash: bool = True) -> list[tuple[str, tuple[str, str], Decimal]]:
    """(field, (zh, en) words, amount) of every non-zero fund, in FUND_WORDS order; cash too when asked,
    even when it is zero (a patient reads "cash 0.00" as "nothing to pay")."""
    named = {**amounts.funds(), **({"psn_cash_pay": f"{amounts.psn_cash_pay:.2f}"} if include_cash else {})}
    return [(field, words, Decimal(named[field])) for field, words in FUND_WORDS.items()
            if field in named and (include_cash or field != "psn_cash_pay")]
