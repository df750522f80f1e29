"""The metrics endpoint: prometheus_client's WSGI app on a threaded wsgiref server, with what
``prometheus_client.start_http_server`` lacks: a bearer token. HTTPS (and mTLS with a client CA) through an
ssl context of our own, TLS 1.2 at least. Paths other than ``/metrics`` answer 404; requests are not logged.
"""

from __future__ import annotations

import hmac
import logging
import ssl
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from kiosk.config import MetricsConfig
from kiosk.errors import ConfigError

log = logging.getLogger(__name__)

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Scrapes are not logged (one every 15 s would drown the journal)."""


def _guarded(app: App, token: bytes | None) -> App:
    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") not in ("/metrics", "/metrics/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"only /metrics here\n"]
        if token is not None:
            given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, b"Bearer " + token):
                start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                    ("WWW-Authenticate", 'Bearer realm="kiosk metrics"')])
                return [b"bearer token required\n"]
        return app(environ, start_response)

    return guarded


def read_token(path: str) -> bytes | None:
    if not path:
        return None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"metrics.token_file: cannot read {path}: {exc.strerror}") from None
    if len(token) < 16 or not token.isascii() or any(c.isspace() for c in token):
        raise ConfigError("metrics.token_file: the token must be at least 16 printable ASCII characters, no spaces")
    return token.encode("ascii")


def tls_context(cfg: MetricsConfig) -> ssl.SSLContext | None:
    if not cfg.tls_cert and not cfg.tls_key:
        if cfg.client_ca:
            raise ConfigError("metrics.client_ca: client certificates need HTTPS: set metrics.tls_cert and tls_key")
        return None
    if not (cfg.tls_cert and cfg.tls_key):
        raise ConfigError("metrics.tls_cert and metrics.tls_key: set both, or neither")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        if cfg.client_ca:
            context.load_verify_locations(cfg.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"metrics.tls_cert / tls_key / client_ca: cannot load: {exc}") from None
    return context


class MetricsServer:
    def __init__(self, cfg: MetricsConfig, registry: CollectorRegistry) -> None:
        self._tls = tls_context(cfg)
        app = _guarded(make_wsgi_app(registry), read_token(cfg.token_file))
        try:
            self._httpd = make_server(cfg.bind, cfg.port, app, _Server, handler_class=_Quiet)
        except OSError as exc:
            raise ConfigError(f"metrics.port: cannot listen on {cfg.bind}:{cfg.port}: {exc.strerror}") from None
        if self._tls is not None:
            self._httpd.socket = self._tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host}:{port}/metrics"

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics on %s", self.url)
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
