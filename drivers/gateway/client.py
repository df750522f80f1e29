"""HTTP clients for the settlement gateway and the hospital system (requests).

One ``requests.Session`` per client, built in :func:`build_session` with the
timeouts and TLS settings in one place. No automatic retries: a POST that may
have been processed is never resent blindly (the outbox decides). Library
exceptions are converted to :mod:`kiosk.errors` here.

Threads: called on the gateway worker lane; a lock serialises sign-in.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from kiosk.config import GatewayConfig, TerminalConfig
from kiosk.domain import FeeItem, InsuredPerson
from kiosk.errors import (
    ConfigError,
    GatewayAccessRefused,
    GatewayError,
    GatewayBusinessError,
    GatewayNoAnswer,
    GatewayProtocolError,
    GatewayTlsRefused,
    GatewayUnreachable,
)
from kiosk.masking import mask_id
from kiosk.ports import MsgIdSource, Telemetry, Template, is_template

from drivers.gateway.envelope import build_request, dumps, fee_item, is_sign_error, loads, parse_response
from drivers.gateway.his_invoices import HttpInvoiceService
from drivers.gateway.his_registration import HttpRegistrationService

log = logging.getLogger(__name__)


def build_session(cfg: GatewayConfig) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0, pool_connections=2, pool_maxsize=4)
    session.mount("http://", adapter)
    session.mount("https://", _pinned_adapter(cfg.pin_sha256) if cfg.pin_sha256 else adapter)
    session.verify = cfg.ca_bundle or True  # verification is never turned off
    # The environment must not decide whom the kiosk trusts: with trust_env, requests replaces the
    # session's CA bundle by $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE (set on many Debian hosts), so
    # gateway.ca_bundle was silently ignored; proxies and .netrc from the environment are not taken either.
    session.trust_env = False
    if cfg.proxy:
        session.proxies = {"http": cfg.proxy, "https": cfg.proxy}
    session.headers.update({"Content-Type": "application/json; charset=utf-8"})
    return session


def _pinned_adapter(pins: str) -> HTTPAdapter:
    from drivers.gateway.pinning import PinnedAdapter, parse_pins

    try:
        return PinnedAdapter(parse_pins(pins), max_retries=0, pool_connections=2, pool_maxsize=4)
    except ValueError as exc:
        raise ConfigError(f"gateway.pin_sha256: {exc}") from None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what lies beneath it (``__cause__``, ``__context__``, or an exception carried as
    the first argument, as urllib3 wraps them), each once."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        cause = cause.__cause__ or cause.__context__ or (cause.args[0] if cause.args and isinstance(
            cause.args[0], BaseException) else None)


def _is_connect_failure(exc: requests.ConnectionError) -> bool:
    """True when nothing can have reached the server (refused, unroutable, connect timeout)."""
    return isinstance(exc, requests.ConnectTimeout) or any(
        isinstance(cause, (NewConnectionError, ConnectionRefusedError)) for cause in _causes(exc))


def gateway_origin(cfg: GatewayConfig) -> str:
    """``scheme://host:port`` of the gateway's service URL: where its companion endpoints live (health,
    hospital system, voucher platform, terminal registration) unless configured apart."""
    parts = urlsplit(cfg.url)
    return f"{parts.scheme}://{parts.netloc}"


def tls_refusal(exc: requests.exceptions.SSLError, what: str) -> GatewayTlsRefused:
    """The handshake's own reason (expired, untrusted issuer, another host), without the URL's query."""
    reason = "TLS handshake failed"
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = f"certificate not accepted: {cause.verify_message or cause.reason}"
            break
        if isinstance(cause, ssl.SSLError):
            reason = f"TLS refused: {getattr(cause, 'reason', None) or cause}"
    return GatewayTlsRefused(f"{what}: {reason} (check gateway.ca_bundle and the gateway's certificate)")


def access_headers(cfg: GatewayConfig) -> Callable[[], dict[str, str]]:
    """The per-request headers of the configured access profile (a fresh nonce and timestamp each time)."""
    if cfg.profile not in ("tif", "sm"):
        return dict
    from drivers.gateway.access import tif_headers
    from drivers.secret_file import read_secret

    secret = read_secret(cfg.secret_file, "gateway.secret_file")
    return lambda: tif_headers(cfg.paasid, secret)


def message_security(cfg: GatewayConfig) -> Any:
    """Profile sm: the SmProfile that seals requests and opens answers (None for other profiles).
    Raises ConfigError naming the key when a key file or the gateway's public key is unusable."""
    if cfg.profile != "sm":
        return None
    from drivers.gateway.message_security import SmProfile
    from drivers.gateway.national_crypto import NationalCryptoError, Sm2Key, sm4_key
    from drivers.secret_file import read_secret

    keys = {}
    for key, parse in (("sm4_key_file", sm4_key), ("sm2_key_file", Sm2Key.from_private)):
        try:
            keys[key] = parse(read_secret(getattr(cfg, key), f"gateway.{key}"))
        except NationalCryptoError as exc:
            raise ConfigError(f"gateway.{key}: {exc}") from None
    try:
        gateway_key = Sm2Key.from_public(cfg.sm2_gateway_public_key)
    except NationalCryptoError as exc:
        raise ConfigError(f"gateway.sm2_gateway_public_key: {exc}") from None
    return SmProfile(keys["sm4_key_file"], keys["sm2_key_file"], gateway_key)


def _open_answer(raw: bytes, security: Any, what: str) -> bytes:
    """Profile sm: the answer in clear, or GatewayProtocolError when it is not the gateway's (after a
    settlement request that is an ambiguous outcome for the outbox, never a success)."""
    from drivers.gateway.message_security import MessageSecurityError

    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise GatewayProtocolError(f"{what}: answer is not JSON ({raw[:40]!r})") from None
    if not isinstance(answer, dict):
        raise GatewayProtocolError(f"{what}: answer is not a JSON object")
    try:
        return dumps(security.open_answer(answer))
    except MessageSecurityError as exc:
        raise GatewayProtocolError(f"{what}: answer refused: {exc} (check gateway.sm2_gateway_public_key and "
                                   f"gateway.sm4_key_file; if they are right, someone altered the answer)") from None


def _access_refusal(response: requests.Response, what: str) -> GatewayAccessRefused | None:
    from drivers.gateway.access import REFUSALS
    from drivers.gateway.message_security import REFUSALS as SM_REFUSALS

    try:
        answer = response.json()
    except ValueError:
        return None
    code = answer.get("code") if isinstance(answer, dict) else None
    if code not in REFUSALS and code not in SM_REFUSALS:
        return None
    reason = REFUSALS.get(code) or SM_REFUSALS[code]
    fix = {"signature": "check gateway.paasid and gateway.secret_file", "paasid": "check gateway.paasid",
           "stale": "the kiosk's clock is off: enable time sync (timedatectl set-ntp true)",
           "nonce": "a nonce was used twice: report this to support",
           "message_signature": "check gateway.sm2_key_file: its public half must be the one registered with "
                                "the province",
           "message_key": "check gateway.sm4_key_file (the SM4 key the province issued)"}[reason]
    return GatewayAccessRefused(reason, f"{what}: the gateway refused access ({code}: {answer.get('message', '')}); {fix}")


def post(session: requests.Session, url: str, body: bytes, timeout: tuple[float, float], what: str,
          headers: dict[str, str] | None = None) -> bytes:
    try:
        response = session.post(url, data=body, timeout=timeout, headers=headers)
    except requests.exceptions.SSLError as exc:
        raise tls_refusal(exc, what) from None
    except requests.ConnectionError as exc:
        if _is_connect_failure(exc):
            raise GatewayUnreachable(f"{what}: gateway unreachable ({type(exc).__name__})") from None
        raise GatewayNoAnswer(f"{what}: connection lost after sending ({type(exc).__name__})") from None
    except requests.Timeout:
        raise GatewayNoAnswer(f"{what}: no answer within {timeout[1]} s") from None
    except requests.RequestException as exc:
        raise GatewayProtocolError(f"{what}: {type(exc).__name__}") from None
    if response.status_code >= 500:
        raise GatewayNoAnswer(f"{what}: HTTP {response.status_code} from the gateway")
    if response.status_code in (401, 403):
        refusal = _access_refusal(response, what)
        if refusal is not None:
            raise refusal
    if response.status_code != 200:
        raise GatewayProtocolError(f"{what}: HTTP {response.status_code} from the gateway")
    return response.content


class HttpGateway:
    """The national interface over HTTP(S). Signs in (9001) once a day and again on a sign error."""

    def __init__(self, cfg: GatewayConfig, terminal: TerminalConfig, msgids: MsgIdSource,
                 clock: Callable[[], dt.datetime] = dt.datetime.now, telemetry: Telemetry | None = None) -> None:
        """``telemetry``: told of each request's latency, outcome and the gateway's clock skew."""
        if not cfg.url:
            raise GatewayProtocolError("gateway.url is not configured")
        self._cfg, self._terminal, self._msgids, self._clock = cfg, terminal, msgids, clock
        self._telemetry = telemetry
        self._session = build_session(cfg)
        self._access = access_headers(cfg)
        self._security = message_security(cfg)
        self._timeout = (cfg.connect_timeout_s, cfg.read_timeout_s)
        self._lock = threading.Lock()
        self._sign_no, self._sign_day = "", ""

    def call(self, infno: str, input_: Mapping[str, Any], *, msgid: str,
             insuplc_admdvs: str = "") -> Mapping[str, Any]:
        sign_no = self._ensure_signed_in()
        try:
            return self._send(infno, input_, msgid, sign_no, insuplc_admdvs)
        except GatewayBusinessError as exc:
            if not is_sign_error(exc.err_msg):
                raise
            log.info("gateway refused sign_no (%s): signing in again", exc.err_msg)
            return self._send(infno, input_, msgid, self._ensure_signed_in(force=True), insuplc_admdvs)

    def probe(self) -> bool:
        try:
            self._session.get(f"{gateway_origin(self._cfg)}/health", timeout=self._timeout)
        except requests.RequestException:
            return False
        return True

    def close(self) -> None:
        self._session.close()

    def _send(self, infno: str, input_: Mapping[str, Any], msgid: str, sign_no: str,
              insuplc_admdvs: str) -> Mapping[str, Any]:
        if self._telemetry is None:
            return self._exchange(infno, input_, msgid, sign_no, insuplc_admdvs)[0]
        started = time.monotonic()
        try:
            output, raw = self._exchange(infno, input_, msgid, sign_no, insuplc_admdvs)
        except GatewayError as exc:
            self._telemetry.gateway_answered(infno, time.monotonic() - started, _outcome_of(exc), None)
            raise
        self._telemetry.gateway_answered(infno, time.monotonic() - started, "ok", _skew(raw, self._clock()))
        return output

    def _exchange(self, infno: str, input_: Mapping[str, Any], msgid: str, sign_no: str,
                  insuplc_admdvs: str) -> tuple[Mapping[str, Any], bytes]:
        """Send one envelope; returns its output and the answer as received (opened, profile sm)."""
        envelope = build_request(self._terminal, infno, input_, msgid=msgid, sign_no=sign_no,
                                 insuplc_admdvs=insuplc_admdvs, now=self._clock())
        log.info("-> %s msgid=%s", infno, msgid)
        if self._security is not None:
            envelope = self._security.seal_request(json.loads(dumps(envelope)))
        raw = post(self._session, self._cfg.url, dumps(envelope), self._timeout, infno, self._access())
        if self._security is not None:
            raw = _open_answer(raw, self._security, infno)
        output = parse_response(raw, infno)
        log.info("<- %s msgid=%s ok", infno, msgid)
        return output, raw

    def sign_in(self) -> str:
        """Sign in now (9001) and return the sign number (registration, the technician's check)."""
        return self._ensure_signed_in(force=True)

    def _ensure_signed_in(self, *, force: bool = False) -> str:
        with self._lock:
            today = self._clock().strftime("%Y%m%d")
            if force or not self._sign_no or self._sign_day != today:
                output = self._send("9001", {"signIn": {"opter_no": self._terminal.terminal_no,
                                                        "mac": f"{uuid.getnode():012X}", "ip": "127.0.0.1"}},
                                    self._msgids.next_msgid(), "", "")
                info = output.get("signinoutb")
                if not isinstance(info, Mapping) or not info.get("sign_no"):
                    raise GatewayProtocolError("9001 answer lacks signinoutb.sign_no")
                self._sign_no, self._sign_day = str(info["sign_no"]), today
            return self._sign_no


def _skew(raw: bytes, now: dt.datetime) -> float | None:
    """The gateway's ``respond_time`` (yyyymmddHHMMSS[fff]) minus our clock at receipt, in seconds."""
    try:
        stamp = str(json.loads(raw).get("respond_time") or "")
        theirs = dt.datetime.strptime(stamp[:14], "%Y%m%d%H%M%S")
    except (ValueError, AttributeError, TypeError):
        return None
    return (theirs - now.replace(microsecond=0)).total_seconds()


def _outcome_of(exc: GatewayError) -> str:
    for kind, word in ((GatewayBusinessError, "refused"), (GatewayTlsRefused, "tls_refused"),
                       (GatewayUnreachable, "unreachable"), (GatewayNoAnswer, "no_answer"),
                       (GatewayAccessRefused, "access_refused")):
        if isinstance(exc, kind):
            return word
    return "protocol"


class HttpHospitalSystem(HttpInvoiceService, HttpRegistrationService):
    """Outstanding fees, face references, the person's settlements and electronic invoices from the hospital
    information system. ``terminal_no``: this kiosk, named when it claims an invoice's print."""

    def __init__(self, cfg: GatewayConfig, terminal_no: str = "") -> None:
        self.terminal_no = terminal_no
        self._base = (cfg.his_url or gateway_origin(cfg)).rstrip("/")
        self._session = build_session(cfg)
        self._access = access_headers(cfg)  # the same access layer as the interface (profiles tif, sm)
        self._timeout = (cfg.connect_timeout_s, cfg.read_timeout_s)

    def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                 body: Mapping[str, Any] | None = None) -> requests.Response:
        """One request to the hospital system; transport failures and access refusals raised typed."""
        try:
            response = self._session.request(method, self._base + path, params=params, timeout=self._timeout,
                                             headers=self._access(),
                                             data=None if body is None else dumps(dict(body)))
        except requests.exceptions.SSLError as exc:
            raise tls_refusal(exc, "hospital system") from None
        except requests.ConnectionError as exc:
            raise GatewayUnreachable(f"hospital system unreachable ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            raise GatewayNoAnswer(f"hospital system did not answer ({type(exc).__name__})") from None
        if response.status_code in (401, 403):
            refusal = _access_refusal(response, "hospital system")
            if refusal is not None:
                raise refusal
        return response

    def _get(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        response = self._request("GET", path, params=params)
        try:
            return response.status_code, loads(response.content)
        except ValueError:
            raise GatewayProtocolError(f"hospital system answered HTTP {response.status_code}, not JSON") from None

    def pending_fees(self, person: InsuredPerson) -> tuple[FeeItem, ...]:
        status, body = self._get("/his/fees", {"psn_no": person.psn_no})
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("fees"), list):
            raise GatewayProtocolError(f"hospital system fee list malformed (HTTP {status})")
        return tuple(fee_item(line) for line in body["fees"])

    def recent_settlements(self, person: InsuredPerson, days: int) -> tuple[tuple[str, str], ...]:
        status, body = self._get("/his/settlements", {"psn_no": person.psn_no, "days": str(days)})
        rows = body.get("settlements") if isinstance(body, dict) else None
        if status != 200 or not isinstance(rows, list):
            raise GatewayProtocolError(f"hospital system settlement list malformed (HTTP {status})")
        try:
            return tuple((str(r["setl_id"]), str(r["mdtrt_id"])) for r in rows)
        except (KeyError, TypeError):
            raise GatewayProtocolError("hospital system settlement list malformed") from None

    def reference_template(self, person: InsuredPerson) -> Template | None:
        status, body = self._get("/his/face-template", {"psn_no": person.psn_no})
        if status == 404:
            log.info("no face reference for %s", mask_id(person.psn_no))
            return None
        try:
            template = np.asarray([float(x) for x in body["template"]], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise GatewayProtocolError("face reference malformed") from None
        if status != 200 or not is_template(template):
            raise GatewayProtocolError("face reference malformed")
        return template

    def close(self) -> None:
        self._session.close()

    def record_audit(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        """Deliver one audit event (called by the outbox sender). Raises GatewayError subclasses."""
        raw = post(self._session, self._base + "/his/audit", dumps(dict(event)), self._timeout, "audit",
                    self._access())
        try:
            answer = loads(raw)
        except ValueError:
            raise GatewayProtocolError("audit answer is not JSON") from None
        if not isinstance(answer, dict) or answer.get("status") != "recorded":
            raise GatewayProtocolError(f"audit answer unexpected: {str(answer)[:80]}")
        return answer
