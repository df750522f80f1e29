"""Masking of personal identifiers for logs, screens and receipts.

Rule (ARCHITECTURE.md): ID numbers and tokens show their first 6 and last 4
characters; names show the family name only.
"""

from __future__ import annotations


def mask_id(value: str, *, head: int = 6, tail: int = 4) -> str:
    """``110101199003071234`` -> ``110101********1234``. Short values are fully masked."""
    if not value:
        return ""
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


def mask_name(name: str) -> str:
    """``张三丰`` -> ``张**``; ``Li Lei`` -> ``L*****``."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_token(token: str) -> str:
    """Voucher tokens and QR payloads: never logged whole."""
    return mask_id(token, head=4, tail=4)
