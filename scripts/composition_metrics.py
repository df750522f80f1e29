"""Part of the composition root: the metrics (issue 21), built when ``metrics.port`` is set.

``build_telemetry`` comes first, so the gateway client, the effect runner and the camera's QR source are
built with it; ``serve_metrics`` reads the built services at scrape time and starts the endpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig, as_dict

from drivers.metrics.prometheus_telemetry import PrometheusTelemetry, Snapshot
from drivers.metrics.server import MetricsServer


def config_sha256(cfg: KioskConfig) -> str:
    return hashlib.sha256(json.dumps(as_dict(cfg), sort_keys=True, default=str).encode("utf-8")).hexdigest()


def build_telemetry(cfg: KioskConfig) -> PrometheusTelemetry | None:
    if not cfg.metrics.port:
        return None
    try:
        version = metadata.version("hospital-kiosk")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return PrometheusTelemetry(version=version, config_sha256=config_sha256(cfg), role=cfg.terminal.role)


def certificate_expiries(cfg: KioskConfig) -> dict[str, float]:
    """notAfter of the earliest-expiring certificate in each PEM file a setting names (read once: files
    change with a restart). A file that cannot be read is left out (selftest and the TLS code name it)."""
    from cryptography import x509

    found: dict[str, float] = {}
    for setting, path in (("gateway.ca_bundle", cfg.gateway.ca_bundle), ("metrics.tls_cert", cfg.metrics.tls_cert)):
        if not path:
            continue
        try:
            certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
        except (OSError, ValueError):
            continue
        found[setting] = min(c.not_valid_after_utc.timestamp() for c in certs)
    return found


def gnss_up(reading: Any, max_age_s: float) -> bool:
    """A fix the position rules could use: 2D or 3D, younger than ``location.max_age_s``."""
    return reading is not None and reading.mode >= 2 and reading.age_s <= max_age_s


def snapshot(services: Any, clock: Any = time.time, certificates: dict[str, float] | None = None) -> Snapshot:
    """The present state, from cheap thread-safe reads (the scrape runs on the metrics thread)."""
    now = clock()
    devices = {"card_reader": bool(services.card_reader.healthy),
               "camera": services.camera.latest_frame() is not None,
               "speech": services.voice.available()}
    for source in services.qr_sources:
        if hasattr(source, "connected"):  # hardware scanners (serial, input device)
            devices["scanner"] = devices.get("scanner", True) and bool(source.connected)
    if services.location is not None:  # a workstation: a usable fix (2D or better, not stale) is an up GNSS
        devices["gnss"] = gnss_up(services.location.current(), services.cfg.location.max_age_s)
    return Snapshot(outbox_items=services.outbox.counts(),
                    outbox_oldest_age_s={state: max(0.0, now - created)
                                         for state, created in services.outbox.oldest_open().items()},
                    devices=devices, gateway_up=services.sender.online, certificates=certificates or {})


def serve_metrics(cfg: KioskConfig, telemetry: PrometheusTelemetry, services: Any) -> MetricsServer:
    """Read the services at scrape time, check the printer once (its gauges then follow each visit's
    check), and listen. Raises ConfigError for a bad [metrics] setting."""
    certificates = certificate_expiries(cfg)
    telemetry.add_readings(lambda: snapshot(services, certificates=certificates))
    status = services.printer.preflight()
    telemetry.printer_checked(status.online, status.paper)
    return MetricsServer(cfg.metrics, telemetry.registry).start()
