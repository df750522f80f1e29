"""The technician's self-test: each part of the terminal checked, with the fix for each failure.

Every check returns a ``Check`` (name, ok, detail, fix). ``run_checks`` never raises: a check that
crashes is reported as failed with its exception. ``--demo`` (see provision.py) starts the demo
set-up (sandbox gateway, pcscd with the virtual card, replay camera, file printer) and stops it after.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import os
import shutil
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.errors import KioskError

MIN_FREE_BYTES = 1 << 30
MAX_SKEW_S = 60.0


@dataclass(frozen=True)
class Check:
    """One check's finding. ``warn``: the kiosk runs, but without something patients are promised (it says
    WARN, never PASS, and gives the fix)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    warn: bool = False

    @property
    def mark(self) -> str:
        return "FAIL" if not self.ok else "WARN" if self.warn else "PASS"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_pcscd(insert_test_card: Callable[[], Any] | None = None) -> Check:
    from drivers.card.pcsc_reader import PcscCardReader, ReaderState
    from drivers.card.pcscd_service import missing_parts, pcscd_responds

    missing = missing_parts()
    if missing:
        return Check("card_reader", False, f"not installed: {missing}", "run scripts/setup.sh (apt: pcscd)")
    if not pcscd_responds():
        return Check("card_reader", False, "pcscd is not running", "start pcscd: systemctl start pcscd")
    reader = PcscCardReader()
    reader.start()
    try:
        if not reader.wait_for_state(ReaderState.EMPTY, ReaderState.CARD_PRESENT, timeout_s=5):
            return Check("card_reader", False, f"no usable reader ({reader.state.value})",
                         "plug the reader in, or check it with pcsc_scan")
        if insert_test_card is None:
            return Check("card_reader", True, f"{reader.reader_name} ready")
        session = insert_test_card()
        try:
            if not reader.wait_for_state(ReaderState.CARD_PRESENT, timeout_s=5):
                return Check("card_reader", False, "test card not seen", "check the virtual reader's port")
            identity = reader.read_identity()
        finally:
            session.remove()
        return Check("card_reader", True, f"{reader.reader_name}: test card read ({identity.card_no[:3]}***)")
    finally:
        reader.close()


def check_camera(cfg: KioskConfig) -> Check:
    from scripts.composition import build_camera

    try:
        camera = build_camera(cfg)
    except KioskError as exc:
        return Check("camera", False, str(exc), 'set camera.source = "device:0" (ls /dev/video*)')
    camera.start()
    try:
        deadline = time.monotonic() + 5
        while camera.latest_frame() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        frame = camera.latest_frame()
    finally:
        camera.stop()
    if frame is None:
        return Check("camera", False, f"{camera.description}: no frame in 5 s", "check the cable; ls /dev/video*")
    return Check("camera", True, f"{camera.description}: {frame.shape[1]}x{frame.shape[0]} frames")


def check_face_models(cfg: KioskConfig) -> Check:
    """The cohort, the operating point and the presentation model load; says what the point was fitted on."""
    from drivers.face.presentation import PresentationModel
    from scripts.composition import load_cohort, operating_point

    try:
        cohort = load_cohort(cfg.face)
        point = operating_point(cfg.face)
        model = PresentationModel.load()
        if cfg.face.encoder == "arcface":
            from drivers.face.arcface_encoder import ArcFaceEncoder

            ArcFaceEncoder().warm_up()  # the weights are there and are the pinned ones
    except (OSError, ValueError, KeyError) as exc:
        return Check("face_models", False, f"cannot load: {exc}",
                     "check face.cohort_file, or recalibrate: kiosk-provision calibrate-face (docs/technician.md)")
    except KioskError as exc:
        return Check("face_models", False, str(exc), "fix the [face] section, or recalibrate with calibrate-face")
    depth = f"; depth camera: {cfg.camera.depth}" if cfg.camera.depth else "; no depth camera"
    return Check("face_models", True,
                 f"{cfg.face.encoder} encoder, cohort of {len(cohort.labels)} templates of {len(cohort.identities)} people, threshold "
                 f"{point.threshold} (grey from {point.grey_floor}), presentation model of "
                 f"{len(model.fitted_sources)} sources{depth}")


def check_qr_at_distance() -> Check:
    """A voucher-sized code shown small in a 640x480 frame, as at arm's length, must decode."""
    import cv2
    import numpy as np
    import qrcode

    from drivers.qr.frame_decoder import FrameDecoder

    payload = "SELFTEST-" + "A1B2C3D4E5F6" * 3
    code = np.asarray(qrcode.make(payload, border=2).convert("L"), dtype=np.uint8)
    small = cv2.resize(code, (120, 120), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640), 200, np.uint8)
    frame[180:300, 260:380] = small
    found = FrameDecoder().decode(frame)
    if payload not in found:
        return Check("qr_decode", False, "a 120 px code in a 640x480 frame did not decode",
                     "check OpenCV and zxing-cpp are installed (scripts/setup.sh)")
    return Check("qr_decode", True, "a 120 px code in a 640x480 frame decodes")


def check_printer(cfg: KioskConfig) -> Check:
    """The receipt printer as configured (printer.kind): ready with paper. A file printer outside the demo
    writes receipts to a folder: patients get no slip, so it is a WARN with the setting to change."""
    from scripts.composition import build_printer

    try:
        printer = build_printer(cfg, cfg.data_path())
    except Exception as exc:  # noqa: BLE001 - a device that cannot even be opened is a failed check, with its fix
        return Check("printer", False, f"the {cfg.printer.kind} printer {cfg.printer.target} cannot be opened: {exc}",
                     "check printer.kind and printer.target (kiosk-provision show-config), the cable and power")
    status = printer.preflight()
    if not (status.online and status.paper):
        return Check("printer", False, f"{printer.description}: {status.detail or 'not ready'}",
                     "load paper / check the printer's cable and power")
    if cfg.printer.kind == "file" and not cfg.is_demo:
        return Check("printer", True, f"no receipt printer: receipts are written to a folder, not printed "
                     f"({printer.description}); patients are told to ask at the counter for a copy",
                     "connect the thermal printer and set printer.kind and printer.target "
                     "(kiosk-provision init --printer escpos-usb:VID:PID, escpos-serial:/dev/ttyS0 or "
                     "escpos-network:HOST:PORT)", warn=True)
    return Check("printer", True, f"{printer.description} ready")


def check_a4_printer(cfg: KioskConfig) -> Check:
    """The CUPS queue for electronic invoices: there, accepting, not paused, paper in (when it says)."""
    from drivers.printer.cups_printer import CupsDocumentPrinter

    queue = cfg.printer.a4_queue
    if not queue:
        return Check("a4_printer", True, "no A4 printer configured: invoices are offered to the phone by QR code")
    printer = CupsDocumentPrinter(queue, cfg.printer.cups_server)
    try:
        state = printer.state()
    except KioskError as exc:
        return Check("a4_printer", False, exc.message, "start CUPS: systemctl start cups (apt install cups)")
    fixes = {"no such queue": f"add it: lpadmin -p {queue} -E -v <device URI from lpinfo -v> -m everywhere, "
                              "or set printer.a4_queue to a queue lpstat -p lists",
             "the queue rejects jobs": f"cupsaccept {queue}", "the queue is paused": f"cupsenable {queue}",
             "paper out": "load A4 paper (and clear a jam)", "the printer reports": "check the printer's panel"}
    problem = state.problem
    if problem:
        fix = next((f for start, f in fixes.items() if problem.startswith(start)), "check the printer")
        return Check("a4_printer", False, f"{printer.description}: {problem}", fix)
    return Check("a4_printer", True, f"{printer.description}: accepting, enabled"
                 + ("" if not state.reasons else f" ({', '.join(state.reasons)})"))


def check_cpu() -> Check:
    flags = ""
    with contextlib.suppress(OSError):  # no /proc: every feature is then reported missing
        flags = Path("/proc/cpuinfo").read_text()
    missing = [f for f in ("sse4_2", "avx") if f" {f}" not in flags]
    if missing:
        return Check("cpu", False, f"missing {', '.join(missing)}", "dlib-bin needs SSE4.2 and AVX: use another machine")
    return Check("cpu", True, "SSE4.2 and AVX present (dlib)")


def check_disk(cfg: KioskConfig) -> Check:
    path = cfg.data_path()
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_BYTES:
        return Check("disk", False, f"{free >> 20} MiB free at {path}", "free space or move data_dir")
    return Check("disk", True, f"{free >> 30} GiB free at {path}")


def check_gateway(cfg: KioskConfig) -> list[Check]:
    import requests

    from drivers.gateway.client import build_session, gateway_origin, tls_refusal

    if not cfg.gateway.url:
        return [Check("gateway", False, "gateway.url not set", "kiosk-provision init --gateway-url ...")]
    session = build_session(cfg.gateway)  # the kiosk's own trust settings, not the environment's
    try:
        response = session.get(gateway_origin(cfg.gateway) + "/health", timeout=(3, 5))
    except requests.exceptions.SSLError as exc:
        refusal = str(tls_refusal(exc, "gateway"))
        if "pin mismatch" in refusal:
            return [Check("gateway", False, refusal, "the gateway's key changed: confirm the new key with the "
                                                     "province, then update gateway.pin_sha256")]
        return [Check("gateway", False, refusal,
                      "install the gateway's CA bundle and set gateway.ca_bundle; check the gateway's certificate")]
    except requests.RequestException as exc:
        return [Check("gateway", False, f"unreachable: {type(exc).__name__}", "check the network and gateway.url")]
    finally:
        session.close()
    checks = [Check("gateway", True, f"reachable ({response.status_code}); TLS verified where https")]
    if cfg.gateway.url.lower().startswith("https://"):
        checks.append(check_gateway_certificate(cfg))
    served = response.headers.get("Date")
    if served:
        skew = abs(dt.datetime.now(dt.timezone.utc) - email.utils.parsedate_to_datetime(served)).total_seconds()
        checks.append(Check("clock", skew <= MAX_SKEW_S, f"{skew:.0f} s from the gateway's clock",
                            "" if skew <= MAX_SKEW_S else "enable time sync: timedatectl set-ntp true"))
    return checks


def check_payment(cfg: KioskConfig) -> Check:
    """The payment platform answers a signed query and accepts our signature (an order that does not exist
    is the expected answer)."""
    from kiosk.errors import PaymentDeclined, PaymentUnknown
    from scripts.composition import build_payments

    if cfg.payment.provider == "none":
        return Check("payment", True, "no payment provider: patients with an own share (个人现金) are told "
                     "before they confirm that they pay it at the counter", "set payment.provider = \"platform\", "
                     "payment.url, payment.key_file and payment.merchant_id (kiosk-provision init --payment-url "
                     "... --payment-key-file ... --merchant-id ...)", warn=True)
    try:
        platform = build_payments(cfg)
    except KioskError as exc:
        return Check("payment", False, str(exc), "set payment.url and payment.key_file (kiosk-provision show-config)")
    assert platform is not None
    try:
        status = platform.query("PSELFTEST0000000000000000000000")
    except PaymentDeclined as exc:
        return Check("payment", False, f"the payment platform refused us: {exc.message}",
                     "check payment.merchant_id and the key in payment.key_file with the hospital's finance office")
    except PaymentUnknown as exc:
        return Check("payment", False, f"unreachable or unsigned answer: {exc.message}",
                     "check the network, payment.url and gateway.ca_bundle")
    finally:
        platform.close_session()
    return Check("payment", True, f"{platform.description}: signed query answered ({status.state})")


def check_gateway_certificate(cfg: KioskConfig) -> Check:
    """What the gateway's certificate says (subject, expiry) and its key's pin, checked against the pins."""
    import ssl
    from urllib.parse import urlsplit

    from cryptography import x509

    from drivers.gateway.pinning import parse_pins, spki_pin

    parts = urlsplit(cfg.gateway.url)
    try:
        pem = ssl.get_server_certificate((parts.hostname or "", parts.port or 443), timeout=5)
    except (OSError, ssl.SSLError) as exc:
        return Check("tls", False, f"certificate not read: {exc}", "check the network and gateway.url")
    der = ssl.PEM_cert_to_DER_cert(pem)
    cert = x509.load_der_x509_certificate(der)
    pin = spki_pin(der)
    detail = (f"subject {cert.subject.rfc4514_string()}, expires {cert.not_valid_after_utc:%Y-%m-%d}, "
              f"pin sha256//{pin}")
    pins = parse_pins(cfg.gateway.pin_sha256) if cfg.gateway.pin_sha256 else frozenset()
    if pins and pin not in pins:
        return Check("tls", False, detail + ": not one of gateway.pin_sha256",
                     "the gateway's key changed: confirm the new key with the province, then update the pin")
    return Check("tls", True, detail + ("; pinned" if pins else ""))


def check_queue(cfg: KioskConfig) -> Check:
    path = Path(cfg.queue.path) if cfg.queue.path else cfg.data_path() / "outbox.sqlite"
    if not path.exists():
        return Check("queue", True, "no queue yet (created on first use)")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            states = dict(conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall())
    except sqlite3.Error as exc:
        return Check("queue", False, f"queue file damaged: {exc}", "stop the kiosk; it sets the file aside on start")
    stuck = states.get("ambiguous", 0) + states.get("dead", 0) + states.get("needs_staff", 0)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "empty"
    return Check("queue", stuck == 0, detail, "" if not stuck else "kiosk-provision queue list; reconcile with staff (queue resolve)")


def check_location(cfg: KioskConfig) -> Check:
    """Clinician workstations: the location source gives a fix the login would accept (the login's own
    source and rules, from the composition root)."""
    from kiosk.errors import ConfigError

    from scripts.composition import build_location, fixed_site_problem

    loc = cfg.location
    if not cfg.is_demo:
        problem = fixed_site_problem(cfg)
        if problem:
            return Check("location", False, f"a fixed site alone proves nothing: {problem}",
                         "kiosk-provision register (the office approves this desk), or set location.site_live_check, "
                         "or location.source = gpsd/nmea")
    try:
        source, judge, stoppers = build_location(loc)
    except ConfigError as exc:
        return Check("location", False, f"geofence unreadable: {exc}", "fix location.geofence (lon,lat corners)")
    try:
        if loc.source == "fixed":
            verdict = judge(source.current(), None)
            if not verdict.accepted:
                return Check("location", False, f"the provisioned site is refused: {verdict.reason}",
                             "set location.site_latitude/longitude inside location.geofence")
            return Check("location", True, f"fixed site {verdict.edge_m:.0f} m inside the geofence ({verdict.basis})")
        deadline, reading = time.monotonic() + 5, None
        while time.monotonic() < deadline and (reading is None or reading.mode < 2):
            time.sleep(0.2)
            reading = source.current()
    finally:
        for stop in stoppers:
            stop()
    if reading is None:
        return Check("location", False, f"{source.description}: no answer",
                     "systemctl start gpsd; check the receiver's cable and location.* settings")
    verdict = judge(reading, None)
    if not verdict.accepted:
        return Check("location", False, f"{source.description}: {verdict.reason}",
                     "move the antenna to a window, wait for a fix, or check location.geofence")
    return Check("location", True, f"{source.description}: fix {reading.accuracy_m:.0f} m, inside the geofence")


def check_scanners(cfg: KioskConfig) -> list[Check]:
    """The configured hardware QR scanners' devices are there and readable by the kiosk's user."""
    devices = [("qr_scanner", cfg.qr.scanner, "a serial", "ls /dev/serial/by-id; check qr.scanner"),
               ("qr_wedge", cfg.qr.wedge_device, "an input", "ls /dev/input/by-id/*event-kbd; check qr.wedge_device")]
    checks = []
    for name, device, kind, where in devices:
        if not device:
            continue
        try:
            mode = os.stat(device).st_mode
        except OSError as exc:
            checks.append(Check(name, False, f"{device}: {exc.strerror}", f"plug the scanner in; {where}"))
            continue
        if not stat.S_ISCHR(mode):
            checks.append(Check(name, False, f"{device} is not {kind} device", where))
        elif not os.access(device, os.R_OK):
            checks.append(Check(name, False, f"{device}: the kiosk's user may not read it",
                                "add the kiosk user to the 'dialout' (serial) or 'input' group"))
        else:
            checks.append(Check(name, True, f"{device} present and readable"))
    return checks


def check_voucher_platform(cfg: KioskConfig) -> Check:
    """Face swipe (and the voucher password, the family account) need the voucher platform's methods."""
    from drivers.gateway.voucher_platform import HttpVoucherPlatform

    if not cfg.voucher.face_swipe:
        return Check("voucher_platform", True, "face swipe is off (voucher.face_swipe = false)")
    if not cfg.gateway.url:
        return Check("voucher_platform", False, "gateway.url not set", "kiosk-provision init --gateway-url ...")
    platform = HttpVoucherPlatform(cfg.gateway, cfg.terminal, cfg.voucher.platform_url)
    try:
        code = platform.probe()
    except KioskError as exc:
        return Check("voucher_platform", False, f"face swipe cannot reach the voucher platform: {exc.message}",
                     "check voucher.platform_url (default: the gateway's origin + /voucher), or set "
                     "voucher.face_swipe = false until it is reachable")
    finally:
        platform.close()
    if not code:
        return Check("voucher_platform", False, "the voucher platform answered without a code",
                     "check voucher.platform_url points at the platform's methods")
    return Check("voucher_platform", True, f"voucher platform answers (a made-up authNo: {code[:20]})")


def check_speech() -> Check:
    """Voice prompts need a speech engine; without one the kiosk shows a notice (not a failure). Asks the
    kiosk's own voice driver, so the check finds what the kiosk will use (espeak-ng), not any engine."""
    from drivers.voice.espeak import EspeakVoice

    voice = EspeakVoice()
    if voice.available():
        return Check("speech", True, f"speech engine: {voice.description}")
    return Check("speech", True, "no speech engine: voice prompts are off, a notice is shown",
                 "apt install espeak-ng for voice prompts")


def run_checks(cfg: KioskConfig, *, insert_test_card: Callable[[], Any] | None = None) -> list[Check]:
    checks: list[Check] = []
    steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("card_reader", lambda: check_pcscd(insert_test_card)),
        ("camera", lambda: check_camera(cfg)),
        ("face_models", lambda: check_face_models(cfg)),
        ("qr_decode", check_qr_at_distance),
        ("printer", lambda: check_printer(cfg)),
        ("a4_printer", lambda: check_a4_printer(cfg)),
        ("cpu", check_cpu),
        ("disk", lambda: check_disk(cfg)),
        ("gateway", lambda: check_gateway(cfg)),
        ("payment", lambda: check_payment(cfg)),
        ("voucher_platform", lambda: check_voucher_platform(cfg)),
        ("queue", lambda: check_queue(cfg)),
        ("speech", check_speech),
        ("qr_scanners", lambda: check_scanners(cfg)),
    ]
    if cfg.terminal.role == "workstation":
        steps.append(("location", lambda: check_location(cfg)))
    for name, step in steps:
        try:
            result = step()
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failed check, never a crash
            result = Check(name, False, f"check crashed: {type(exc).__name__}: {exc}", "report this to support")
        checks.extend(result if isinstance(result, list) else [result])
    return checks
