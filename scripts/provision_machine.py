"""``kiosk-provision`` commands that set up the machine: init, register, install-service,
uninstall-service, export-diagnostics. Each that changes the machine takes ``--dry-run``."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import click

from kiosk.config import KioskConfig, as_dict, load_config
from kiosk.errors import KioskError
from scripts.credential_keys import technician_keys

UNIT_NAME = "hospital-kiosk.service"
ROOT = Path(__file__).resolve().parents[1]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def render_config(sections: dict[str, dict[str, object]], top: dict[str, object]) -> str:
    lines = ["# hospital kiosk configuration, written by kiosk-provision init", ""]
    lines += [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    for section, values in sections.items():
        lines += ["", f"[{section}]"] + [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def set_section_values(path: Path, section: str, values: dict[str, object]) -> None:
    """Set keys in one [section] of a TOML file, keeping everything else (comments, other sections) as it is."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    header = f"[{section}]"
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    if start is None:
        lines += ["", header]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    body = [line for line in lines[start + 1:end]
            if line.split("=", 1)[0].strip() not in values]
    body += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines[:start + 1] + body + lines[end:]) + "\n", encoding="utf-8")


def _missing_for_patients(cfg: KioskConfig) -> list[str]:
    """What a patient kiosk written this way cannot do (kiosk-provision selftest says WARN for each)."""
    if cfg.terminal.role != "kiosk":
        return []
    missing = []
    if cfg.payment.provider == "none":
        missing.append("no payment provider (--payment-url, --payment-key-file, --merchant-id): patients with an own "
                       "share are told to pay it at the counter")
    if cfg.printer.kind == "file":
        missing.append("no receipt printer (--printer escpos-usb:VID:PID, escpos-serial:DEVICE or "
                       "escpos-network:HOST:PORT): receipts are written to a folder and patients get no slip")
    return missing


def register_commands(cli: click.Group, config_option) -> None:  # type: ignore[no-untyped-def]
    @cli.command("init")
    @click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="Where to write the configuration file (TOML).")
    @click.option("--terminal-no", required=True, help="Terminal number issued by the insurance office.")
    @click.option("--institution-code", required=True, help="Designated institution code (12 characters).")
    @click.option("--institution-name", required=True, help="Institution name as printed on receipts.")
    @click.option("--area", default="110101", show_default=True, help="Division code of the treatment area.")
    @click.option("--msgid-lane", default="", help="One digit, different on each terminal of the institution "
                  "(several terminals share its code; the lane keeps their message ids apart).")
    @click.option("--gateway-url", required=True, help="The settlement gateway's service URL (https).")
    @click.option("--role", type=click.Choice(["kiosk", "workstation"]), default="kiosk", show_default=True,
                  help="kiosk (patients) or workstation (clinician login).")
    @click.option("--data-dir", default="", help="Data folder (default: ~/.local/state/hospital-kiosk).")
    @click.option("--ca-bundle", type=click.Path(dir_okay=False, exists=True), default=None,
                  help="CA bundle for the gateway's TLS certificate (default: the system store).")
    @click.option("--location-source", type=click.Choice(["fixed", "gpsd", "nmea"]), default=None,
                  help="Workstations: where the position comes from.")
    @click.option("--site", default=None, help="Workstations with --location-source fixed: LAT,LON of the desk.")
    @click.option("--geofence", default=None, help="The institution's polygon(s): 'lon,lat lon,lat ...; ...'.")
    @click.option("--printer", default=None,
                  help="file, or escpos-network:HOST:PORT, escpos-serial:/dev/ttyS0, escpos-usb:04b8:0202.")
    @click.option("--a4-queue", default=None,
                  help="The CUPS queue of the A4 printer for electronic invoices (lpstat -p lists them).")
    @click.option("--qr-scanner", default=None, help="A serial QR scanner's device, e.g. /dev/ttyACM0.")
    @click.option("--camera", default="device:0", show_default=True,
                  help="The kiosk camera as device:N (production refuses a replayed camera).")
    @click.option("--payment-url", default="", help="The hospital's payment platform (https) for the patients' own "
                  "share; without it visits with an own share are sent to the counter (payment.provider = none).")
    @click.option("--payment-key-file", type=click.Path(dir_okay=False, exists=True), default=None,
                  help="File with the merchant signing key (keep it outside the data folder, mode 0600).")
    @click.option("--merchant-id", default=None, help="The hospital's merchant number at the payment platform.")
    @click.option("--terminal-name", default=None, help="The terminal's name, as sent to the gateway (opter_name) "
                  "and printed on slips, e.g. '门诊大厅自助机 3 号'.")
    @click.option("--counter", "manual_window", default=None,
                  help="Where patients the kiosk cannot help are sent, e.g. '门诊一楼 3 号人工窗口'.")
    @click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
    @click.option("--dry-run", is_flag=True, help="Print the file and what would be created; change nothing.")
    def init(config_path: Path, terminal_no: str, institution_code: str, institution_name: str, area: str,
             msgid_lane: str, gateway_url: str, role: str, data_dir: str, ca_bundle: str | None, location_source: str | None,
             site: str | None, geofence: str | None, printer: str | None, a4_queue: str | None, qr_scanner: str | None,
             camera: str,
             payment_url: str, payment_key_file: str | None, merchant_id: str | None, terminal_name: str | None,
             manual_window: str | None, force: bool, dry_run: bool) -> None:
        """Write a validated production configuration and create the data folder and queue key."""
        sections: dict[str, dict[str, object]] = {
            "terminal": {"terminal_no": terminal_no, "fixmedins_code": institution_code,
                         "fixmedins_name": institution_name, "mdtrtarea_admvs": area, "role": role,
                         **({"msgid_lane": msgid_lane} if msgid_lane else {}),
                         **({"terminal_name": terminal_name} if terminal_name else {}),
                         **({"manual_window": manual_window} if manual_window else {})},
            "gateway": {"url": gateway_url, **({"ca_bundle": str(Path(ca_bundle).resolve())} if ca_bundle else {})},
            "camera": {"source": camera},
            "payment": ({"provider": "platform", "url": payment_url,
                         "key_file": str(Path(payment_key_file).resolve()) if payment_key_file else "",
                         **({"merchant_id": merchant_id} if merchant_id else {})}
                        if payment_url else {"provider": "none"}),
        }
        try:
            sections.update(_device_sections(location_source, site, geofence, printer, qr_scanner))
            if a4_queue:
                if not re.fullmatch(r"[A-Za-z0-9_.-]{1,127}", a4_queue):
                    raise ValueError(f"--a4-queue {a4_queue!r}: a CUPS queue name (letters, digits, _ . -)")
                sections.setdefault("printer", {})["a4_queue"] = a4_queue
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        text = render_config(sections, {"mode": "production", "data_dir": data_dir})
        probe = config_path.with_name(f".{config_path.name}.check")
        try:
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_text(text, encoding="utf-8")
            cfg = load_config(probe, {})
        except KioskError as exc:
            click.echo(f"not written: {exc}", err=True)
            sys.exit(exc.exit_status)
        finally:
            probe.unlink(missing_ok=True)
        if config_path.exists() and not force:
            click.echo(f"{config_path} exists: use --force to overwrite", err=True)
            sys.exit(16)
        data = cfg.data_path()
        for warning in _missing_for_patients(cfg):
            click.echo(f"warning: {warning}", err=True)
        if dry_run:
            click.echo(text)
            click.echo(f"dry run: would write {config_path} and create {data} (mode 0700) with its queue key")
            return
        config_path.write_text(text, encoding="utf-8")
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        from scripts.composition import outbox_key

        outbox_key(cfg)  # created now, in the key folder, so the kiosk starts with it
        click.echo(f"wrote {config_path}; data folder {data}")

    @cli.command("register")
    @config_option
    @click.option("--dry-run", is_flag=True, help="Only check that the gateway answers; create and send nothing.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object on the last line.")
    def register(config_path: Path | None, dry_run: bool, as_json: bool) -> None:
        """Create the device key pair, register the terminal with the gateway, show the registration QR code;
        once the insurance office has approved it, sign in (9001). Safe to run again: it reuses the key."""
        from scripts.registration import register_terminal

        cfg = technician_keys(load_config(config_path, os.environ))
        try:
            result = register_terminal(cfg, dry_run=dry_run, echo=lambda text: click.echo(text, err=as_json))
        except KioskError as exc:
            click.echo(f"not registered: {exc}", err=True)
            sys.exit(exc.exit_status)
        if as_json:
            click.echo(json.dumps(result, ensure_ascii=False))

    @cli.command("install-service")
    @config_option
    @click.option("--user", default="kiosk", show_default=True, help="System user the kiosk runs as.")
    @click.option("--create-user", is_flag=True, help="Create that system user when it does not exist (no login "
                  "shell, no home; in the groups video, dialout and input where they exist: camera, serial "
                  "devices, keyboard-wedge scanner).")
    @click.option("--unit-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("/etc/systemd/system"),
                  show_default=True, help="Where systemd units live.")
    @click.option("--dry-run", is_flag=True, help="Print the unit and every change it would make; change nothing.")
    def install_service(config_path: Path | None, user: str, create_user: bool, unit_dir: Path, dry_run: bool) -> None:
        """Install the systemd unit that starts the kiosk at boot and restarts it if it stops, owning the data
        and key folders to the service's user (init run as root made them root's)."""
        if config_path is None:
            raise click.BadParameter("the service needs a config file", param_hint="--config")
        cfg = load_config(config_path, os.environ)
        from scripts.credential_keys import seal_for_service, store_of, unit_lines

        store = store_of(cfg)
        unit = service_unit(cfg, config_path.resolve(), user, unit_lines(store) if store else [])
        target = unit_dir / UNIT_NAME
        exists = _user_exists(user)
        if not exists and not create_user:
            click.echo(f"user {user} does not exist: rerun with --create-user, or create it yourself "
                       f"(useradd --system --shell /usr/sbin/nologin {user}), or pass --user", err=True)
            sys.exit(16)
        groups = [g for g in SERVICE_GROUPS if _group_exists(g)]
        folders = [cfg.data_path(), cfg.key_path()]
        changes = ([] if exists else [f"create the system user {user} (groups: {', '.join(groups) or 'none'})"])
        changes += [f"own {folder} and everything in it by {user} (mode 0700)" for folder in folders]
        if store is not None:
            changes.append(f"seal the keys in {cfg.key_path()} and the configured secret files as systemd "
                           f"credentials in {store.folder}, then delete the key folder's plain copies")
        changes += [f"let {user} read {config_path.resolve()} (group {user}, mode 0640)",
                    f"write {target} and enable it"]
        if dry_run:
            click.echo(unit)
            for change in changes:
                click.echo(f"dry run: would {change}")
            return
        if not exists:
            _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                  *(["--groups", ",".join(groups)] if groups else []), user])
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            _own_tree(folder, user)
        sealed: list[str] = []
        if store is not None:
            try:
                lines, sealed = seal_for_service(cfg)
            except (KioskError, OSError) as exc:
                click.echo(f"not installed: {exc}", err=True)
                sys.exit(getattr(exc, "exit_status", 16))
            unit = service_unit(cfg, config_path.resolve(), user, lines)
        shutil.chown(config_path, group=_primary_group(user))
        config_path.chmod(0o640)
        unit_dir.mkdir(parents=True, exist_ok=True)
        for change in [c for c in changes[:-1] if not c.startswith("seal ")] + sealed:
            click.echo(f"done: {change}")
        if target.exists() and target.read_text(encoding="utf-8") == unit and not sealed:
            click.echo(f"unit unchanged: {target}")  # a second run (Ansible) changes nothing
            _systemctl("enable", UNIT_NAME)
            return
        target.write_text(unit, encoding="utf-8")
        click.echo(f"wrote {target}")
        _systemctl("daemon-reload")
        _systemctl("enable", UNIT_NAME)

    @cli.command("uninstall-service")
    @click.option("--unit-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("/etc/systemd/system"),
                  show_default=True, help="Where systemd units live.")
    @click.option("--dry-run", is_flag=True, help="Say what would be removed; change nothing.")
    def uninstall_service(unit_dir: Path, dry_run: bool) -> None:
        """Disable and remove the kiosk's systemd unit (data and configuration are kept)."""
        target = unit_dir / UNIT_NAME
        if not target.exists():
            click.echo(f"{target} is not installed", err=True)
            sys.exit(1)
        if dry_run:
            click.echo(f"dry run: would disable and remove {target}")
            return
        _systemctl("disable", UNIT_NAME)
        target.unlink()
        _systemctl("daemon-reload")
        click.echo(f"removed {target}")

    @cli.command("export-diagnostics")
    @config_option
    @click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
    def export_diagnostics(config_path: Path | None, target: Path) -> None:
        """Write a zip for support: config, versions, queue counts, last self-test; no personal data or keys."""
        cfg = technician_keys(load_config(config_path, os.environ))
        if not target.parent.is_dir():
            raise click.BadParameter(f"no such folder: {target.parent}", param_hint="TARGET")
        contents = diagnostics(cfg)
        try:
            with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, content in contents.items():
                    archive.writestr(name, content)
        except OSError as exc:
            target.unlink(missing_ok=True)  # never leave half a zip behind
            click.echo(f"cannot write {target}: {exc.strerror or exc}", err=True)
            sys.exit(16)
        click.echo(f"wrote {target}")


def _device_sections(location_source: str | None, site: str | None, geofence: str | None, printer: str | None,
                     qr_scanner: str | None) -> dict[str, dict[str, object]]:
    from kiosk.position import Geofence, PositionRules, check_fix
    from kiosk.ports import PositionReading

    sections: dict[str, dict[str, object]] = {}
    location: dict[str, object] = {}
    if location_source:
        location["source"] = location_source
    if geofence:
        Geofence.parse(geofence)  # ValueError with the reason
        location["geofence"] = geofence
    if site:
        try:
            lat, lon = (float(x) for x in site.split(","))
        except ValueError:
            raise ValueError(f"--site {site!r}: write LAT,LON in degrees, e.g. 39.9087,116.3975") from None
        location.update(site_latitude=lat, site_longitude=lon)
        from kiosk.config import LocationConfig

        fence = Geofence.parse(geofence or LocationConfig().geofence)

        def refusal(la: float, lo: float) -> str:
            """Why a desk at (la, lo) is refused ('' when it lies inside the fence)."""
            if not -90 <= la <= 90:
                return "latitude beyond ±90"
            verdict = check_fix(PositionReading(la, lo, 3, 5.0, 0.0, "fixed-site"), fence, PositionRules())
            return "" if verdict.accepted else verdict.reason

        reason = refusal(lat, lon)
        if reason and not refusal(lon, lat):
            raise ValueError(f"--site {site}: the two numbers look swapped: --site takes LAT,LON (latitude "
                             f"first, e.g. {lon},{lat}), while --geofence corners are lon,lat as in GeoJSON")
        if reason:
            raise ValueError(f"--site {site}: {reason} (the desk must lie inside the geofence; --site is LAT,LON)")
    if location:
        sections["location"] = location
    if printer and printer != "file":
        kind, _, target = printer.partition(":")
        if kind not in ("escpos-network", "escpos-serial", "escpos-usb") or not target:
            raise ValueError(f"--printer {printer!r}: file, escpos-network:HOST:PORT, escpos-serial:DEVICE or "
                             "escpos-usb:VENDOR:PRODUCT")
        sections["printer"] = {"kind": kind, "target": target}
    if qr_scanner:
        sections["qr"] = {"scanner": qr_scanner}
    return sections


def service_unit(cfg: KioskConfig, config_path: Path, user: str, credentials: Sequence[str] = ()) -> str:
    """The unit; ``credentials`` are the LoadCredentialEncrypted= and Environment= lines of sealed keys.
    A Type=notify service: ready once the window runs, restarted when the GUI stops feeding the watchdog or
    the process ends. ``ui.session = "cage"``: the unit owns tty1 and runs the cage compositor with the
    kiosk as its only client (no desktop, no VT switching; cage ends with the kiosk, so a crash restarts
    the whole session); ``"x11"``: the window goes to an X display started elsewhere."""
    executable = ROOT / ".venv" / "bin" / "kiosk"
    cage = cfg.ui.session == "cage"
    session = [
        "Environment=QT_QPA_PLATFORM=wayland",
        "Environment=XDG_RUNTIME_DIR=/run/hospital-kiosk",
        "RuntimeDirectory=hospital-kiosk",
        "RuntimeDirectoryMode=0700",
        "PAMName=login",  # a logind session on the seat: cage gets the screen and the input devices
        "TTYPath=/dev/tty1",
        "TTYReset=yes",
        "TTYVHangup=yes",
        "TTYVTDisallocate=yes",
        "StandardInput=tty-fail",
        "UtmpIdentifier=tty1",
        "UtmpMode=user",
        f"ExecStart=/usr/bin/cage -d -- {executable} run",
    ] if cage else [
        "Environment=QT_QPA_PLATFORM=xcb",
        "Environment=DISPLAY=:0",
        f"ExecStart={executable} run",
    ]
    return "\n".join([
        "[Unit]",
        "Description=Hospital self-service kiosk",
        "After=network-online.target pcscd.service " + ("systemd-user-sessions.service getty@tty1.service"
                                                         if cage else "graphical.target"),
        "Wants=network-online.target pcscd.service",
        *(["Conflicts=getty@tty1.service"] if cage else []),
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=all",  # under cage the kiosk is cage's child, not the unit's main process
        f"WatchdogSec={cfg.ui.watchdog_s}",
        f"User={user}",
        f"Environment=KIOSK_CONFIG={config_path}",
        *session,
        *credentials,
        "Restart=always",
        "RestartSec=1",
        # a frozen kiosk gets SIGABRT when the watchdog runs out; one that cannot take it (stopped, stuck in
        # the kernel) is killed this soon after, not after the 90 s default
        "TimeoutAbortSec=10",
        "NoNewPrivileges=true",
        "ProtectSystem=full",
        f"ReadWritePaths={cfg.data_path()}",
        "",
        "[Install]",
        "WantedBy=graphical.target",
        "",
    ])


SERVICE_GROUPS = ("video", "dialout", "input")  # the camera, serial devices, a keyboard-wedge scanner


def _user_exists(user: str) -> bool:
    import pwd

    return _known(pwd.getpwnam, user)


def _group_exists(group: str) -> bool:
    import grp

    return _known(grp.getgrnam, group)


def _known(lookup: Callable[[str], object], name: str) -> bool:
    """Whether the system's user or group database knows ``name``."""
    try:
        lookup(name)
    except KeyError:
        return False
    return True


def _primary_group(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def _own_tree(folder: Path, user: str) -> None:
    import pwd

    entry = pwd.getpwnam(user)
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    folder.chmod(0o700)


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        click.echo(f"{argv[0]} failed: {result.stderr.strip()}", err=True)
        sys.exit(1)


def _systemctl(*args: str) -> None:
    if not Path("/run/systemd/system").exists() or shutil.which("systemctl") is None:
        click.echo(f"systemd is not running here: run 'systemctl {' '.join(args)}' on the kiosk")
        return
    result = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        click.echo(f"systemctl {' '.join(args)} failed: {result.stderr.strip()}", err=True)
        sys.exit(1)


def diagnostics(cfg: KioskConfig) -> dict[str, str]:
    """Files for the support zip. Never: keys, the roster, the outbox database, receipts, images. The
    manifest (SHA-256 of every file) is signed by the device key, so support can tell the bundle came
    from this terminal unaltered (its public key is the one registered)."""
    import hashlib

    from scripts.composition import device_key

    data = cfg.data_path()
    versions = {"hospital-kiosk": _own_version(), "python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("pyside6-essentials", "pyscard", "dlib-bin", "face-recognition", "opencv-contrib-python-headless",
                    "zxing-cpp", "sqlite-utils", "requests", "cryptography", "gmssl", "shapely"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    files = {"config.json": json.dumps(as_dict(cfg), ensure_ascii=False, indent=2),
             "versions.json": json.dumps(versions, indent=2)}
    report = data / "selftest-report.json"
    if report.exists():
        files["selftest-report.json"] = report.read_text(encoding="utf-8")
    queue_file = Path(cfg.queue.path) if cfg.queue.path else data / "outbox.sqlite"
    queue: dict[str, object] = {"counts": {}, "migrations": [], "note": f"no outbox yet at {queue_file}: nothing "
                                                                          "has been queued on this terminal"}
    if queue_file.exists():
        import sqlite3

        with sqlite3.connect(f"file:{queue_file}?mode=ro", uri=True) as conn:
            queue = {"counts": dict(conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()),
                     "migrations": [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]}
    files["queue.json"] = json.dumps(queue, indent=2)
    if Path("/run/systemd/system").exists() and shutil.which("journalctl"):
        journal = subprocess.run(["journalctl", "-u", UNIT_NAME, "-n", "500", "--no-pager"], capture_output=True,
                                 text=True, check=False)
        files["journal.txt"] = journal.stdout  # the kiosk logs masked identifiers only
    present = sorted(files) + ["README.txt", "signature.json"]
    files["README.txt"] = (
        "Support bundle of a hospital kiosk. It holds no personal data, keys, face templates, receipts or "
        "queue contents. Files: " + ", ".join(present) + ".\n"
        + ("" if "journal.txt" in files else "No service log: systemd does not run on this machine (journal.txt "
                                              "is absent); attach the kiosk's own log if support asks for it.\n")
        + "signature.json: the SHA-256 of every other file, signed (Ed25519) by this terminal's device key.\n")
    manifest = {name: hashlib.sha256(content.encode("utf-8")).hexdigest() for name, content in sorted(files.items())}
    device = device_key(cfg)
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8")
    files["signature.json"] = json.dumps({"files": manifest, "public_key": device.public_b64(),
                                          "signature": device.sign(body)}, indent=2)
    return files


def _own_version() -> str:
    """This build: the package version, and the git commit when running from a checkout."""
    try:
        version = metadata.version("hospital-kiosk")
    except metadata.PackageNotFoundError:
        version = "not installed"
    if (ROOT / ".git").exists() and shutil.which("git"):
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
        if commit:
            version += f" ({commit})"
    return version
