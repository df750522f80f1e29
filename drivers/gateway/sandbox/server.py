"""HTTP front of the sandbox gateway (stdlib ``http.server``, loopback only).

Paths:
- ``POST /fsi/api/rsfComIfsService/callService``: the national interface envelope.
- ``GET /his/fees?psn_no=``: outstanding fee lines of a person (hospital side).
- ``GET /his/settlements?psn_no=&days=90``: the person's settlements the hospital knows (ids, time).
- ``GET /his/face-template?psn_no=``: the enrolled face reference (512 or 128 floats), 404 if none.
- ``POST /admin/enroll-face``: ``{"psn_no", "template"}`` enrols a reference.
- ``POST /admin/faults``: ``{"faults": [{"kind", "infno", "delay_s"}]}`` queues faults for the next
  matching requests; ``{"random": {"rate", "kinds", "infnos", "seed", "delay_s", "refuse_s"}}`` injects
  them at random; ``{"clear": true}`` stops both; ``{"refuse_s": 2.0}`` refuses every connection for
  that long, from right after the answer. See ``faults.py``.
- ``POST /pay/<op>``: the payment platform (``drivers/payment/sandbox_provider.py``), signed;
  ``POST /admin/pay/scan`` ``{"order_no", "wallet"}``: a patient's phone pays the order's QR code;
  ``POST /admin/pay/faults``: ``{"faults": [{"kind", "delay_s"}]}``, ``{"random": {"rate", "kinds",
  "seed", "delay_s"}}``, ``{"clear": true}``.
- ``POST /voucher/cn.nhsa.ec.auth``, ``cn.nhsa.auth.check``, ``cn.nhsa.ec.password``, ``cn.nhsa.ec.family``:
  the voucher platform's face swipe, password and family account (``voucher_platform.py``).
- ``POST /admin/reversal-window`` ``{"seconds"}``: cross-province 2207s can be reversed (2601) only that
  many seconds after they were made (null: the same day, the default).
- ``POST /admin/drop-settlement`` ``{"setl_id"}``: the gateway loses a settlement (its books no longer
  hold it); ``POST /admin/alter-settlement`` ``{"setl_id", "medfee_sumamt"}``: its books hold another
  amount. For daily reconciliation (3201/3202) to find.
- ``/his/invoices...``, ``POST /admin/invoices/reprint``: the hospital's e-invoice service (``invoices.py``).
- ``/his/departments``, ``/his/slots...``, ``/his/registrations/confirm``, ``/his/slot-locks``: same-day
  registration (``registration.py``).
- ``GET /health``: liveness probe.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import logging
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from drivers.gateway.access import TifPolicy
from drivers.gateway.message_security import SmGatewaySide
from drivers.gateway.envelope import dumps
from drivers.gateway.sandbox import transactions
from drivers.gateway.sandbox.faults import KINDS as FAULT_KINDS
from drivers.gateway.sandbox.faults import PROCESSED_FIRST, Fault, FaultPlan
from drivers.gateway.sandbox.invoices import SandboxInvoices
from drivers.gateway.sandbox.registration import SandboxRegistration
from drivers.gateway.sandbox.ledger import money, open_ledger
from drivers.gateway.sandbox.voucher_platform import FaceMatcher, SandboxVoucherPlatform
from drivers.payment.sandbox_provider import KINDS as PAY_FAULT_KINDS
from drivers.payment.sandbox_provider import Declined, SandboxPaymentProvider
from kiosk.ports import TEMPLATE_SIZES, is_template

log = logging.getLogger(__name__)
SERVICE_PATH = "/fsi/api/rsfComIfsService/callService"
GUARDED_PATHS = (SERVICE_PATH, "/his/", "/voucher/")  # behind the gateway's access layer (profiles tif, sm)
MAX_BODY = 1 << 20


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a killed kiosk, a closed connection) is routine here, not a traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            log.debug("sandbox: client %s went away (or refused our certificate)", client_address)
        else:
            super().handle_error(request, client_address)


class SandboxGateway:
    """Owns the ledger and the HTTP server thread. ``start()`` returns the base URL."""

    def __init__(self, ledger_path: Path | str, host: str = "127.0.0.1", port: int = 0, *,
                 tls: tuple[Path, Path] | None = None, payment_key: bytes | None = None,
                 access: TifPolicy | None = None, message_security: SmGatewaySide | None = None,
                 face_matcher: FaceMatcher | None = None, accept_replay: bool = False) -> None:
        """``tls``: (certificate chain, private key) PEM files: the sandbox then speaks HTTPS only.
        ``payment_key``: the payment platform's merchant key (default: a new random one, ``payment_key``).
        ``access``: the gateway's access check (profiles tif and sm); None: no access headers needed.
        ``message_security``: profile sm (requests SM4-encrypted and SM2-signed, answers likewise).
        ``face_matcher``: the voucher platform's face match (default: the project's engine, built on first use);
        ``accept_replay``: face swipe accepts the demo's replay camera (demo mode only)."""
        self.access, self.message_security = access, message_security
        self.ledger_path = Path(ledger_path)
        self._tls: ssl.SSLContext | None = None
        if tls is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.minimum_version = ssl.TLSVersion.TLSv1_2
            self._tls.load_cert_chain(str(tls[0]), str(tls[1]))
        self._conn = open_ledger(self.ledger_path)
        self._lock = threading.Lock()
        self.payment_key = payment_key or secrets.token_hex(16).encode("ascii")
        self.payments = SandboxPaymentProvider(self._conn, self._lock, self.payment_key)
        self.vouchers = SandboxVoucherPlatform(self._conn, self._lock, matcher=face_matcher,
                                               accept_replay=accept_replay)
        self.invoices = SandboxInvoices(self._conn, self._lock)
        self.registration = SandboxRegistration(self._conn, self._lock)
        self._server = self._listen((host, port))
        self._address = self._server.server_address[:2]  # kept across refusals (port 0 -> the one given)
        self._listener_lock = threading.Lock()
        self._refusing = self._stopped = False
        # set while new connections are accepted / while they are refused: tests wait on these
        self.listening, self.refusing = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self.connections: set[socket.socket] = set()  # open keep-alive connections, closed on stop
        self.faults = FaultPlan()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host}:{port}"

    @property
    def service_url(self) -> str:
        return self.url + SERVICE_PATH

    def start(self) -> str:
        self._serve()
        self.listening.set()
        return self.url

    def stop(self) -> None:
        with self._listener_lock:
            self._stopped = True
            if not self._refusing:
                self._stop_listening()
        self._close_client_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.vouchers.close()
        with self._lock:
            self._conn.close()

    def refuse_connections(self, seconds: float | None = None) -> None:
        """Stop listening, as a gateway host that is down: the kernel refuses every new connection
        (ECONNREFUSED) and open keep-alive connections are closed. Listens again on the same port after
        ``seconds``, or when ``listen_again()`` is called."""
        with self._listener_lock:
            if self._refusing or self._stopped:
                return
            self._refusing = True
            self._stop_listening()
            self.listening.clear()
            self.refusing.set()
        self._close_client_connections()
        if seconds is not None:
            timer = threading.Timer(seconds, self.listen_again)
            timer.daemon = True
            timer.start()

    def listen_again(self) -> None:
        with self._listener_lock:
            if not self._refusing or self._stopped:
                return
            self._server = self._listen(self._address)
            self._serve()
            self._refusing = False
            self.refusing.clear()
            self.listening.set()

    def _serve(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="sandbox-gateway",
                                        daemon=True)
        self._thread.start()

    def _stop_listening(self) -> None:
        self._server.shutdown()  # the serve loop ends (at most one poll interval later)
        self._server.server_close()  # the listening socket closes: new connects are refused

    def _listen(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        server = _Server(address, _make_handler(self))  # SO_REUSEADDR: the port comes back at once
        server.daemon_threads = True
        if self._tls is not None:  # the handshake runs in each request's thread, not in the accept loop
            server.socket = self._tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        return server

    def _close_client_connections(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # -- operations (called under the lock from request threads, or directly by tests) ------------

    def call_service(self, raw: bytes) -> bytes:
        with self._lock:
            return self.seal(transactions.handle(self._conn, raw))

    def open_request(self, raw: bytes) -> tuple[bytes, tuple[str, str] | None]:
        """Profile sm: (the request in clear, None), or (b"", (code, message)) as the gateway refuses it."""
        if self.message_security is None:
            return raw, None
        try:
            envelope = json.loads(raw)
        except ValueError:
            return b"", ("SM-412", "request is not JSON")
        if not isinstance(envelope, dict):
            return b"", ("SM-412", "request is not a JSON object")
        opened, refusal = self.message_security.open_request(envelope)
        return (b"", refusal) if opened is None else (dumps(opened), None)

    def seal(self, answer: bytes) -> bytes:
        """Profile sm: the answer with its output encrypted and the whole signed by the gateway."""
        if self.message_security is None:
            return answer
        return dumps(self.message_security.seal_answer(json.loads(answer)))

    def pending_fees(self, psn_no: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT f.* FROM his_fees f JOIN persons p ON p.certno = f.certno"
                " WHERE p.psn_no = ? AND f.paid_setl_id IS NULL ORDER BY f.feedetl_sn", (psn_no,)).fetchall()
        return [{"feedetl_sn": r["feedetl_sn"], "name": r["name"], "med_list_codg": r["med_list_codg"],
                 "medins_list_codg": r["medins_list_codg"], "cnt": money(r["cnt"]), "pric": money(r["pric"]),
                 "det_item_fee_sumamt": money(money(r["cnt"]) * money(r["pric"]))} for r in rows]

    def recent_settlements(self, psn_no: str, days: int) -> list[dict[str, str]]:
        """The hospital's record of a person's settlements in the last ``days`` days, newest first."""
        since = (dt.datetime.now() - dt.timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")
        with self._lock:
            rows = self._conn.execute("SELECT setl_id, mdtrt_id, setl_time FROM settlements WHERE psn_no = ?"
                                      " AND setl_time >= ? ORDER BY setl_time DESC, setl_id DESC",
                                      (psn_no, since)).fetchall()
        return [dict(r) for r in rows]

    def face_template(self, psn_no: str) -> list[float] | None:
        with self._lock:
            row = self._conn.execute("SELECT template FROM face_templates WHERE psn_no = ?", (psn_no,)).fetchone()
        return None if row is None else list(json.loads(row["template"]))

    def enroll_face(self, psn_no: str, template: list[float]) -> None:
        if not all(isinstance(x, (int, float)) for x in template) or not is_template(template):
            raise ValueError(f"template must be {' or '.join(map(str, TEMPLATE_SIZES))} numbers")
        with self._lock:
            if self._conn.execute("SELECT 1 FROM persons WHERE psn_no = ?", (psn_no,)).fetchone() is None:
                raise ValueError(f"person {psn_no} not found")
            self._conn.execute("INSERT OR REPLACE INTO face_templates VALUES (?, ?)", (psn_no, json.dumps(template)))

    def drop_settlement(self, setl_id: str) -> None:
        """The gateway's books lose a settlement (reconciliation must find it)."""
        with self._lock:
            if self._conn.execute("DELETE FROM settlements WHERE setl_id = ?", (setl_id,)).rowcount != 1:
                raise ValueError(f"settlement {setl_id} not found")

    def alter_settlement(self, setl_id: str, medfee_sumamt: str) -> None:
        """The gateway's books hold another amount for a settlement."""
        with self._lock:
            if self._conn.execute("UPDATE settlements SET medfee_sumamt = ? WHERE setl_id = ?",
                                  (str(money(medfee_sumamt)), setl_id)).rowcount != 1:
                raise ValueError(f"settlement {setl_id} not found")

    def set_reversal_window(self, seconds: float | None) -> None:
        """Cross-province 2207s are reversed only within ``seconds`` (and the same day); None: same day."""
        with self._lock:
            if seconds is None:
                self._conn.execute("DELETE FROM settings WHERE name = 'reversal_window_s'")
            else:
                self._conn.execute("INSERT OR REPLACE INTO settings VALUES ('reversal_window_s', ?)", (str(float(seconds)),))

    def issue_voucher(self, certno: str, *, code_ttl_s: float = 60.0, token_ttl_s: float = 600.0) -> str:
        """A QR payload as the national app would show (opaque; refreshed about every minute)."""
        with self._lock:
            row = self._conn.execute("SELECT psn_no FROM persons WHERE certno = ?", (certno,)).fetchone()
            if row is None:
                raise ValueError("no insured person with this certno")
            payload = "EC" + secrets.token_urlsafe(48)
            now = time.time()
            self._conn.execute("INSERT INTO vouchers VALUES (?, ?, ?, ?, ?)",
                               (payload, row["psn_no"], secrets.token_hex(20), now + code_ttl_s, now + token_ttl_s))
        return payload

    def resolve_voucher(self, payload: str) -> dict[str, str]:
        """The voucher platform: payload -> holder and ecToken. ValueError('unknown'/'expired')."""
        with self._lock:
            row = self._conn.execute(
                "SELECT v.*, p.certno, p.psn_name, p.insuplc_admdvs FROM vouchers v JOIN persons p USING (psn_no)"
                " WHERE v.payload = ?", (payload,)).fetchone()
        if row is None:
            raise ValueError("unknown")
        if row["code_expires"] < time.time():
            raise ValueError("expired")
        return {"idNo": row["certno"], "idType": "01", "userName": row["psn_name"], "ecToken": row["ec_token"],
                "insuOrg": row["insuplc_admdvs"]}

    def register_terminal(self, terminal_no: str, institution: str, public_key: str) -> dict[str, str]:
        """A terminal asks to be registered; the insurance office approves it later (idempotent per key)."""
        if not (1 <= len(terminal_no) <= 30 and len(institution) == 12 and 40 <= len(public_key) <= 200):
            raise ValueError("terminal_no, institution (12 chars) and public_key are required")
        with self._lock:
            row = self._conn.execute("SELECT * FROM terminals WHERE public_key = ?", (public_key,)).fetchone()
            if row is None:
                registration_id = "REG" + secrets.token_hex(6).upper()
                self._conn.execute("INSERT INTO terminals VALUES (?, ?, ?, ?, 'pending', datetime('now'))",
                                   (registration_id, terminal_no, institution, public_key))
                return {"registration_id": registration_id, "status": "pending"}
        return {"registration_id": row["registration_id"], "status": row["status"]}

    def approve_terminal(self, registration_id: str) -> None:
        with self._lock:
            if self._conn.execute("UPDATE terminals SET status = 'approved' WHERE registration_id = ?",
                                  (registration_id,)).rowcount == 0:
                raise ValueError("no such registration")

    def record_audit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO audit_events (event_id, received, event)"
                               " VALUES (?, datetime('now'), ?)",
                               (str(event.get("event_id", "")) or None, json.dumps(event, ensure_ascii=False)))

    def audit_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(r["event"]) for r in self._conn.execute("SELECT event FROM audit_events ORDER BY id")]

    def psn_no_for_certno(self, certno: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT psn_no FROM persons WHERE certno = ?", (certno,)).fetchone()
        return None if row is None else str(row["psn_no"])

    def requests(self, infno: str) -> list[dict[str, Any]]:
        """The inputs of every ``infno`` transaction the gateway processed, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT request FROM messages WHERE infno = ? ORDER BY created, msgid",
                                      (infno,)).fetchall()
        return [json.loads(r["request"]) for r in rows]

    def registration_cancelled(self, mdtrt_id: str) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT cancelled FROM registrations WHERE mdtrt_id = ?", (mdtrt_id,)).fetchone()
        return bool(row and row["cancelled"])

    def settlements(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._conn.execute("SELECT * FROM settlements ORDER BY setl_id")]


def _infno_of(body: bytes) -> str:
    try:
        envelope = json.loads(body)
    except ValueError:
        return ""
    return str(envelope.get("infno", "")) if isinstance(envelope, dict) else ""


def _make_handler(sandbox: SandboxGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms Nagle/delayed-ACK stall

        def setup(self) -> None:
            super().setup()
            sandbox.connections.add(self.connection)

        def finish(self) -> None:
            sandbox.connections.discard(self.connection)
            super().finish()

        def log_message(self, fmt: str, *args: Any) -> None:  # keep request lines out of stderr
            log.debug("sandbox: " + fmt, *args)

        def _send(self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _query(self) -> dict[str, str]:
            return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

        def _body(self) -> bytes | None:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                return None
            if length < 0 or length > MAX_BODY:
                return None
            return self.rfile.read(length)

        def _access_refused(self, path: str) -> bool:
            """The gateway's access layer guards the interface, the hospital system and the voucher
            platform alike (profiles tif and sm); a refusal is answered here (HTTP 401)."""
            if sandbox.access is None or not path.startswith(GUARDED_PATHS):
                return False
            refusal = sandbox.access.refusal(dict(self.headers.items()))
            if refusal is not None:
                self._send(401, dumps({"code": refusal[0], "message": refusal[1]}))
            return refusal is not None

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path, query = urlsplit(self.path).path, self._query()
            if self._access_refused(path):
                return
            if path == "/health":
                self._send(200, b'{"status":"ok"}')
            elif path == "/his/fees":
                self._send(200, dumps({"fees": sandbox.pending_fees(query.get("psn_no", ""))}))
            elif path == "/his/settlements":  # ``days`` back (at most a year): the kiosk's "my settlements"
                try:
                    days = min(366, max(1, int(query.get("days", "90"))))
                except ValueError:
                    self._send(400, b'{"error":"days must be a number"}')
                    return
                self._send(200, dumps({"settlements": sandbox.recent_settlements(query.get("psn_no", ""), days)}))
            elif path.startswith("/his/invoices"):
                self._send(*sandbox.invoices.handle_get(path, query))
            elif path in ("/his/departments", "/his/slots", "/his/slot-locks"):
                self._send(*sandbox.registration.handle_get(path, query))
            elif path == "/his/face-template":
                template = sandbox.face_template(query.get("psn_no", ""))
                if template is None:
                    self._send(404, b'{"error":"no face reference enrolled"}')
                else:
                    self._send(200, dumps({"template": template}))
            else:
                self._send(404, b'{"error":"not found"}')

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _serve_with_fault(self, body: bytes) -> None:
            fault = sandbox.faults.take(_infno_of(body))
            if fault is None:
                self._send(200, sandbox.call_service(body))
                return
            answer = sandbox.call_service(body) if fault.kind in PROCESSED_FIRST else b""
            if fault.kind in ("drop_before", "drop_after"):
                self._drop()
            elif fault.kind == "refuse":  # stop listening first: the client's very next connect is refused
                sandbox.refuse_connections(fault.delay_s)
                self._drop()
            elif fault.kind == "delay":
                time.sleep(fault.delay_s)
                with contextlib.suppress(OSError):
                    self._send(200, answer)
            elif fault.kind in ("http500", "http502"):
                self._send(int(fault.kind[4:]), b"<html>upstream error</html>")
            elif fault.kind == "malformed":
                self._send(200, answer[: len(answer) // 2] + b"<garbage")
            else:  # business
                self._send(200, sandbox.seal(dumps({"infcode": -1, "err_msg": "simulated business refusal"})))

        def _pay_admin(self, op: str, body: bytes) -> None:
            try:
                req = json.loads(body)
                if op == "scan":
                    self._send(200, dumps(sandbox.payments.scan(str(req["order_no"]), str(req.get("wallet", "wechat")))))
                    return
                if op != "faults":
                    raise KeyError(op)
                faults = sandbox.payments.faults
                if req.get("clear"):
                    faults.clear()
                for item in req.get("faults", []):
                    faults.push(str(item["kind"]), float(item.get("delay_s", 2.0)))
                if "random" in req:
                    r = req["random"]
                    faults.set_random(float(r["rate"]), kinds=tuple(r.get("kinds") or PAY_FAULT_KINDS),
                                      seed=int(r.get("seed", 0)),
                                      delay_s=float(r.get("delay_s", 2.0)))
                self._send(200, dumps({"injected": faults.injected}))
            except Declined as exc:
                self._send(409, dumps({"error": exc.text, "code": exc.code}))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                self._send(400, dumps({"error": str(exc)}))

        def _set_faults(self, body: bytes) -> None:
            req = json.loads(body)
            if req.get("clear"):
                sandbox.faults.clear()
            for item in req.get("faults", []):
                sandbox.faults.push(Fault(str(item["kind"]), str(item.get("infno", "")),
                                          float(item.get("delay_s", 3.0))))
            if "refuse_s" in req:
                seconds = float(req["refuse_s"])
                threading.Timer(0.05, sandbox.refuse_connections, args=(seconds,)).start()  # after this answer
            if "random" in req:
                r = req["random"]
                sandbox.faults.set_random(float(r["rate"]), kinds=tuple(r.get("kinds") or FAULT_KINDS),
                                          infnos=tuple(r.get("infnos", ())), seed=int(r.get("seed", 0)),
                                          delay_s=float(r.get("delay_s", 3.0)),
                                          refuse_s=float(r.get("refuse_s", 0.5)))

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            body = self._body()
            if body is not None and self._access_refused(path):  # answered before anything behind it
                return
            if body is None:
                self._send(413, b'{"error":"body missing or too large"}')
            elif path == SERVICE_PATH:
                body, refusal = sandbox.open_request(body)  # profile sm: decrypted and verified
                if refusal is not None:
                    self._send(401, dumps({"code": refusal[0], "message": refusal[1]}))
                else:
                    self._serve_with_fault(body)
            elif path.startswith("/pay/"):
                status, answer, drop = sandbox.payments.handle(path[len("/pay/"):], body)
                if drop:
                    self._drop()
                else:
                    self._send(status, answer)
            elif path.startswith("/admin/pay/"):
                self._pay_admin(path[len("/admin/pay/"):], body)
            elif path == "/his/audit":
                try:
                    event = json.loads(body)
                    if not isinstance(event, dict) or "event" not in event:
                        raise ValueError("an audit event is an object with an 'event' field")
                except ValueError as exc:
                    self._send(400, dumps({"error": str(exc)}))
                else:
                    sandbox.record_audit(event)
                    self._send(200, b'{"status":"recorded"}')
            elif path == "/admin/reversal-window":
                try:
                    seconds = json.loads(body)["seconds"]
                    sandbox.set_reversal_window(None if seconds is None else float(seconds))
                except (ValueError, KeyError, TypeError) as exc:
                    self._send(400, dumps({"error": str(exc)}))
                else:
                    self._send(200, b'{"status":"set"}')
            elif path == "/admin/faults":
                try:
                    self._set_faults(body)
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    self._send(400, dumps({"error": str(exc)}))
                else:
                    self._send(200, dumps({"injected": sandbox.faults.injected}))
            elif path.startswith(("/his/invoices/", "/admin/invoices/")):
                self._send(*sandbox.invoices.handle_post(path, body))
            elif path.startswith(("/his/slots/", "/his/registrations/", "/admin/slots/")):
                self._send(*sandbox.registration.handle_post(path, body))
            elif path.startswith("/voucher/cn.nhsa."):
                self._send(*sandbox.vouchers.handle(path[len("/voucher/"):], body))
            elif path == "/voucher/resolve":
                try:
                    payload = json.loads(body)["qrCode"]
                    if not isinstance(payload, str):
                        raise TypeError("qrCode must be a string")
                except (ValueError, KeyError, TypeError) as exc:
                    self._send(400, dumps({"code": "bad_request", "error": str(exc)}))
                    return
                try:
                    self._send(200, dumps({"code": "0", "data": sandbox.resolve_voucher(payload)}))
                except ValueError as exc:
                    self._send(200, dumps({"code": str(exc), "message": f"voucher {exc}"}))
            elif path == "/terminal/register":
                try:
                    req = json.loads(body)
                    answer = sandbox.register_terminal(str(req["terminal_no"]), str(req["institution"]),
                                                       str(req["public_key"]))
                except (ValueError, KeyError, TypeError) as exc:
                    self._send(400, dumps({"error": str(exc)}))
                else:
                    self._send(200, dumps(answer))
            elif path == "/admin/approve-terminal":
                try:
                    sandbox.approve_terminal(str(json.loads(body)["registration_id"]))
                except (ValueError, KeyError, TypeError) as exc:
                    self._send(400, dumps({"error": str(exc)}))
                else:
                    self._send(200, b'{"status":"approved"}')
            elif path == "/admin/issue-voucher":
                try:
                    req = json.loads(body)
                    payload = sandbox.issue_voucher(str(req["certno"]), code_ttl_s=float(req.get("code_ttl_s", 60)))
                except (ValueError, KeyError, TypeError) as exc:
                    self._send(400, dumps({"error": str(exc)}))
                else:
                    self._send(200, dumps({"qrCode": payload}))
            elif path in ("/admin/drop-settlement", "/admin/alter-settlement"):
                try:
                    req = json.loads(body)
                    if path.endswith("drop-settlement"):
                        sandbox.drop_settlement(str(req["setl_id"]))
                    else:
                        sandbox.alter_settlement(str(req["setl_id"]), str(req["medfee_sumamt"]))
                except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
                    self._send(400, dumps({"error": str(exc)}))
                else:
                    self._send(200, b'{"status":"done"}')
            elif path == "/admin/enroll-face":
                try:
                    req = json.loads(body)
                    sandbox.enroll_face(str(req["psn_no"]), list(req["template"]))
                except (ValueError, KeyError, TypeError) as exc:
                    self._send(400, dumps({"error": str(exc)}))
                else:
                    self._send(200, b'{"status":"enrolled"}')
            else:
                self._send(404, b'{"error":"not found"}')

    return Handler
