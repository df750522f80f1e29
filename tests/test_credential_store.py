"""Keys delivered as systemd credentials (config ``credential_store``), with the real ``systemd-creds``:
install-service seals the key folder and the secret files and deletes the plain copies; the unit's
``LoadCredentialEncrypted=`` lines, decrypted as systemd does for the service, give the kiosk the same
keys; technician commands reach them outside the service and leave nothing decrypted behind; rotate-keys
re-seals, survives a cut between its steps, and the queued item still opens."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import offline_queue.key_rotation as rotation
from kiosk.config import load_config
from kiosk.errors import ConfigError
from offline_queue.crypto import cipher_for
from offline_queue.outbox import SqliteOutbox
from offline_queue.store import open_store
from scripts.provision import cli

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("systemd-creds") is None,
                                reason="systemd-creds and root (for the host key) are needed to seal credentials")

CERTNO = "110101195603071239"


def _refuse(_plan: object, _save: object) -> object:
    raise AssertionError("nothing is delivered here")


def _outbox(cfg) -> tuple[SqliteOutbox, object]:  # type: ignore[no-untyped-def]
    from scripts.composition import outbox_key_file, outbox_path

    store = open_store(outbox_path(cfg))
    return SqliteOutbox(store, cipher_for(outbox_key_file(cfg)), _refuse), store


def _as_the_service(unit: str, into: Path) -> dict[str, str]:
    """What systemd does at start: decrypt each LoadCredentialEncrypted= into the credentials directory,
    expand %d in Environment=; the environment the kiosk then sees."""
    into.mkdir(mode=0o700)
    env = {"CREDENTIALS_DIRECTORY": str(into)}
    for line in unit.splitlines():
        if line.startswith("LoadCredentialEncrypted="):
            name, _, source = line.split("=", 1)[1].partition(":")
            subprocess.run(["systemd-creds", "decrypt", f"--name={name}", source, str(into / name)], check=True,
                           capture_output=True)
        elif line.startswith("Environment=KIOSK_") and "%d" in line:
            key, _, value = line.split("=", 1)[1].partition("=")
            env[key] = value.replace("%d", str(into))
    return env


def test_keys_sealed_as_credentials_reach_the_service_and_the_technician(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from drivers.secret_file import read_secret
    from scripts.composition import device_key, outbox_key
    from scripts.credential_keys import refuse_sealed_without_service

    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    secret = tmp_path / "gateway.secret"
    secret.write_text("gw-access-secret-0123456789\n", encoding="utf-8")
    store_dir = tmp_path / "credstore"
    config = tmp_path / "kiosk.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\ncredential_store = "{store_dir}"\n'
                      f'[gateway]\nsecret_file = "{secret}"\n', encoding="utf-8")
    cfg = load_config(config, {})
    outbox_key(cfg)
    public = device_key(cfg).public_b64()
    outbox, store = _outbox(cfg)
    ref = outbox.enqueue(visit_id="v1", kind="settlement_plan", payload={"certno": CERTNO})
    store.close()
    plain_outbox_key = (cfg.key_path() / "outbox.key").read_bytes()

    units = tmp_path / "units"
    args = ["install-service", "--config", str(config), "--unit-dir", str(units), "--user", "root"]
    dry = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0 and f"would seal the keys in {cfg.key_path()}" in dry.output
    assert not store_dir.exists()
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in store_dir.iterdir()) == ["device.key", "gateway.secret_file", "outbox.key"]
    assert list(cfg.key_path().iterdir()) == []  # no plain key left on disk
    assert all(plain_outbox_key not in p.read_bytes() for p in store_dir.iterdir())
    unit = (units / "hospital-kiosk.service").read_text()
    assert f"LoadCredentialEncrypted=outbox.key:{store_dir / 'outbox.key'}" in unit
    assert "Environment=KIOSK_KEY_DIR=%d" in unit and "Environment=KIOSK_GATEWAY_SECRET_FILE=%d/gateway.secret_file" in unit
    if shutil.which("systemd-analyze"):  # systemd's own parser reads every line of the unit
        checked = subprocess.run(["systemd-analyze", "verify", str(units / "hospital-kiosk.service")],
                                 capture_output=True, text=True, check=False)
        problems = [line for line in (checked.stdout + checked.stderr).splitlines()
                    if "Unknown key" in line or "Failed to parse" in line or "Invalid" in line]
        assert problems == [], problems
    again = CliRunner().invoke(cli, args)  # safe to run twice: nothing plain left to seal, same unit
    assert again.exit_code == 0, again.output
    assert (units / "hospital-kiosk.service").read_text() == unit

    with pytest.raises(ConfigError, match="start the kiosk as its service"):
        refuse_sealed_without_service(cfg)  # by hand it would make new keys and strand the queue

    service_cfg = load_config(config, _as_the_service(unit, tmp_path / "run-1"))
    assert device_key(service_cfg).public_b64() == public
    assert read_secret(service_cfg.gateway.secret_file, "gateway.secret_file") == "gw-access-secret-0123456789"
    outbox, store = _outbox(service_cfg)
    assert outbox.payload(ref)["certno"] == CERTNO
    store.close()

    listed = CliRunner().invoke(cli, ["queue", "list", "--config", str(config)])
    assert listed.exit_code == 0 and "pending: 1" in listed.output, listed.output
    zipped = tmp_path / "diag.zip"
    exported = CliRunner().invoke(cli, ["export-diagnostics", "--config", str(config), str(zipped)])
    assert exported.exit_code == 0, exported.output
    import json
    import zipfile

    assert json.loads(zipfile.ZipFile(zipped).read("signature.json"))["public_key"] == public  # the sealed key
    assert list(cfg.key_path().iterdir()) == []  # no stray new key made in the plain folder
    assert glob.glob("/dev/shm/kiosk-keys-*") == []  # the technician's unsealed copy is wiped

    class Cut(Exception):
        pass

    import scripts.credential_keys as credential_keys

    close = credential_keys.UnsealedKeys.close  # a power cut: nothing is sealed back on the way out
    monkeypatch.setattr(credential_keys.UnsealedKeys, "close", lambda self, persist=True: close(self, persist=False))
    monkeypatch.setattr(rotation, "_promote", lambda _key_file: (_ for _ in ()).throw(Cut("power lost")))
    with pytest.raises(Cut):
        CliRunner().invoke(cli, ["rotate-keys", "--config", str(config)], catch_exceptions=False)
    monkeypatch.undo()
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert "outbox.key.new" in os.listdir(store_dir)  # the next key was sealed before values were sealed with it
    after_cut = load_config(config, _as_the_service(unit + f"\nLoadCredentialEncrypted=outbox.key.new:"
                                                           f"{store_dir / 'outbox.key.new'}", tmp_path / "run-2"))
    outbox, store = _outbox(after_cut)
    assert outbox.payload(ref)["certno"] == CERTNO  # readable with both keys, as after any cut rotation
    store.close()
    rotated = CliRunner().invoke(cli, ["rotate-keys", "--config", str(config)])
    assert rotated.exit_code == 0 and "outbox: new key, 1 sealed value(s)" in rotated.output, rotated.output
    assert "outbox.key.new" not in os.listdir(store_dir) and glob.glob("/dev/shm/kiosk-keys-*") == []
    service_cfg = load_config(config, _as_the_service(unit, tmp_path / "run-3"))
    assert (service_cfg.key_path() / "outbox.key").read_bytes() != plain_outbox_key
    outbox, store = _outbox(service_cfg)
    assert outbox.payload(ref)["certno"] == CERTNO
    store.close()


def test_a_credential_renamed_or_from_another_machine_is_refused(tmp_path: Path) -> None:
    from drivers.credentials import SystemdCredentialStore

    store = SystemdCredentialStore(tmp_path / "credstore")
    store.seal("outbox.key", b"k" * 44)
    assert store.unseal("outbox.key") == b"k" * 44
    os.rename(store.path_of("outbox.key"), store.path_of("roster.key"))  # the name is bound into the credential
    with pytest.raises(ConfigError, match="cannot decrypt"):
        store.unseal("roster.key")
    with pytest.raises(ConfigError, match="cannot be a credential name"):
        store.seal("../escape", b"x")
