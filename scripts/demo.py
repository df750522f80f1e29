"""Demo mode: the sandbox gateway, a virtual card, the replay camera (or the webcam) and the file printer.

The demo patient's face reference is enrolled in the sandbox from what the
camera shows: the public-domain astronaut portrait, or the person at the webcam.
A replayed still cannot pass liveness; the screen and the JSON say so.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kiosk.config import KioskConfig
from kiosk.errors import FaceError, KioskError

from drivers.card.inprocess_reader import InProcessCardReader
from drivers.card.pcsc_reader import PcscCardReader
from drivers.card.pcscd_service import PcscdHandle, start_pcscd, system_vpcd_port
from drivers.card.virtual_card import Fault, VirtualSocialSecurityCard, load_holders
from drivers.card.vpcd_card import VpcdCardSession
from drivers.gateway.access import TifPolicy
from drivers.gateway.message_security import SmGatewaySide
from drivers.gateway.national_crypto import Sm2Key
from drivers.gateway.sandbox.server import SandboxGateway
from drivers.printer.cups_service import PrivateCups
from drivers.printer.cups_service import missing_parts as cups_missing_parts
from scripts.composition import Services, build_camera, build_services

log = logging.getLogger(__name__)
DEMO_HOLDER = "demo"
CARD_SWAP_WAIT_S = 2.0  # longest the demo waits for the reader to see one virtual card out before the next goes in
# ``kiosk demo --patient KIND``: which card holder (drivers/card/demo_holders.toml; the sandbox's seed has the
# same people) comes to the kiosk. The terminal's treatment area is 110101 (Beijing).
PATIENTS = {
    "local": DEMO_HOLDER,                          # insured here
    "in-province": "employee",                     # insured in 110105: another region of the province
    "cross-province": "cross_province",            # insured in Guangdong, filed
    "cross-province-unfiled": "cross_province_unfiled",  # insured in Sichuan, which requires filing: none
    "paused": "paused",                            # insurance paused since 2026-06-30
    "two-records": "two_records",                  # employee insurance here and resident insurance in Hebei
    "no-cross-province-outpatient": "no_outpatient",  # insured in Qinghai, no cross-province outpatient
    "chronic": "chronic",                          # hypertension on file: a chronic-disease visit
    "low-income": "low_income",                    # low income: medical assistance, critical illness on 2,860.00
    "no-photo": "low_income",                      # the same person with no photo on file: face swipe leads to
}                                                  # the family account (王秀英, the demo holder, is bound to her)
NO_PHOTO = {"no-photo"}  # patients whose face the demo does not enrol
PAYMENT_KEY_FILE = "payment-sandbox.key"  # the sandbox payment platform's merchant key, in the demo's folder


@dataclass
class DemoRig:
    """The demo's simulated world. Cards go into pcscd's virtual reader when the kiosk reads through
    PC/SC, or straight into the in-process twin otherwise."""

    sandbox: SandboxGateway
    services: Services
    data_dir: Path
    pcscd: PcscdHandle | None = None
    cups: PrivateCups | None = None  # the demo's A4 printer: a private CUPS with a cups-pdf queue
    _session: VpcdCardSession | None = None
    holder: str = DEMO_HOLDER  # whose card and voucher the demo buttons present

    def insert_card(self, holder: str | None = None, fault: Fault = Fault.NONE) -> None:
        card = VirtualSocialSecurityCard(load_holders()[holder or self.holder], fault=fault)
        reader = self.services.card_reader
        if isinstance(reader, InProcessCardReader):
            reader.insert(card)
            return
        self.remove_card()
        if isinstance(reader, PcscCardReader) and not reader.wait_until_card_out(CARD_SWAP_WAIT_S):
            log.warning("demo: the reader still reports the previous card; inserting the next one anyway")
        self._session = VpcdCardSession(card, port=self.pcscd.port if self.pcscd else system_vpcd_port())
        self._session.insert()

    def holder_id(self) -> str:
        """The ID number of the demo patient (typed on the keypad for face swipe)."""
        return load_holders()[self.holder].citizen_id

    def issue_voucher(self, holder: str | None = None) -> str:
        """A fresh electronic-voucher code for the holder, as the insurance app would show it."""
        return self.sandbox.issue_voucher(load_holders()[holder or self.holder].citizen_id)

    def pay_on_phone(self, wallet: str = "wechat") -> bool:
        """The demo patient scans the open order's QR code with their phone and pays it (sandbox only)."""
        orders = [o for o in self.sandbox.payments.orders() if o["state"] == "NOTPAY"]
        if not orders:
            return False
        self.sandbox.payments.scan(orders[-1]["order_no"], wallet)
        return True

    def remove_card(self) -> None:
        reader = self.services.card_reader
        if isinstance(reader, InProcessCardReader):
            reader.remove()
        elif self._session is not None:
            self._session.remove()
            self._session = None

    def close(self) -> None:
        self.remove_card()
        self.services.close()
        self.sandbox.stop()
        if self.pcscd is not None:
            self.pcscd.stop()
        if self.cups is not None:
            self.cups.stop()


@dataclass(frozen=True)
class SandboxSecurity:
    """What the demo's sandbox enforces for the configured gateway profile, with keys made for the demo:
    the access check (tif, sm), the message security (sm) and the institution's SM2 key pair (sm)."""

    access: TifPolicy | None = None
    messages: SmGatewaySide | None = None
    institution: Sm2Key | None = None


def _secret_file(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return str(path)


def demo_config(cfg: KioskConfig, data_dir: Path, gateway_url: str, payment_key: bytes = b"",
                security: SandboxSecurity = SandboxSecurity()) -> KioskConfig:
    """The sandbox's URLs; its payment platform's merchant key and (profiles tif, sm) its access secret and
    message keys in files beside the demo's data."""
    gateway = dataclasses.replace(cfg.gateway, url=gateway_url, his_url="")
    access, messages = security.access, security.messages
    if access is not None:
        gateway = dataclasses.replace(gateway, paasid=access.paasid, secret_file=_secret_file(
            data_dir / "gateway-sandbox.secret", access.secret))
    if messages is not None and security.institution is not None:
        gateway = dataclasses.replace(
            gateway, sm4_key_file=_secret_file(data_dir / "gateway-sandbox.sm4", messages.sm4_key.hex()),
            sm2_key_file=_secret_file(data_dir / "gateway-sandbox.sm2", security.institution.private),
            sm2_gateway_public_key=messages.own.public)
    payment = cfg.payment
    if payment_key and payment.provider == "platform":
        key_file = data_dir / PAYMENT_KEY_FILE
        key_file.write_bytes(payment_key)
        key_file.chmod(0o600)
        payment = dataclasses.replace(payment, url="", key_file=str(key_file))
    return dataclasses.replace(cfg, mode="demo", data_dir=str(data_dir), gateway=gateway, payment=payment)


def enroll_demo_face(rig_sandbox: SandboxGateway, services: Services, timeout_s: float = 10.0,
                     holder_key: str = DEMO_HOLDER) -> None:
    """Enrol what the camera shows as the demo patient's reference (in the sandbox only)."""
    holder = load_holders()[holder_key]
    psn_no = rig_sandbox.psn_no_for_certno(holder.citizen_id)
    if psn_no is None:
        raise FaceError("demo: the sandbox does not know the demo card holder")
    services.camera.start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        frame = services.camera.latest_frame()
        sample = services.face_engine.encode_largest_face(frame) if frame is not None else None
        if sample is not None:
            rig_sandbox.enroll_face(psn_no, [float(x) for x in sample.template])
            return
        time.sleep(0.1)
    raise FaceError("demo: no face seen by the camera to enrol as the demo patient")


def demo_security(cfg: KioskConfig) -> SandboxSecurity:
    """The demo's sandbox enforces the configured gateway profile, with an access secret and keys made
    for it."""
    if cfg.gateway.profile not in ("tif", "sm"):
        return SandboxSecurity()
    access = TifPolicy(paasid=cfg.gateway.paasid or "demo-paasid-0001", secret=secrets.token_hex(16))
    if cfg.gateway.profile == "tif":
        return SandboxSecurity(access)
    institution = Sm2Key.generate()
    messages = SmGatewaySide(sm4_key=secrets.token_bytes(16), own=Sm2Key.generate(),
                             institution=Sm2Key.from_public(institution.public))
    return SandboxSecurity(access, messages, institution)


def start_demo(cfg: KioskConfig, data_dir: Path | None = None, holder: str = DEMO_HOLDER, *,
               enrol: bool = True) -> DemoRig:
    """The sandbox (whose voucher platform accepts the demo's replay camera for face swipe: demo mode
    says liveness was not checked), the services, and the holder's face enrolled (unless ``enrol`` is
    False: a person with no photo on file)."""
    data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    security = demo_security(cfg)
    # a demo started again on its folder (after a crash) keeps its sandbox's ledger and merchant key: the
    # payment orders of the interrupted visit stay verifiable
    kept_key = data_dir / PAYMENT_KEY_FILE
    sandbox = SandboxGateway(data_dir / "sandbox-ledger.sqlite", access=security.access,
                             message_security=security.messages, accept_replay=True,
                             payment_key=kept_key.read_bytes().strip() if kept_key.exists() else None)
    sandbox.start()
    cups = None
    try:
        demo_cfg = demo_config(cfg, data_dir, sandbox.service_url, sandbox.payment_key, security)
        cups, demo_cfg = demo_a4_printer(demo_cfg, data_dir)
        services = build_services(demo_cfg, camera=build_camera(demo_cfg))
        try:
            if enrol:
                enroll_demo_face(sandbox, services, holder_key=holder)
            else:
                services.camera.start()
        except BaseException:  # Ctrl+C or SIGTERM while starting too: stop what was started
            services.close()
            raise
    except BaseException:
        sandbox.stop()
        if cups is not None:
            cups.stop()
        raise
    pcscd = None
    if not isinstance(services.card_reader, InProcessCardReader):
        try:
            pcscd = start_pcscd()
        except BaseException:
            services.close()
            sandbox.stop()
            if cups is not None:
                cups.stop()
            raise
    return DemoRig(sandbox=sandbox, services=services, data_dir=data_dir, pcscd=pcscd, holder=holder, cups=cups)


def demo_a4_printer(cfg: KioskConfig, data_dir: Path) -> tuple[PrivateCups | None, KioskConfig]:
    """The demo's A4 printer when none is configured: a private CUPS scheduler with a cups-pdf queue, so
    invoices go through the real spooler into ``<data_dir>/cups/out``. Without CUPS here the demo has no A4
    printer (invoices go to the phone) and says why."""
    if cfg.printer.a4_queue:
        return None, cfg
    missing = cups_missing_parts()
    if missing:
        log.warning("demo: no A4 printer (a private CUPS needs %s): invoices are offered by QR code only", missing)
        return None, cfg
    cups = PrivateCups()
    try:
        server = cups.start()
    except KioskError as exc:
        log.warning("demo: no A4 printer (%s): invoices are offered by QR code only", exc)
        return None, cfg
    log.info("demo: A4 printer %s through a private CUPS; printed invoices land in %s", cups.queue, cups.output)
    printer = dataclasses.replace(cfg.printer, a4_queue=cups.queue, cups_server=server)
    return cups, dataclasses.replace(cfg, printer=printer)
