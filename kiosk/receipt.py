"""Receipt and slip layout (transport-independent): lines of text plus a QR payload.

Contents per PROTOCOL.md section 6. Amounts are printed exactly as the gateway
returned them; identifiers are masked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from kiosk.domain import FeeItem, InsuredPerson, QueuedSettlement, Settlement
from kiosk.funds import fund_lines
from kiosk.invoices import EInvoice
from kiosk.masking import mask_id, mask_name
from kiosk.payment import Payment
from kiosk.registration import Registered

WIDTH = 32  # characters on a 58 mm slip (CJK counts double)


@dataclass(frozen=True)
class Document:
    lines: list[str]
    qr_payload: str
    name: str


def _width(text: str) -> int:
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)


def _pair(label: str, value: str) -> str:
    """``label ... value`` on one line, or the value right-aligned on the next when both do not fit."""
    if _width(label) + 1 + _width(value) > WIDTH:
        return label + "\n" + " " * max(0, WIDTH - _width(value)) + value
    return label + " " * (WIDTH - _width(label) - _width(value)) + value


def _document(lines: list[str], qr_payload: str, name: str) -> Document:
    return Document(lines=[part for line in lines for part in line.split("\n")], qr_payload=qr_payload, name=name)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _header(institution: str, terminal_no: str, person: InsuredPerson, when: dt.datetime) -> list[str]:
    return [
        institution,
        "-" * WIDTH,
        _pair("姓名 Name", mask_name(person.name)),
        _pair("证件 ID", mask_id(person.certno)),
        _pair("时间 Time", when.strftime("%Y-%m-%d %H:%M:%S")),
        _pair("终端 Terminal", terminal_no),
    ]


def _fee_table(fees: tuple[FeeItem, ...]) -> list[str]:
    lines = ["-" * WIDTH, "项目 Item            数量   金额"]
    for fee in fees:
        lines.append(_pair(fee.name, f"{fee.quantity.normalize()}  {_money(fee.amount)}"))
    return lines


def settlement_receipt(institution: str, terminal_no: str, person: InsuredPerson, fees: tuple[FeeItem, ...],
                       settlement: Settlement, when: dt.datetime, *, authorised_by: str = "",
                       registered: Registered | None = None, invoice: EInvoice | None = None) -> Document:
    """The settlement's receipt. ``invoice``: the e-invoice the hospital issued for it: its number is printed
    and the receipt's QR code takes the invoice to the phone (else the code names the settlement for staff)."""
    a = settlement.amounts
    lines = ["门诊医保结算凭证", "OUTPATIENT SETTLEMENT RECEIPT", "状态 Status: 已结算 SETTLED"]
    lines += _header(institution, terminal_no, person, when)
    lines += _authorised_lines(authorised_by)
    lines += _registration_lines(person, registered)
    lines.append(_pair("就诊号 Visit", settlement.mdtrt_id))
    lines += _fee_table(fees)
    lines += [
        "-" * WIDTH,
        _pair("费用总额 Total", _money(a.medfee_sumamt)),
        *[_pair(f"{zh} {en}", _money(amount)) for _field, (zh, en), amount in fund_lines(a)],
        _pair("基金支付合计 Funds total", _money(a.fund_pay_sumamt)),
        _pair("账户余额 Balance", _money(a.balc)),
        _pair("结算号 Settlement", settlement.setl_id),
        *_paid_lines(settlement.payment),
        "-" * WIDTH,
        *(["电子票据 E-invoice", _pair("", invoice.display_no),
           "扫码把电子票据存到手机", "Scan: the e-invoice on your phone"] if invoice is not None else
          ["发票请到人工窗口领取", "Invoices at the counter"]),
    ]
    qr = invoice.phone_url if invoice is not None else f"SETL:{settlement.setl_id}"
    return _document(lines, qr, f"receipt-{settlement.setl_id}")


def _registration_lines(person: InsuredPerson, registered: Registered | None) -> list[str]:
    """A registration with a doctor: the queue number large enough to find, the department, doctor and where
    to wait; when the hospital system did not confirm it, where to go with this slip."""
    slot = person.doctor
    if slot is None:
        return []
    lines = ["-" * WIDTH, "挂号 REGISTRATION", _pair("科室 Department", slot.dept_name),
             _pair("医生 Doctor", f"{slot.dr_name} {slot.title}".strip()), _pair("时段 Session", slot.period)]
    if registered is None:
        return lines + ["挂号未确认：请持本凭条到挂号窗口", "Not confirmed: take this slip to the registration desk"]
    return lines + [_pair("就诊序号 Queue no.", registered.queue_no), _pair("候诊地点 Wait at", registered.place)]


def _authorised_lines(authorised_by: str) -> list[str]:
    """A family account: who authorised the payment with their voucher (a masked name)."""
    return [_pair("亲情账户授权 Authorised by", authorised_by)] if authorised_by else []


METHOD_NAMES = {"wechat": "微信 WeChat Pay", "alipay": "支付宝 Alipay", "unionpay": "云闪付 UnionPay",
                "card": "银行卡 Bank card"}


def _paid_lines(payment: Payment | None) -> list[str]:
    """How the own share was paid; the provider's transaction number masked (staff find it whole)."""
    if payment is None:
        return []
    return [_pair("已付 Paid", _money(payment.amount)),
            _pair("支付方式 Method", METHOD_NAMES.get(payment.method, payment.method or "-")),
            _pair("交易号 Transaction", payment.masked_trade_no)]


def queued_slip(institution: str, terminal_no: str, person: InsuredPerson, fees: tuple[FeeItem, ...],
                queued: QueuedSettlement, when: dt.datetime, *, authorised_by: str = "",
                registered: Registered | None = None) -> Document:
    lines = ["*** 待结算 NOT YET SETTLED ***"]
    if queued.paid is not None:
        lines += ["已付款，医保结算待完成", "Paid: insurance settlement pending",
                  "结算完成前请勿重复付款", "Do not pay again: it completes itself"]
    else:
        lines += ["网络中断，结算已排队", "Network down: settlement queued"]
    lines += [
        "状态 Status: 排队中 QUEUED",
    ]
    lines += _header(institution, terminal_no, person, when)
    lines += _authorised_lines(authorised_by)
    lines += _registration_lines(person, registered)
    lines += _fee_table(fees)
    lines += [
        "-" * WIDTH,
        _pair("费用总额 Total", _money(queued.medfee_sumamt)),
        _pair("排队号 Queue ref", queued.reference),
        *_paid_lines(queued.paid),
        "-" * WIDTH,
        "本单不是结算凭证。",
        "This slip is not a receipt.",
        "请凭此单到人工窗口确认结算结果",
        "Show it at the counter",
    ]
    return _document(lines, f"QUEUE:{queued.reference}", f"queued-{queued.reference}")


def settlement_copy(institution: str, terminal_no: str, person: InsuredPerson, record: tuple[str, ...],
                    when: dt.datetime) -> Document:
    """A copy of an earlier settlement's receipt, from "my settlements" (a row of kiosk/errands.py
    ``records_view``: date, setl_id, total, funds, own share, refunded flag), marked as a copy everywhere."""
    settled_on, setl_id, total, funds, own, refunded = record
    lines = ["*** 副本 COPY ***", "门诊医保结算凭证（补打）", "OUTPATIENT SETTLEMENT RECEIPT (COPY)"]
    lines += _header(institution, terminal_no, person, when)
    lines += [
        _pair("结算日期 Settled on", settled_on),
        _pair("结算号 Settlement", setl_id),
        "-" * WIDTH,
        _pair("费用总额 Total", total),
        _pair("基金支付合计 Funds total", funds),
        _pair("个人现金 Own share", own),
        *(["状态 Status: 已退费 REFUNDED"] if refunded == "1" else []),
        "-" * WIDTH,
        "本单为补打副本，不能重复报销",
        "A copy: not for a second claim",
    ]
    return _document(lines, f"SETL:{setl_id}", f"copy-{setl_id}-{when:%Y%m%d%H%M%S}")
