"""Terminal registration: an Ed25519 device key (private key file 0600, kept across runs), a request to
the gateway's registration endpoint, a QR code the insurance office scans to approve it (shown in the
terminal and saved as PNG), and, once approved, the daily sign-in (9001)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.errors import GatewayProtocolError, GatewayUnreachable
from kiosk.site_evidence import SiteEvidence, fence_digest


def device_public_key(cfg: KioskConfig) -> str:
    """The base64 raw public key of this device, creating the key pair (in the key folder) on first use."""
    from scripts.composition import device_key

    return device_key(cfg).public_b64()


def register_terminal(cfg: KioskConfig, *, dry_run: bool, echo: Callable[[str], None]) -> dict[str, Any]:
    import requests

    from drivers.gateway.client import build_session, gateway_origin

    url = f"{gateway_origin(cfg.gateway)}/terminal/register"
    session = build_session(cfg.gateway)
    timeout = (cfg.gateway.connect_timeout_s, cfg.gateway.read_timeout_s)
    data = cfg.data_path()
    if dry_run:
        try:
            session.get(cfg.gateway.url, timeout=timeout)
        except requests.RequestException as exc:
            raise GatewayUnreachable(f"gateway unreachable ({type(exc).__name__})") from None
        echo(f"dry run: {cfg.gateway.url} answers; would create {cfg.key_path() / 'device.key'} and register "
             f"{cfg.terminal.terminal_no}")
        return {"dry_run": True}
    public_key = device_public_key(cfg)
    fingerprint = hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]
    body: dict[str, Any] = {"terminal_no": cfg.terminal.terminal_no, "institution": cfg.terminal.fixmedins_code,
                            "public_key": public_key, "role": cfg.terminal.role}
    if cfg.terminal.role == "workstation":  # the office approves the device at this site, inside this fence
        body["site"] = {"latitude": cfg.location.site_latitude, "longitude": cfg.location.site_longitude,
                        "geofence_sha256": fence_digest(cfg.location.geofence)}
    try:
        response = session.post(url, json=body, timeout=timeout)
    except requests.RequestException as exc:
        raise GatewayUnreachable(f"gateway unreachable ({type(exc).__name__})") from None
    try:
        answer = response.json()
        registration_id, status = str(answer["registration_id"]), str(answer["status"])
    except (ValueError, KeyError, TypeError):
        raise GatewayProtocolError(f"registration answer malformed (HTTP {response.status_code})") from None
    payload = f"KIOSKREG:{registration_id}:{cfg.terminal.terminal_no}:{fingerprint}"
    png = data / "registration-qr.png"
    _qr_png(payload, png)
    echo(_qr_ascii(payload))
    echo(f"registration {registration_id} ({status}); key fingerprint {fingerprint}; QR code saved to {png}")
    result: dict[str, Any] = {"registration_id": registration_id, "status": status, "fingerprint": fingerprint,
                              "qr_png": str(png), "terminal_no": cfg.terminal.terminal_no}
    if status == "approved":
        result["sign_no"] = _sign_in(cfg)
        echo(f"approved and signed in (sign_no {result['sign_no']})")
        if cfg.terminal.role == "workstation":
            result["site_evidence"] = str(keep_site_evidence(cfg, registration_id))
            echo(f"site evidence (the registered site, signed by the device key) kept in {result['site_evidence']}")
    else:
        echo("waiting for the insurance office to approve this terminal: show them the QR code, then run "
             "kiosk-provision register again")
    result["at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    (data / "registration.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return result


def keep_site_evidence(cfg: KioskConfig, registration_id: str) -> Path:
    from offline_queue.site_evidence_file import FILE_NAME, save_evidence
    from scripts.composition import device_key

    device = device_key(cfg)
    evidence = SiteEvidence(cfg.terminal.terminal_no, cfg.location.site_latitude, cfg.location.site_longitude,
                            fence_digest(cfg.location.geofence), registration_id)
    target = cfg.key_path() / FILE_NAME
    save_evidence(target, evidence, device.sign)
    return target


def _sign_in(cfg: KioskConfig) -> str:
    from drivers.gateway.client import HttpGateway
    from offline_queue.msgids import SqliteMsgIdSource
    from offline_queue.store import open_store

    data = cfg.data_path()
    store = open_store(Path(cfg.queue.path) if cfg.queue.path else data / "outbox.sqlite")
    try:
        msgids = SqliteMsgIdSource(store, cfg.terminal.fixmedins_code, lane=cfg.terminal.msgid_lane)
        gateway = HttpGateway(cfg.gateway, cfg.terminal, msgids)
        try:
            return gateway.sign_in()
        finally:
            gateway.close()
    finally:
        store.close()


def _qr_png(payload: str, target: Path) -> None:
    import qrcode

    target.parent.mkdir(parents=True, exist_ok=True)
    qrcode.make(payload, border=4).save(str(target))


def _qr_ascii(payload: str) -> str:
    import io

    import qrcode

    qr = qrcode.QRCode(border=1)
    qr.add_data(payload)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()
