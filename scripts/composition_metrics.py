"""Part of the composition root: the metrics (issue 21), built when ``metrics.port`` is set.

``build_telemetry`` comes first, so the gateway client, the effect runner and the camera's QR source are
built with it; ``serve_metrics`` reads the built services at scrape time and starts the endpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from importlib import metadata
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


def snapshot(services: Any, clock: Any = time.time) -> Snapshot:
    """The present state, from cheap thread-safe reads (the scrape runs on the metrics thread)."""
    now = clock()
    devices = {"card_reader": bool(services.card_reader.healthy),
               "camera": services.camera.latest_frame() is not None,
               "speech": services.voice.available()}
    for source in services.qr_sources:
        if hasattr(source, "connected"):  # hardware scanners (serial, input device)
            devices["scanner"] = devices.get("scanner", True) and bool(source.connected)
    return Snapshot(outbox_items=services.outbox.counts(),
                    outbox_oldest_age_s={state: max(0.0, now - created)
                                         for state, created in services.outbox.oldest_open().items()},
                    devices=devices, gateway_up=services.sender.online)


def serve_metrics(cfg: KioskConfig, telemetry: PrometheusTelemetry, services: Any) -> MetricsServer:
    """Read the services at scrape time, check the printer once (its gauges then follow each visit's
    check), and listen. Raises ConfigError for a bad [metrics] setting."""
    telemetry.add_readings(lambda: snapshot(services))
    status = services.printer.preflight()
    telemetry.printer_checked(status.online, status.paper)
    return MetricsServer(cfg.metrics, telemetry.registry).start()
