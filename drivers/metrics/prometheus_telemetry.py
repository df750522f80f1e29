"""The Telemetry port on prometheus_client, in a registry of its own.

Counters and histograms are updated by the parts as things happen (visits, face checks, gateway requests,
camera QR frames, printer checks); the gauges that describe the present (outbox, devices, gateway) are read
at scrape time by :class:`Readings`, from a function the composition root supplies. No label carries
personal data: labels are fixed words, transaction codes, state and device names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0)
FACE_BUCKETS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0)


@dataclass(frozen=True)
class Snapshot:
    """What the kiosk looks like now, read at scrape time (cheap, thread-safe reads only)."""

    outbox_items: Mapping[str, int] = field(default_factory=dict)  # state -> count
    outbox_oldest_age_s: Mapping[str, float] = field(default_factory=dict)  # open state -> age of its oldest
    devices: Mapping[str, bool] = field(default_factory=dict)  # device -> usable
    gateway_up: bool | None = None
    certificates: Mapping[str, float] = field(default_factory=dict)  # setting -> notAfter (Unix seconds)


class Readings(Collector):
    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        snap = self._read()
        items = GaugeMetricFamily("kiosk_outbox_items", "Outbox items by state", labels=["state"])
        for state in sorted(set(snap.outbox_items) | {"pending", "in_flight", "ambiguous", "needs_staff", "dead"}):
            items.add_metric([state], snap.outbox_items.get(state, 0))
        yield items
        age = GaugeMetricFamily("kiosk_outbox_oldest_age_seconds",
                                "Age of the oldest open outbox item by state (0: none)", labels=["state"])
        for state in ("pending", "ambiguous", "needs_staff"):
            age.add_metric([state], snap.outbox_oldest_age_s.get(state, 0.0))
        yield age
        devices = GaugeMetricFamily("kiosk_device_up", "1 when the device is usable", labels=["device"])
        for name, up in sorted(snap.devices.items()):
            devices.add_metric([name], 1.0 if up else 0.0)
        yield devices
        if snap.certificates:
            expiry = GaugeMetricFamily("kiosk_certificate_expiry_timestamp_seconds",
                                       "When the first certificate in the file a setting names expires",
                                       labels=["certificate"])
            for setting, not_after in sorted(snap.certificates.items()):
                expiry.add_metric([setting], not_after)
            yield expiry
        if snap.gateway_up is not None:
            yield GaugeMetricFamily("kiosk_gateway_up", "1 when the settlement gateway answers", value=float(snap.gateway_up))


class PrometheusTelemetry:
    """Implements kiosk.ports.Telemetry. ``registry`` is served by drivers/metrics/server.py."""

    def __init__(self, *, version: str, config_sha256: str, role: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.visits = Counter("kiosk_visits", "Visits by how they ended and what they were for",
                              ["outcome", "errand"], registry=r)
        self.settlement_seconds = Histogram("kiosk_settlement_seconds", "Gateway request latency by transaction code",
                                            ["infno"], buckets=LATENCY_BUCKETS, registry=r)
        self.gateway_requests = Counter("kiosk_gateway_requests", "Gateway requests by transaction code and outcome",
                                        ["infno", "outcome"], registry=r)
        self.reversals = Counter("kiosk_reversals", "Settlements reversed (2601 answered)", registry=r)
        self.clock_skew = Gauge("kiosk_clock_skew_seconds", "The gateway's clock minus the kiosk's, at the last answer",
                                registry=r)
        self.face_checks = Counter("kiosk_face_checks", "Face checks by verdict band and liveness outcome",
                                   ["verdict", "liveness"], registry=r)
        self.face_seconds = Histogram("kiosk_face_verification_seconds", "Face verification latency (capture to verdict)",
                                      buckets=FACE_BUCKETS, registry=r)
        self.qr_frames = Counter("kiosk_qr_frames", "Camera frames decoded for voucher codes, by the stage that read one "
                                 "(none: no code read)", ["stage"], registry=r)
        self.printer_paper = Gauge("kiosk_printer_paper", "1 when the receipt printer has paper (last check)", registry=r)
        self.printer_online = Gauge("kiosk_printer_online", "1 when the receipt printer answered (last check)", registry=r)
        Info("kiosk_build", "Version, configuration hash and role", registry=r).info(
            {"version": version, "config_sha256": config_sha256[:16], "role": role})
        Gauge("kiosk_start_time_seconds", "When this kiosk process started (restarts: changes() of it)",
              registry=r).set(clock())

    def add_readings(self, read: Callable[[], Snapshot]) -> None:
        self.registry.register(Readings(read))

    # -- kiosk.ports.Telemetry ------------------------------------------------------------------------

    def visit_ended(self, outcome: str, errand: str) -> None:
        self.visits.labels(outcome, errand).inc()

    def face_checked(self, verdict: str, liveness: str, seconds: float) -> None:
        self.face_checks.labels(verdict, liveness).inc()
        self.face_seconds.observe(seconds)

    def gateway_answered(self, infno: str, seconds: float, outcome: str, skew_s: float | None) -> None:
        self.settlement_seconds.labels(infno).observe(seconds)
        self.gateway_requests.labels(infno, outcome).inc()
        if infno == "2601" and outcome == "ok":
            self.reversals.inc()
        if skew_s is not None:
            self.clock_skew.set(skew_s)

    def qr_frame(self, stage: str) -> None:
        self.qr_frames.labels(stage or "none").inc()

    def printer_checked(self, online: bool, paper: bool) -> None:
        self.printer_online.set(1.0 if online else 0.0)
        self.printer_paper.set(1.0 if paper else 0.0)
