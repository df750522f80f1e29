"""Gateway access profiles (PROTOCOL.md section 9): what each request carries besides the envelope.

``plain``: nothing. ``tif``: the national gateway's access headers ``x-tif-paasid``, ``x-tif-timestamp``
(Unix seconds), ``x-tif-nonce`` (random, single use) and ``x-tif-signature`` = hex SHA-256 of
``timestamp + secret + nonce + timestamp``. The gateway refuses a wrong signature, a timestamp further
than its limit from its own clock, and a nonce it has seen; :class:`TifPolicy` is that check, used by the
sandbox (and by tests), and its refusals are answered as HTTP 401 with ``{"code", "message"}``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

HEADERS = ("x-tif-paasid", "x-tif-timestamp", "x-tif-nonce", "x-tif-signature")
# the gateway's refusal codes, and what the kiosk calls each (kiosk/errors.GatewayAccessRefused.reason)
REFUSALS = {"TIF-401": "signature", "TIF-402": "stale", "TIF-403": "nonce", "TIF-404": "paasid"}


def tif_signature(timestamp: str, secret: str, nonce: str) -> str:
    return hashlib.sha256(f"{timestamp}{secret}{nonce}{timestamp}".encode("utf-8")).hexdigest()


def tif_headers(paasid: str, secret: str, *, now: float | None = None, nonce: str | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_hex(16)
    return {"x-tif-paasid": paasid, "x-tif-timestamp": timestamp, "x-tif-nonce": nonce,
            "x-tif-signature": tif_signature(timestamp, secret, nonce)}


@dataclass
class TifPolicy:
    """The gateway side: one access id and secret, a clock-skew limit, and the nonces seen within it."""

    paasid: str
    secret: str
    max_skew_s: float = 300.0
    clock: Callable[[], float] = time.time
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refusal(self, headers: Mapping[str, str]) -> tuple[str, str] | None:
        """None when the request may pass, else (code, message) as the gateway answers them."""
        get = {k.lower(): v for k, v in headers.items()}.get
        paasid, timestamp, nonce, signature = (get(h, "") for h in HEADERS)
        if paasid != self.paasid:
            return "TIF-404", "unknown paasid"
        if not timestamp.isdigit() or not nonce or not signature:
            return "TIF-401", "access headers missing"
        if not hmac.compare_digest(signature.lower(), tif_signature(timestamp, self.secret, nonce)):
            return "TIF-401", "signature mismatch"
        now = self.clock()
        if abs(now - int(timestamp)) > self.max_skew_s:
            return "TIF-402", f"timestamp {timestamp} is more than {self.max_skew_s:.0f} s from the gateway's clock"
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - 2 * self.max_skew_s:
                self._seen.popitem(last=False)  # older than any timestamp still accepted
            if nonce in self._seen:
                return "TIF-403", "nonce already used"
            self._seen[nonce] = now
        return None
