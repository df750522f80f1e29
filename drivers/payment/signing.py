"""Message signatures of the payment platform: HMAC-SHA256 over the canonical form of every field but
``sign`` (keys sorted, ``key=value`` joined by ``&``, empty values left out, then ``&key=<merchant key>``),
upper-case hex, as WeChat Pay's v2 interface and the aggregators modelled on it define it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any


def canonical(fields: Mapping[str, Any]) -> str:
    return "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "sign" and fields[k] not in ("", None))


def sign(fields: Mapping[str, Any], key: bytes) -> str:
    text = canonical(fields) + "&key=" + key.decode("ascii")
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest().upper()


def signed(fields: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    out = {k: v for k, v in fields.items() if k != "sign"}
    out["sign"] = sign(out, key)
    return out


def verify(fields: Mapping[str, Any], key: bytes) -> bool:
    given = fields.get("sign")
    return isinstance(given, str) and hmac.compare_digest(given, sign(fields, key))
