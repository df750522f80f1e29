"""Typed configuration: declared once, validated, passed in.

Sources, later wins: the built-in defaults (the embedded demo set-up), a TOML
file, then environment variables ``KIOSK_<SECTION>_<KEY>`` (for example
``KIOSK_GATEWAY_READ_TIMEOUT_S=20``). Every field carries a one-line
description; a bad value raises :class:`ConfigError` naming the key and why.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kiosk.errors import ConfigError

Check = Callable[[Any], str | None]  # returns a reason when the value is bad


def _opt(default: Any, doc: str, check: Check | None = None) -> Any:
    return field(default=default, metadata={"doc": doc, "check": check})


def _regex(pattern: str, what: str) -> Check:
    rx = re.compile(pattern)
    return lambda v: None if rx.fullmatch(str(v)) else f"must be {what}"


def _one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def _one_of_int(*choices: int) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(str, choices))}"


def _range(lo: float, hi: float) -> Check:
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi}"


@dataclass(frozen=True)
class TerminalConfig:
    fixmedins_code: str = _opt("H11010100001", "designated institution code (12 chars)", _regex(r"[A-Z0-9]{12}", "12 upper-case letters or digits"))
    fixmedins_name: str = _opt("示范市第一人民医院", "institution name as printed on receipts")
    mdtrtarea_admvs: str = _opt("110101", "division code of the treatment area (6 digits)", _regex(r"\d{6}", "6 digits"))
    terminal_no: str = _opt("ZZJ-0001", "terminal number (dev_no and opter in the envelope)", _regex(r"[A-Za-z0-9\-]{1,30}", "1-30 letters, digits or '-'"))
    terminal_name: str = _opt("门诊自助机 1 号", "terminal name (opter_name)")
    role: str = _opt("kiosk", "kiosk (patients) or workstation (clinician login)", _one_of("kiosk", "workstation"))
    recer_sys_code: str = _opt("FSI", "receiver system code of the gateway")
    manual_window: str = _opt("门诊一楼 3 号人工窗口", "where the kiosk sends patients it cannot help")
    msgid_lane: str = _opt("", "one digit, different on each terminal that shares the institution code: the first digit of the msgid sequence, so no two terminals can send the same msgid (empty: a single terminal)", _regex(r"\d?", "one digit or empty"))


@dataclass(frozen=True)
class GatewayConfig:
    url: str = _opt("", "settlement gateway endpoint (empty in demo mode: the sandbox's own URL is used)", _regex(r"(https?://\S+)?", "an http(s) URL or empty"))
    his_url: str = _opt("", "hospital information system base URL for fees and face references (empty: the gateway's origin)", _regex(r"(https?://\S+)?", "an http(s) URL or empty"))
    voucher_url: str = _opt("", "electronic-voucher platform's resolve URL (empty: the gateway's origin + /voucher/resolve)", _regex(r"(https?://\S+)?", "an http(s) URL or empty"))
    connect_timeout_s: float = _opt(3.0, "TCP connect timeout", _range(0.1, 60))
    read_timeout_s: float = _opt(15.0, "time to wait for an answer once sent", _range(0.5, 300))
    ca_bundle: str = _opt("", "CA bundle for TLS verification (empty: system store; verification is never off)")
    pin_sha256: str = _opt("", "optional public-key pins of the gateway's TLS key, comma-separated base64 SHA-256 of its SubjectPublicKeyInfo (sha256//... as curl's --pinnedpubkey); with pins, another key is refused even when its certificate is valid (kiosk-provision selftest shows the current pin)")
    proxy: str = _opt("", "HTTP(S) proxy to reach the gateway, e.g. http://proxy.hospital.local:3128 (empty: direct; the environment's proxy variables are not used)")
    profile: str = _opt("plain", "access and message security the gateway asks for: plain (none), tif (the x-tif-* access headers of PROTOCOL.md section 9: access id, timestamp, single-use nonce, SHA-256 signature) or sm (tif, and input/output encrypted with SM4, requests and answers signed with SM2 over SM3)", _one_of("plain", "tif", "sm"))
    paasid: str = _opt("", "tif, sm: the institution's access id at the gateway")
    secret_file: str = _opt("", "tif, sm: file holding the access secret (outside data_dir, readable by the kiosk user only; empty in demo mode: the sandbox's)")
    sm4_key_file: str = _opt("", "sm: file holding the institution's SM4 message key (32 hex digits; outside data_dir, kiosk user only)")
    sm2_key_file: str = _opt("", "sm: file holding the institution's SM2 private key (64 hex digits) that signs requests; its public half is registered with the province")
    sm2_gateway_public_key: str = _opt("", "sm: the gateway's SM2 public key (128 hex digits, x || y) that answers must verify against", _regex(r"((04)?[0-9A-Fa-f]{128})?", "128 hex digits (x || y), optionally after 04, or empty"))
    idempotent_replay: bool = _opt(False, "the gateway returns the original answer for a resent msgid: unanswered settlements are resent instead of reversed with 2601")


@dataclass(frozen=True)
class CardConfig:
    reader: str = _opt("auto", "auto (PC/SC; in demo mode pcscd with the virtual reader when installed, else the in-process twin), pcsc, or virtual (in-process twin, demo only)", _one_of("auto", "pcsc", "virtual"))
    reader_name: str = _opt("", "substring of the PC/SC reader name to use (empty: first reader)")


@dataclass(frozen=True)
class CameraConfig:
    source: str = _opt("demo", "demo (webcam if present, else the bundled portrait), device:N, or a file/folder to replay (production: device:N only)")
    fps: float = _opt(15.0, "frames per second to capture or replay", _range(1, 60))
    depth: str = _opt("", "a depth camera registered to the colour camera, checked for a face's relief during liveness: empty (none), or simulated (the twin, demo only; a vendor adapter plugs in behind the DepthCamera port)", _one_of("", "simulated"))


@dataclass(frozen=True)
class FaceConfig:
    encoder: str = _opt("arcface", "face encoder: arcface (InsightFace's w600k MobileFaceNet, 512 numbers: the shipped cohort and operating point; weights licensed for non-commercial research, see README) or dlib (dlib's 128-d model, freely licensed: needs a site calibration, face.cohort_file and the thresholds from kiosk-provision calibrate-face --encoder dlib)", _one_of("arcface", "dlib"))
    score_threshold: float = _opt(4.3, "lowest score accepted as the same person (arcface: ten times the cosine similarity; dlib: cohort-normalised; kiosk-provision calibrate-face; shipped: fitted on the development people of ../shared/data for far <= 0.001 per attempt in every set)", _range(0.0, 50.0))
    grey_floor: float = _opt(2.969, "scores from here up to the threshold are too close to call: retry, then staff", _range(-50.0, 50.0))
    small_face_threshold: float = _opt(4.3, "the same for bursts whose smallest face is under 100 px tall (a stricter band: small faces let look-alikes score higher; the default quality gate never encodes them)", _range(0.0, 50.0))
    small_face_grey_floor: float = _opt(2.969, "grey-zone floor of the small-face band", _range(-50.0, 50.0))
    cohort_file: str = _opt("", "cohort templates for score normalisation, made with face.encoder (empty: the shipped drivers/face/cohort_arcface_v1.npz)")
    cohort_k: int = _opt(35, "nearest cohort templates used to normalise a score", _range(5, 1000))
    liveness_steps: int = _opt(2, "randomised liveness steps (blink, turn left, turn right)", _range(1, 3))
    liveness_step_timeout_s: float = _opt(12.0, "time allowed for each liveness step", _range(3, 60))
    max_attempts: int = _opt(3, "face attempts before the patient is sent to staff", _range(1, 10))
    frames_per_attempt: int = _opt(5, "good frames fused into one decision", _range(1, 30))
    attempt_timeout_s: float = _opt(8.0, "time allowed to find good frames in one attempt", _range(1, 60))


@dataclass(frozen=True)
class QrConfig:
    scanner: str = _opt("", "a serial QR scanner's device, e.g. /dev/ttyACM0 (empty: none)")
    baud: int = _opt(9600, "the serial scanner's baud rate", _one_of_int(9600, 19200, 38400, 57600, 115200))
    camera: bool = _opt(True, "also read voucher codes shown to the kiosk camera on the idle screen")
    wedge_device: str = _opt("", "a USB keyboard-wedge scanner's input device, e.g. /dev/input/by-id/usb-…-event-kbd: read from the device, whatever has focus or the keyboard layout (empty: the kiosk window reads wedge scanners as typed keys)")
    wedge_suffix: str = _opt("enter", "what the wedge scanner sends after a code: enter, tab or none (then a pause ends the code)", _one_of("enter", "tab", "none"))
    wedge_gap_ms: int = _opt(50, "longest pause between a wedge scanner's characters (a person types slower)", _range(5, 500))


@dataclass(frozen=True)
class PaymentConfig:
    provider: str = _opt("platform", "how the patient's own share is collected before settling: platform (the hospital's payment platform: QR code to scan, payment code to show, over signed HTTPS), card_terminal (a bank-card terminal on a serial line) or none (a visit with an own share is sent to the counter before anything is settled)", _one_of("platform", "card_terminal", "none"))
    url: str = _opt("", "payment platform base URL (empty in demo mode: the sandbox's; production: https only)", _regex(r"(https?://\S+)?", "an http(s) URL or empty"))
    merchant_id: str = _opt("1900000109", "the hospital's merchant number at the payment platform", _regex(r"[A-Za-z0-9]{1,32}", "1-32 letters or digits"))
    key_file: str = _opt("", "file holding the merchant signing key (keep it outside data_dir, readable by the kiosk user only; empty in demo mode: the sandbox's key)")
    timeout_s: float = _opt(120.0, "time the payment screen waits for the patient's payment before the order is closed", _range(30, 900))
    card_device: str = _opt("", "card_terminal: the terminal's serial device, e.g. /dev/ttyS1")
    card_baud: int = _opt(9600, "card_terminal: the serial line's baud rate", _one_of_int(9600, 19200, 38400, 57600, 115200))
    poll_interval_s: float = _opt(2.0, "how often the order is queried while the patient pays (notifications may come sooner)", _range(0.2, 30))


@dataclass(frozen=True)
class PrinterConfig:
    kind: str = _opt("file", "file (receipts written to a folder), escpos-network, escpos-serial or escpos-usb (a thermal printer)", _one_of("file", "escpos-network", "escpos-serial", "escpos-usb"))
    target: str = _opt("", "the ESC/POS printer: host:port, a serial device, or USB vendor:product in hex (04b8:0202)")
    directory: str = _opt("", "folder for the file printer (empty: <data_dir>/receipts)")
    a4_queue: str = _opt("", "CUPS queue of the A4 printer for electronic invoices (lpstat -p lists them; empty: no A4 printer, invoices are offered to the phone by QR code; demo mode starts a private CUPS with a cups-pdf queue)", _regex(r"[A-Za-z0-9_.-]{0,127}", "a CUPS queue name (letters, digits, _ . -)"))
    cups_server: str = _opt("", "where CUPS listens for the A4 queue: host[:port] or a socket path, as CUPS_SERVER (empty: the system's CUPS)")


@dataclass(frozen=True)
class QueueConfig:
    path: str = _opt("", "outbox SQLite file (empty: <data_dir>/outbox.sqlite)")
    retry_base_s: float = _opt(2.0, "first retry delay; doubles per attempt, with jitter", _range(0.05, 600))
    retry_max_s: float = _opt(300.0, "longest retry delay", _range(1, 86400))
    max_open_items: int = _opt(5000, "size bound: items not yet delivered before new settlements are refused", _range(10, 1_000_000))
    keep_days: float = _opt(90.0, "retention of finished items (done, failed) for reconciliation", _range(1, 3650))
    reconcile_after: str = _opt("20:00", "closing time: after it the kiosk reconciles the day's settlements with the gateway (3201, then 9101/3202/9102 where they differ); retried every 15 min while the gateway cannot be reached", _regex(r"([01]\d|2[0-3]):[0-5]\d", "HH:MM"))


@dataclass(frozen=True)
class UiConfig:
    language: str = _opt("zh_CN", "zh_CN (default) or en", _one_of("zh_CN", "en"))
    elderly_mode: bool = _opt(False, "start in elderly mode (larger text, slower timeouts, voice prompts on)")
    voice: bool = _opt(False, "speak each screen and face prompt (always on in elderly mode)")
    idle_timeout_s: float = _opt(60.0, "seconds without a touch before the countdown to reset", _range(5, 3600))
    countdown_s: float = _opt(15.0, "visible countdown before a privacy reset", _range(3, 120))
    fullscreen: bool = _opt(True, "full-screen kiosk window")
    session: str = _opt("x11", "what install-service's unit shows the window on: x11 (an existing X display :0) or cage (the unit starts the cage kiosk compositor on tty1 with the kiosk as its only client: no desktop to escape to, and the session restarts with the kiosk)", _one_of("x11", "cage"))
    watchdog_s: int = _opt(30, "systemd restarts the kiosk when its window has not answered this long (WatchdogSec= in the unit; the GUI thread pings at half of it)", _range(5, 600))
    filing_url: str = _opt("https://fuwu.nhsa.gov.cn/", "what the QR code on the 'not filed' screen opens on the patient's phone: the national medical-insurance service platform, where patients insured elsewhere file (备案)", _regex(r"https://\S+", "an https:// URL"))


DEMO_FENCE = "116.3962,39.9077 116.3988,39.9077 116.3988,39.9097 116.3962,39.9097"


@dataclass(frozen=True)
class LocationConfig:
    source: str = _opt("fixed", "clinician workstations: fixed (provisioned site), gpsd or nmea", _one_of("fixed", "gpsd", "nmea"))
    geofence: str = _opt(DEMO_FENCE, "the institution: polygons of lon,lat corners separated by spaces; polygons separated by ;")
    site_latitude: float = _opt(39.9087, "fixed site: latitude (degrees north)", _range(-90, 90))
    site_longitude: float = _opt(116.3975, "fixed site: longitude (degrees east)", _range(-180, 180))
    site_live_check: str = _opt("", "fixed site: optional gpsd host:port whose live fix must not contradict the site")
    gpsd_host: str = _opt("127.0.0.1", "gpsd host")
    gpsd_port: int = _opt(2947, "gpsd port", _range(1, 65535))
    nmea_device: str = _opt("/dev/ttyUSB0", "NMEA receiver's serial device")
    nmea_baud: int = _opt(9600, "NMEA receiver's baud rate", _one_of_int(4800, 9600, 38400, 115200))
    max_age_s: float = _opt(10.0, "oldest fix accepted", _range(1, 600))
    max_accuracy_m: float = _opt(50.0, "largest accuracy radius accepted (95 %)", _range(1, 5000))
    require_3d: bool = _opt(False, "refuse 2D fixes")
    margin_m: float = _opt(5.0, "inside means inside by more than the accuracy radius plus this", _range(0, 1000))
    max_speed_mps: float = _opt(50.0, "a fix further from the last accepted one than this speed allows is refused", _range(1, 1000))


@dataclass(frozen=True)
class StaffConfig:
    roster: str = _opt("", "encrypted staff roster file (empty: <data_dir>/staff.roster)")
    idle_lock_s: float = _opt(300.0, "a clinician session locks after this long without input", _range(10, 86400))
    absent_lock_s: float = _opt(30.0, "... or when the clinician's face has been absent this long", _range(5, 3600))


@dataclass(frozen=True)
class MetricsConfig:
    port: int = _opt(0, "serve Prometheus metrics on this TCP port (0: off), e.g. 9464", _range(0, 65535))
    bind: str = _opt("127.0.0.1", "address the metrics endpoint listens on (0.0.0.0 or the management network's address for a Prometheus server elsewhere)")
    token_file: str = _opt("", "file holding a bearer token the scraper must send (Authorization: Bearer ...; empty: none)")
    tls_cert: str = _opt("", "PEM certificate chain: the endpoint speaks HTTPS only (with tls_key)")
    tls_key: str = _opt("", "PEM private key of tls_cert")
    client_ca: str = _opt("", "PEM CA bundle: only scrapers with a client certificate it signed get in (mTLS; needs tls_cert)")


def _errand_list(value: Any) -> str | None:
    from kiosk.errands import ERRANDS

    names = [n.strip() for n in str(value).split(",") if n.strip()]
    unknown = [n for n in names if n not in ERRANDS]
    if unknown or not names:
        return f"must be a comma-separated list of {', '.join(ERRANDS)} (got {', '.join(unknown) or 'none'})"
    return None


@dataclass(frozen=True)
class ServicesConfig:
    errands: str = _opt("pay_fees,registration,records,balance,filings,invoice", "the services menu's tiles after identification, comma-separated: pay_fees, registration (same-day, with a doctor), records (the last 90 days' settlements), balance (and this year's totals), filings (chronic diseases on file), invoice (electronic invoices: print on A4 through CUPS, or take to the phone)", _errand_list)


@dataclass(frozen=True)
class VoucherConfig:
    face_swipe: bool = _opt(True, "offer \"swipe face\" on the idle screen: a patient with neither card nor phone types the ID number and the voucher platform identifies the live face (PROTOCOL.md section 10)")
    platform_url: str = _opt("", "base URL of the voucher platform's methods cn.nhsa.ec.auth, cn.nhsa.auth.check, cn.nhsa.ec.password, cn.nhsa.ec.family (empty: the gateway's origin + /voucher)", _regex(r"(https?://\S+)?", "an http(s) URL or empty"))
    password_limit: str = _opt("50000.00", "voucher (and face) visits whose total is above this many yuan ask for the voucher password on the PIN pad (empty: never)", _regex(r"(\d{1,9}(\.\d{1,2})?)?", "an amount in yuan (e.g. 50000.00) or empty"))


@dataclass(frozen=True)
class KioskConfig:
    mode: str = _opt("demo", "demo (sandbox gateway, virtual devices) or production", _one_of("demo", "production"))
    data_dir: str = _opt("", "folder for the outbox, the roster and receipts (empty: ~/.local/state/hospital-kiosk)")
    key_dir: str = _opt("", "folder for the secrets that protect the data: outbox, roster and device keys (mode 0700, readable by the kiosk user only; empty: <data_dir>-keys, beside the data folder, never inside it)")
    credential_store: str = _opt("", "folder of systemd-encrypted credentials (systemd-creds, the TPM2 or the host key) into which install-service seals the keys and the secret files; the service receives them decrypted in its private credentials directory (empty: plain files in key_dir)")
    terminal: TerminalConfig = field(default_factory=TerminalConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    card: CardConfig = field(default_factory=CardConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    face: FaceConfig = field(default_factory=FaceConfig)
    qr: QrConfig = field(default_factory=QrConfig)
    printer: PrinterConfig = field(default_factory=PrinterConfig)
    payment: PaymentConfig = field(default_factory=PaymentConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    location: LocationConfig = field(default_factory=LocationConfig)
    staff: StaffConfig = field(default_factory=StaffConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    voucher: VoucherConfig = field(default_factory=VoucherConfig)
    services: ServicesConfig = field(default_factory=ServicesConfig)

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"

    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else Path.home() / ".local/state/hospital-kiosk"

    def key_path(self) -> Path:
        data = self.data_path()
        return Path(self.key_dir).expanduser() if self.key_dir else data.with_name(data.name + "-keys")


ENV_PREFIX = "KIOSK_"


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> KioskConfig:
    """Build the config from defaults, an optional TOML file and the environment."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    _apply_env(raw, env or {})
    cfg = _build(KioskConfig, raw, "")
    if cfg.mode == "production" and not cfg.gateway.url:
        raise ConfigError("gateway.url: required in production mode")
    if cfg.mode == "production":
        for key in ("url", "his_url", "voucher_url"):
            value = getattr(cfg.gateway, key)
            if value and not value.lower().startswith("https://"):
                raise ConfigError(f"gateway.{key}: must be https:// in production mode (got {value!r}): personal "
                                  f"data and settlements never cross the network unencrypted")
        if cfg.voucher.platform_url and not cfg.voucher.platform_url.lower().startswith("https://"):
            raise ConfigError(f"voucher.platform_url: must be https:// in production mode (got "
                              f"{cfg.voucher.platform_url!r}): faces and passwords never cross the network unencrypted")
        if cfg.gateway.profile in ("tif", "sm") and not (cfg.gateway.paasid and cfg.gateway.secret_file):
            raise ConfigError(f"gateway.paasid and gateway.secret_file: required for gateway.profile = "
                              f"{cfg.gateway.profile} in production mode (the access id and secret issued with the "
                              f"institution's access)")
        if cfg.gateway.profile == "sm":
            for key in ("sm4_key_file", "sm2_key_file", "sm2_gateway_public_key"):
                if not getattr(cfg.gateway, key):
                    raise ConfigError(f"gateway.{key}: required for gateway.profile = sm in production mode (the "
                                      f"keys the province issued with its national-algorithm access)")
        if cfg.payment.provider == "card_terminal" and not cfg.payment.card_device:
            raise ConfigError("payment.card_device: the bank-card terminal's serial device is required")
        if cfg.payment.provider == "platform":
            if not cfg.payment.url.lower().startswith("https://"):
                raise ConfigError(f"payment.url: an https:// URL of the hospital's payment platform is required in "
                                  f"production mode (got {cfg.payment.url!r}); or payment.provider = 'none'")
            if not cfg.payment.key_file:
                raise ConfigError("payment.key_file: the merchant signing key is required in production mode")
    return cfg


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    sections = {f.name for f in fields(KioskConfig) if f.default_factory is not dataclasses.MISSING}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX):].lower()
        section, _, rest = name.partition("_")
        if section in sections and rest:
            raw.setdefault(section, {})[rest] = value
        elif name in {"mode", "data_dir", "key_dir", "credential_store"}:
            raw[name] = value
        # other KIOSK_* variables (e.g. KIOSK_CONFIG) are not config keys


def _build(cls: type, raw: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown setting (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for name, f in known.items():
        key = prefix + name
        if f.default_factory is not dataclasses.MISSING:  # a nested section
            values[name] = _build(f.default_factory, raw.get(name, {}), key + ".")  # type: ignore[arg-type]
            continue
        if name not in raw:
            continue
        value = _coerce(raw[name], type(f.default), key)
        check: Check | None = f.metadata.get("check")
        reason = check(value) if check else None
        if reason:
            raise ConfigError(f"{key}: {reason} (got {raw[name]!r})")
        values[name] = value
    return cls(**values)


def _coerce(value: Any, kind: type, key: str) -> Any:
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                return value.lower() in {"1", "true", "yes", "on"}
            raise ValueError
        if kind in (int, float):
            if isinstance(value, bool):
                raise ValueError
            number = kind(value)
            if kind is int and isinstance(value, float) and value != number:
                raise ValueError
            return number
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: must be {kind.__name__} (got {value!r})") from None


def describe(cls: type = KioskConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, description) for every setting: the configuration reference."""
    rows: list[tuple[str, str, str]] = []
    for f in fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            rows += describe(f.default_factory, prefix + f.name + ".")  # type: ignore[arg-type]
        else:
            rows.append((prefix + f.name, repr(f.default), f.metadata.get("doc", "")))
    return rows


def as_dict(cfg: KioskConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
