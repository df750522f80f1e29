"""The composition root: builds every part from the config, once, and closes them in order.

It lives here, in the outermost layer, because wiring needs the concrete
drivers and ``kiosk/`` may not import them (docs/architecture.md). No other
module constructs drivers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.camera.replay import DeviceCamera, ReplayCamera
from drivers.card.inprocess_reader import InProcessCardReader
from drivers.card.pcsc_reader import PcscCardReader
from drivers.card.pcscd_service import missing_parts
from drivers.face.arcface_encoder import SHIPPED_COHORT
from drivers.face.process_engine import ProcessFaceEngine
from drivers.gateway.client import HttpGateway, HttpHospitalSystem, gateway_origin
from drivers.gateway.voucher_platform import HttpVoucherPlatform
from drivers.location.fixed_site import FixedSiteLocation
from drivers.location.gpsd_client import GpsdLocation
from drivers.location.nmea_serial import NmeaSerialLocation
from drivers.payment.card_terminal import SerialCardTerminal
from drivers.payment.platform_client import PlatformPaymentGateway, load_key
from drivers.printer.cups_printer import CupsDocumentPrinter
from drivers.printer.escpos_printer import EscPosPrinter
from drivers.printer.pdf_render import first_page_rgb
from drivers.printer.file_printer import FilePrinter
from drivers.qr.camera_source import CameraQrSource
from drivers.qr.evdev_scanner import EvdevWedgeScanner
from drivers.qr.serial_scanner import SerialQrScanner
from drivers.voice.espeak import EspeakVoice
from kiosk.audit import AUDIT_KIND, AUDIT_STREAM
from kiosk.clinician_effects import LoginEffects
from kiosk.config import FaceConfig, KioskConfig, LocationConfig, PaymentConfig
from kiosk.errors import ConfigError
from kiosk.face_check import FaceVerifier
from kiosk.face_score import OperatingPoint
from kiosk.liveness import PresentationRules
from kiosk.ports import Camera, CardReader, DepthCamera, InsuranceGateway, PaymentGateway, PositionReading
from kiosk.position import (
    SITE_UNPROVEN,
    Geofence,
    PositionRules,
    PositionVerdict,
    check_fix,
    check_fixed_site,
)
from kiosk.site_evidence import evidence_problem
from kiosk.state_changes import StateChanges
from offline_queue.site_evidence_file import FILE_NAME as SITE_EVIDENCE_FILE
from offline_queue.site_evidence_file import load_evidence
from kiosk.paid_plan import run_paid_plan
from kiosk.settlement import SettlementService
from kiosk.settlement_reconciliation import DailyReconciler, Reconciliation, journal, reconcile_day
from kiosk.visit_effects import EffectRunner
from offline_queue.crypto import cipher_for, load_or_create_key
from offline_queue.keys import DeviceKey, key_path, signature_checker
from offline_queue.msgids import SqliteMsgIdSource
from offline_queue.outbox import SqliteOutbox
from offline_queue.roster import FileRoster
from offline_queue.sender import OutboxSender
from offline_queue.store import Store, open_store
from scripts.credential_keys import refuse_sealed_without_service
from scripts.composition_metrics import build_telemetry, serve_metrics
from scripts.face_calibration import Cohort
from drivers.metrics.server import MetricsServer

log = logging.getLogger(__name__)


def demo_portrait() -> Any:
    """A public-domain portrait shipped by scikit-image (NASA's astronaut Eileen Collins), RGB."""
    from skimage import data

    return data.astronaut()


def _refuse_replayed_camera(cfg: KioskConfig) -> None:
    """Production takes only a device camera: a replay would fail every patient's liveness."""
    source = cfg.camera.source
    if cfg.mode != "production" or source.startswith("device:"):
        return
    if source == "demo":
        raise ConfigError("camera.source: 'demo' replays the demo portrait when no webcam answers, and every "
                          "patient would then fail liveness; a production kiosk names its camera: device:N")
    raise ConfigError(f"camera.source: replaying {source!r} is for demo mode only; a production kiosk "
                      f"names its camera: device:N")


def build_camera(cfg: KioskConfig) -> Camera:
    _refuse_replayed_camera(cfg)
    source = cfg.camera.source
    if source == "demo":
        if DeviceCamera.probe(0):
            return DeviceCamera(0, fps=cfg.camera.fps)
        return ReplayCamera([demo_portrait()], fps=cfg.camera.fps, description="replay camera (demo portrait)")
    if source.startswith("device:"):
        try:
            return DeviceCamera(int(source.split(":", 1)[1]), fps=cfg.camera.fps)
        except ValueError:
            raise ConfigError(f"camera.source: bad device number in {source!r}") from None
    return ReplayCamera.from_path(Path(source), fps=cfg.camera.fps)


def build_depth_camera(cfg: KioskConfig) -> DepthCamera | None:
    """The site's depth camera, if it has one (build_services has refused the simulated twin in production)."""
    if not cfg.camera.depth:
        return None
    from drivers.camera.simulated_depth import SimulatedDepthCamera

    return SimulatedDepthCamera("face")


def build_printer(cfg: KioskConfig, data: Path) -> Any:
    if cfg.printer.kind == "file":
        return FilePrinter(Path(cfg.printer.directory) if cfg.printer.directory else data / "receipts")
    if not cfg.printer.target:
        raise ConfigError(f"printer.target: required for printer.kind = {cfg.printer.kind}")
    try:
        return EscPosPrinter.from_config(cfg.printer.kind, cfg.printer.target)
    except ValueError as exc:
        raise ConfigError(f"printer.target: {exc}") from None


def build_a4_printer(cfg: KioskConfig) -> CupsDocumentPrinter | None:
    """The A4 printer for electronic invoices: a CUPS queue (printer.a4_queue), or none."""
    return CupsDocumentPrinter(cfg.printer.a4_queue, cfg.printer.cups_server) if cfg.printer.a4_queue else None


def build_qr_sources(cfg: KioskConfig, camera: Camera) -> list[Any]:
    """Voucher scanners besides the window's own key events: serial, a wedge scanner's input device, and
    the camera."""
    sources: list[Any] = []
    if cfg.qr.scanner:
        sources.append(SerialQrScanner(cfg.qr.scanner, cfg.qr.baud))
    if cfg.qr.wedge_device:
        sources.append(EvdevWedgeScanner(cfg.qr.wedge_device, suffix=cfg.qr.wedge_suffix,
                                         max_gap_s=cfg.qr.wedge_gap_ms / 1000))
    if cfg.qr.camera:
        sources.append(CameraQrSource(camera))
    return sources


def build_card_reader(cfg: KioskConfig) -> CardReader:
    """PC/SC unless the config asks for the in-process twin; demo mode falls back to the twin, and says so,
    when pcscd or the virtual reader driver is not installed."""
    if cfg.card.reader == "virtual":
        return InProcessCardReader()
    if cfg.is_demo and cfg.card.reader == "auto" and missing_parts():
        log.warning("demo: %s not installed: using the in-process virtual card", missing_parts())
        return InProcessCardReader()
    return PcscCardReader(cfg.card.reader_name)


@dataclass
class Services:
    """Every non-UI part of a running kiosk."""

    cfg: KioskConfig
    store: Store
    outbox: SqliteOutbox
    msgids: SqliteMsgIdSource
    gateway: HttpGateway
    his: HttpHospitalSystem
    card_reader: CardReader
    camera: Camera
    face_engine: ProcessFaceEngine
    printer: FilePrinter
    settlement: SettlementService
    face: FaceVerifier
    effects: EffectRunner
    sender: OutboxSender
    payments: PaymentGateway | None = None
    a4_printer: CupsDocumentPrinter | None = None  # electronic invoices on A4 through CUPS
    qr_sources: list[Any] = field(default_factory=list)  # hardware scanners (started with the services)
    voice: EspeakVoice = field(default_factory=EspeakVoice)
    closed: bool = field(default=False)
    metrics: MetricsServer | None = None  # the Prometheus endpoint, when metrics.port is set
    location: Any = None  # clinician workstations: the location source (its fix is a device for the metrics)
    state_changes: StateChanges = field(default_factory=StateChanges)

    def status(self) -> tuple[bool, int, bool, bool]:
        """(gateway reachable, items waiting, card reader usable, queue file was recovered) for the status
        bar; runs on a worker lane. Changes go to the log (the journal): devices and network coming and
        going, the queue filling and emptying."""
        online, waiting, reader = self.sender.online, self.outbox.pending_count(), self.card_reader.healthy
        self.state_changes.note({"gateway": online, "card reader": reader, "queue": "empty" if not waiting else
                                 "items waiting", "camera": "frames" if self.camera.latest_frame() is not None else "no frame"})
        return online, waiting, reader, self.store.recovered_from is not None

    def start(self) -> None:
        """Start the background parts; call after the UI has set its listeners."""
        self.card_reader.start()
        self.sender.start()
        for source in self.qr_sources:
            source.start()
        for source in self.qr_sources:  # the camera's decoder warms up before the idle screen shows
            ready = getattr(source, "ready", None)
            if ready is not None and not ready.wait(QR_WARM_UP_S):
                log.warning("the camera's QR decoder is still warming up after %s s", QR_WARM_UP_S)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.metrics is not None:
            self.metrics.stop()
        self.sender.stop()
        self.voice.stop()
        for source in self.qr_sources:
            source.close()
        self.camera.stop()
        self.card_reader.close()
        self.gateway.close()
        self.his.close()
        if self.payments is not None:
            self.payments.close_session()  # type: ignore[attr-defined]
        self.store.close()
        self.face_engine.close()
        self.face.close()


QR_WARM_UP_S = 5.0  # longest the start waits for the camera's QR decoder to warm up



def presentation_rules() -> PresentationRules:
    """The passive screen/print rule with the share threshold fitted beside the shipped model."""
    from drivers.face.presentation import PresentationModel

    return PresentationRules(share_threshold=PresentationModel.load().share_threshold)


def load_cohort(face: FaceConfig) -> Cohort:
    """The cohort the face scores are normalised against (config ``face.cohort_file``, else the shipped one,
    which belongs to the arcface encoder)."""
    if face.encoder != "arcface" and not face.cohort_file:
        raise ConfigError(f"face.encoder = {face.encoder!r} has no shipped calibration: run kiosk-provision "
                          f"calibrate-face --encoder {face.encoder} --config <this file> (it writes face.cohort_file "
                          "and the thresholds)")
    path = Path(face.cohort_file) if face.cohort_file else SHIPPED_COHORT
    try:
        cohort = Cohort.load(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"face.cohort_file: cannot read {path} ({exc}); run kiosk-provision calibrate-face "
                          "or leave it empty for the shipped cohort") from None
    if cohort.encoder != face.encoder:
        raise ConfigError(f"face.cohort_file {path} was made with the {cohort.encoder} encoder, but face.encoder is "
                          f"{face.encoder!r}: calibrate again with --encoder {face.encoder}")
    return cohort


def operating_point(face: FaceConfig) -> OperatingPoint:
    try:
        return OperatingPoint(face.score_threshold, face.grey_floor, small_threshold=face.small_face_threshold,
                              small_grey_floor=face.small_face_grey_floor)
    except ValueError:
        raise ConfigError(f"face.grey_floor ({face.grey_floor}) must not exceed face.score_threshold "
                          f"({face.score_threshold}), nor face.small_face_grey_floor ({face.small_face_grey_floor}) "
                          f"face.small_face_threshold ({face.small_face_threshold})") from None


def refuse_demo_parts(cfg: KioskConfig) -> None:
    """Production refuses every demo part, each with the setting to change (raises ConfigError)."""
    if cfg.mode != "production":
        return
    if cfg.card.reader == "virtual":
        raise ConfigError("card.reader: the virtual card is for demo mode only")
    if cfg.camera.depth == "simulated":
        raise ConfigError("camera.depth: the simulated depth camera is for demo mode only")
    _refuse_replayed_camera(cfg)


def build_payments(cfg: KioskConfig) -> PlatformPaymentGateway | SerialCardTerminal | None:
    """The payment platform or the bank-card terminal for the own share (None: payment.provider = none).
    In demo mode an empty payment.url means the sandbox gateway's origin."""
    pay: PaymentConfig = cfg.payment
    if pay.provider == "none":
        return None
    if pay.provider == "card_terminal":
        if not pay.card_device:
            raise ConfigError("payment.card_device: required for payment.provider = card_terminal")
        return SerialCardTerminal(pay.card_device, pay.card_baud)  # the config admits supported bauds only
    base = pay.url or (gateway_origin(cfg.gateway) if cfg.is_demo else "")
    if not base or not pay.key_file:
        raise ConfigError("payment.url and payment.key_file: required for payment.provider = platform")
    return PlatformPaymentGateway(pay, cfg.gateway, load_key(pay.key_file), base)


def outbox_path(cfg: KioskConfig) -> Path:
    """The outbox's database file (queue.path, else in the data folder)."""
    return Path(cfg.queue.path) if cfg.queue.path else cfg.data_path() / "outbox.sqlite"


def outbox_key_file(cfg: KioskConfig) -> Path:
    """The key file of the outbox's payloads, in the key folder."""
    return key_path(cfg.key_path(), cfg.data_path(), "outbox.key")


def device_key(cfg: KioskConfig) -> DeviceKey:
    """This terminal's device key, in the key folder (created on first use)."""
    return DeviceKey.load_or_create(key_path(cfg.key_path(), cfg.data_path(), "device.key"))


def outbox_key(cfg: KioskConfig) -> bytes:
    """The key of the outbox's payloads, from the key folder (created on first use)."""
    return load_or_create_key(outbox_key_file(cfg))


def build_services(cfg: KioskConfig, *, camera: Camera | None = None) -> Services:
    refuse_demo_parts(cfg)
    refuse_sealed_without_service(cfg)
    data = cfg.data_path()
    data.mkdir(parents=True, exist_ok=True)
    store = open_store(outbox_path(cfg))
    msgids = SqliteMsgIdSource(store, cfg.terminal.fixmedins_code, lane=cfg.terminal.msgid_lane)
    telemetry = build_telemetry(cfg)
    gateway = HttpGateway(cfg.gateway, cfg.terminal, msgids, telemetry=telemetry)
    his = HttpHospitalSystem(cfg.gateway, cfg.terminal.terminal_no)
    cipher = cipher_for(outbox_key_file(cfg))
    device = device_key(cfg)
    payments = build_payments(cfg)

    def deliver(payload: dict[str, Any], save: Any) -> Any:
        if payload.get("type") == AUDIT_KIND:
            return his.record_audit(payload)
        return run_paid_plan(payload, gateway, payments, save, msgids=msgids, now=time.time,  # type: ignore[arg-type]
                             idempotent_replay=cfg.gateway.idempotent_replay)

    outbox = SqliteOutbox(store, cipher, deliver,
                          retry_base_s=cfg.queue.retry_base_s, retry_max_s=cfg.queue.retry_max_s,
                          max_open_items=cfg.queue.max_open_items, audit_signer=device.sign)
    camera = camera or build_camera(cfg)
    engine = ProcessFaceEngine(encoder=cfg.face.encoder)  # dlib holds the GIL: in its own process the GUI never stalls
    printer = build_printer(cfg, data)
    settlement = SettlementService(gateway, outbox, msgids, cfg.terminal, dt.datetime.now, payments=payments,
                                   payment_timeout_s=cfg.payment.timeout_s)
    point = operating_point(cfg.face)
    face = FaceVerifier(camera, engine, his, cfg.face, point=point, scorer=load_cohort(cfg.face).scorer(cfg.face.cohort_k),
                        demo=cfg.is_demo, clock=time.monotonic, sleep=time.sleep, presentation=presentation_rules(),
                        depth=build_depth_camera(cfg))
    reader = build_card_reader(cfg)
    a4_printer = build_a4_printer(cfg)
    effects = EffectRunner(card_reader=reader, settlement=settlement, face=face, his=his, printer=printer,
                           institution=cfg.terminal.fixmedins_name, terminal_no=cfg.terminal.terminal_no,
                           clock=dt.datetime.now, operating_point=point, payment_poll_s=cfg.payment.poll_interval_s, vouchers=HttpVoucherPlatform(cfg.gateway, cfg.terminal, cfg.voucher.platform_url),
                           audit=lambda event: outbox.enqueue_chained(visit_id=AUDIT_STREAM, kind=AUDIT_KIND, event=event),
                           telemetry=telemetry, a4_printer=a4_printer, render_pdf=first_page_rgb)
    # the day's reconciliation after closing time: production only (a demo's sandbox day is a few minutes;
    # `kiosk-provision reconcile` runs it there on demand)
    daily = None if cfg.is_demo else DailyReconciler(settlement_reconciliation(cfg, outbox, gateway, msgids),
                                                     dt.time.fromisoformat(cfg.queue.reconcile_after)).tick
    sender = OutboxSender(outbox, gateway.probe, keep_days=cfg.queue.keep_days, daily=daily)
    if store.recovered_from is not None:
        log.critical("STAFF: the outbox was corrupt and was moved to %s; it may hold unsent settlements",
                     store.recovered_from)
    services = Services(cfg=cfg, store=store, outbox=outbox, msgids=msgids, gateway=gateway, his=his,
                        card_reader=reader, camera=camera, face_engine=engine, printer=printer, settlement=settlement,
                        face=face, effects=effects, sender=sender, payments=payments, a4_printer=a4_printer,
                        qr_sources=build_qr_sources(cfg, camera))
    if telemetry is not None:
        for source in services.qr_sources:
            if isinstance(source, CameraQrSource):
                source.telemetry = telemetry
        try:
            services.metrics = serve_metrics(cfg, telemetry, services)
        except BaseException:
            services.close()
            raise
    return services


def settlement_reconciliation(cfg: KioskConfig, outbox: SqliteOutbox, gateway: InsuranceGateway,
                              msgids: SqliteMsgIdSource) -> Callable[[str], Reconciliation]:
    """The day's reconciliation: the outbox's settlements of the day against the gateway's books; the result
    goes into the audit stream, a difference to staff."""
    def run(day: str) -> Reconciliation:
        start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time()).timestamp()
        result = reconcile_day(gateway, msgids, journal(outbox.plans_between(start, start + 86400)), day,
                               cfg.terminal.fixmedins_code)
        if result.settlements or result.groups:  # a day without settlements leaves no trace to keep
            outbox.enqueue_chained(visit_id=AUDIT_STREAM, kind=AUDIT_KIND, event=result.audit_event())
        if not result.balanced:
            log.critical("STAFF: the settlements of %s do not reconcile with the gateway: %s", day,
                         "; ".join(d.line() for d in result.differences) or "totals differ")
        return result
    return run


def _technician_outbox(cfg: KioskConfig) -> tuple[Store, SqliteMsgIdSource, SqliteOutbox]:
    """The outbox as the technician's commands open it: the kiosk's msgid lane, audit events signed by the
    device key as the kiosk's own, and a handler that never delivers (the running kiosk does that)."""
    store = open_store(outbox_path(cfg))
    msgids = SqliteMsgIdSource(store, cfg.terminal.fixmedins_code, lane=cfg.terminal.msgid_lane)

    def refuse(_plan: object, _save: object) -> object:
        raise RuntimeError("the technician's commands never deliver")

    return store, msgids, SqliteOutbox(store, cipher_for(outbox_key_file(cfg)), refuse, audit_signer=device_key(cfg).sign)


def technician_reconciliation(cfg: KioskConfig) -> tuple[Callable[[str], Reconciliation], Callable[[], None]]:
    """``kiosk-provision reconcile``: the same reconciliation from the technician's shell; returns (run, close)."""
    store, msgids, outbox = _technician_outbox(cfg)
    gateway = HttpGateway(cfg.gateway, cfg.terminal, msgids)
    return settlement_reconciliation(cfg, outbox, gateway, msgids), store.close


def technician_staff_finding(cfg: KioskConfig, reference: str, setl_id: str | None) -> str:
    """``kiosk-provision queue resolve``: record staff's finding for an item waiting on them (settled as
    ``setl_id``, checked with 5203; or, with None, not settled) and make it due; returns the log line."""
    from kiosk.staff_resolution import not_settled, settled_as

    store, msgids, outbox = _technician_outbox(cfg)
    try:
        finding = (not_settled(msgids) if setl_id is None
                   else settled_as(setl_id, HttpGateway(cfg.gateway, cfg.terminal, msgids), msgids))
        return outbox.staff_finding(reference, finding)
    finally:
        store.close()


def open_roster(cfg: KioskConfig) -> FileRoster:
    """The staff roster, its key in the key folder (moved there from beside the roster by an older build)."""
    path = Path(cfg.staff.roster) if cfg.staff.roster else cfg.data_path() / "staff.roster"
    return FileRoster(path, key_path=key_path(cfg.key_path(), path.parent, path.stem + ".key"))


@dataclass
class ClinicianServices:
    """The clinician workstation's parts, built on the kiosk's (camera, face verifier, outbox for audit)."""

    base: Services
    roster: FileRoster
    location: Any
    effects: LoginEffects
    stoppers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for stop in self.stoppers:
            stop()
        self.base.close()


def fixed_site_problem(cfg: KioskConfig) -> str:
    """Why the configured fixed site is not proven by this workstation's registration ('' when it is, or
    when the position does not rest on a fixed site alone: a receiver, or a live check beside it)."""
    loc = cfg.location
    if loc.source != "fixed" or loc.site_live_check:
        return ""
    device = device_key(cfg)
    evidence, why = load_evidence(cfg.key_path() / SITE_EVIDENCE_FILE, signature_checker(device.public_b64()))
    return why or evidence_problem(evidence, terminal_no=cfg.terminal.terminal_no, latitude=loc.site_latitude,
                                   longitude=loc.site_longitude, geofence=loc.geofence)


def build_location(cfg: LocationConfig, site_problem: Callable[[], str] = lambda: "") -> tuple[
        Any, Callable[[PositionReading | None, PositionReading | None], PositionVerdict], list[Any]]:
    """The location source, the rule that judges its readings, and what to stop at the end.

    ``site_problem``: asked on every login of a fixed-site workstation (production: the registration
    that vouches for the site); a problem refuses the position."""
    try:
        fence = Geofence.parse(cfg.geofence)
    except ValueError as exc:
        raise ConfigError(f"location.geofence: {exc}") from None
    rules = PositionRules(max_age_s=cfg.max_age_s, max_accuracy_m=cfg.max_accuracy_m, require_3d=cfg.require_3d,
                          margin_m=cfg.margin_m, max_speed_mps=cfg.max_speed_mps)

    def receiver_judge(name: str) -> Callable[[PositionReading | None, PositionReading | None], PositionVerdict]:
        def judge(reading: PositionReading | None, last: PositionReading | None) -> PositionVerdict:
            basis = "" if reading is None else f"{name} fix, ±{reading.accuracy_m:.0f} m, {reading.age_s:.0f} s old"
            return dataclasses.replace(check_fix(reading, fence, rules, last), basis=basis)
        return judge

    if cfg.source == "gpsd":
        source = GpsdLocation(cfg.gpsd_host, cfg.gpsd_port).start()
        return source, receiver_judge("gpsd"), [source.stop]
    if cfg.source == "nmea":
        source = NmeaSerialLocation(cfg.nmea_device, cfg.nmea_baud).start()
        return source, receiver_judge("nmea"), [source.stop]
    site = FixedSiteLocation(cfg.site_latitude, cfg.site_longitude)
    live, stoppers = None, []
    if cfg.site_live_check:
        host, _, port = cfg.site_live_check.rpartition(":")
        live = GpsdLocation(host or "127.0.0.1", int(port)).start()
        stoppers.append(live.stop)

    def judge(reading: PositionReading | None, last: PositionReading | None) -> PositionVerdict:
        problem = site_problem()
        if problem:
            log.error("fixed site refused: %s", problem)
            return PositionVerdict(False, SITE_UNPROVEN, basis="fixed site, unproven")
        inside = check_fix(reading, fence, rules)  # the provisioned site must lie inside the fence
        basis = "fixed site with a live gpsd check" if live else "fixed site, registered"
        if not inside.accepted or reading is None:
            return dataclasses.replace(inside, basis=basis)
        contradiction = check_fixed_site(reading, live.current() if live else None, rules)
        return dataclasses.replace(contradiction if not contradiction.accepted else inside, basis=basis)

    return site, judge, stoppers


def build_clinician_services(cfg: KioskConfig, *, camera: Camera | None = None) -> ClinicianServices:
    base = build_services(cfg, camera=camera)
    try:
        roster = open_roster(cfg)
        site_problem: Callable[[], str] = (lambda: "") if cfg.is_demo else (lambda: fixed_site_problem(cfg))
        problem = site_problem()
        if problem:
            raise ConfigError(
                f"location.source: a fixed site alone is not accepted in production ({problem}); register this "
                f"workstation at its site (kiosk-provision register, approved by the insurance office), or set "
                f"location.site_live_check to a gpsd host:port, or use location.source = gpsd or nmea")
        location, judge, stoppers = build_location(cfg.location, site_problem)
    except BaseException:
        base.close()
        raise
    base.location = location  # the metrics' kiosk_device_up{device="gnss"} reads its fix at scrape time
    effects = LoginEffects(roster=roster, face=base.face, point=operating_point(cfg.face), location=location,
                           judge=judge, audit=lambda event: base.outbox.enqueue_chained(
                               visit_id=AUDIT_STREAM, kind=AUDIT_KIND, event=event))
    return ClinicianServices(base, roster, location, effects, stoppers)
