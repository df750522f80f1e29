"""The terminal's keys as systemd credentials (config ``credential_store``): how install-service seals them,
how the service is told where systemd puts them, and how the technician's commands reach them.

- ``install-service`` seals every file of the key folder (device, outbox and roster keys, the site
  evidence) and the secret files the configuration names (gateway access secret, SM4 and SM2 keys, the
  payment key) into the store, one credential each, then deletes the key folder's plain copies. The unit
  loads them with ``LoadCredentialEncrypted=`` and points the kiosk at ``%d`` (its credentials directory).
- A technician's command (queue list, enroll-staff, rotate-keys, ...) run as root outside the service
  gets the credentials decrypted into a private folder in memory (``/dev/shm``, mode 0700) for the
  command's lifetime; whatever the command writes there (a roster key on first enrolment, a rotated key) is
  sealed back, and the folder is wiped when the command ends.
- ``kiosk run`` outside the service with the keys sealed away refuses to start rather than create new keys
  (which would leave every queued item unreadable).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path

from drivers.credentials import SystemdCredentialStore
from kiosk.config import KioskConfig
from kiosk.errors import ConfigError

SECRET_SETTINGS = (("gateway", "secret_file"), ("gateway", "sm4_key_file"), ("gateway", "sm2_key_file"),
                   ("payment", "key_file"))  # settings that name a secret file: sealed under "<section>.<key>"


def store_of(cfg: KioskConfig) -> SystemdCredentialStore | None:
    return SystemdCredentialStore(Path(cfg.credential_store)) if cfg.credential_store else None


def in_service() -> bool:
    """True inside a systemd service that was given credentials."""
    return bool(os.environ.get("CREDENTIALS_DIRECTORY"))


def seal_for_service(cfg: KioskConfig) -> tuple[list[str], list[str]]:
    """Seal the key folder and the configured secret files into the store; delete the key folder's plain
    copies once all are sealed. Returns (unit lines, what was done). Safe to run again."""
    store = store_of(cfg)
    if store is None:
        return [], []
    done: list[str] = []
    key_dir = cfg.key_path()
    plain = sorted(p for p in key_dir.iterdir() if p.is_file()) if key_dir.is_dir() else []
    for path in plain:
        store.seal(path.name, path.read_bytes())
    for section, key in SECRET_SETTINGS:
        value = getattr(getattr(cfg, section), key)
        if value:
            store.seal(f"{section}.{key}", Path(value).read_bytes())
            done.append(f"sealed {section}.{key} ({value}); delete that plain copy once the service runs")
    for path in plain:
        _wipe(path)
        done.append(f"sealed {path.name} and deleted {path}")
    return unit_lines(store), done


def unit_lines(store: SystemdCredentialStore) -> list[str]:
    names = store.names()
    lines = [f"LoadCredentialEncrypted={name}:{store.path_of(name)}" for name in names]
    if names:
        lines.append("Environment=KIOSK_KEY_DIR=%d")
    for section, key in SECRET_SETTINGS:
        if f"{section}.{key}" in names:
            lines.append(f"Environment=KIOSK_{section.upper()}_{key.upper()}=%d/{section}.{key}")
    return lines


class UnsealedKeys:
    """The store's credentials decrypted into a private folder in memory, for one technician command."""

    def __init__(self, store: SystemdCredentialStore) -> None:
        self.store = store
        shm = Path("/dev/shm")
        self.folder = Path(tempfile.mkdtemp(prefix="kiosk-keys-", dir=shm if shm.is_dir() else None))
        self._sealed: dict[str, str] = {}
        try:
            for name in store.names():
                secret = store.unseal(name)
                _write_private(self.folder / name, secret)
                self._sealed[name] = hashlib.sha256(secret).hexdigest()
        except BaseException:
            self.close(persist=False)
            raise

    def config(self, cfg: KioskConfig) -> KioskConfig:
        """``cfg`` with the key folder and the secret files pointing into the unsealed folder."""
        changes: dict[str, object] = {"key_dir": str(self.folder)}
        for section, key in SECRET_SETTINGS:
            if (self.folder / f"{section}.{key}").exists():
                part = changes.get(section, getattr(cfg, section))
                changes[section] = dataclasses.replace(part, **{key: str(self.folder / f"{section}.{key}")})
        return dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]

    def persist(self) -> list[str]:
        """Seal what changed in the folder since it was unsealed (new, changed, removed files)."""
        changed = []
        present = {p.name: p for p in self.folder.iterdir() if p.is_file()}
        for name, path in sorted(present.items()):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if self._sealed.get(name) != digest:
                self.store.seal(name, path.read_bytes())
                self._sealed[name] = digest
                changed.append(name)
        for name in sorted(set(self._sealed) - set(present)):
            self.store.remove(name)
            del self._sealed[name]
            changed.append(name)
        return changed

    def close(self, *, persist: bool = True) -> None:
        try:
            if persist and self.folder.exists():
                self.persist()
        finally:
            for path in self.folder.iterdir() if self.folder.exists() else ():
                _wipe(path)
            if self.folder.exists():
                self.folder.rmdir()


_OPEN: dict[str, UnsealedKeys] = {}


def technician_keys(cfg: KioskConfig) -> KioskConfig:
    """The config a technician's command works with: unchanged, or (keys sealed, outside the service)
    pointing into a private unsealed folder that is sealed back and wiped when the command ends."""
    store = store_of(cfg)
    if store is None or in_service() or not store.names():
        return cfg
    keys = UnsealedKeys(store)
    _OPEN[str(keys.folder)] = keys
    import atexit

    import click

    ctx = click.get_current_context(silent=True)
    (ctx.call_on_close if ctx is not None else atexit.register)(lambda: _OPEN.pop(str(keys.folder)).close())
    return keys.config(cfg)


def persist_keys(cfg: KioskConfig) -> list[str]:
    """Seal now what a command changed in its unsealed folder (rotate-keys: the next key, before any value
    is sealed with it). Nothing to do when the keys are plain files."""
    keys = _OPEN.get(cfg.key_dir)
    return keys.persist() if keys is not None else []


def refuse_sealed_without_service(cfg: KioskConfig) -> None:
    """``kiosk run`` by hand with the keys sealed away would create new keys; refuse and say how."""
    store = store_of(cfg)
    if store is None or in_service() or cfg.key_dir in _OPEN:
        return
    if store.names() and not (cfg.key_path() / "outbox.key").exists():
        raise ConfigError(f"credential_store: the keys are sealed as systemd credentials in {store.folder}; start "
                          f"the kiosk as its service (systemctl start hospital-kiosk), which decrypts them, not "
                          f"by hand (new keys would leave everything queued unreadable)")


def _write_private(path: Path, secret: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)


def _wipe(path: Path) -> None:
    """Overwrite, then delete. On a journaling or flash file system old blocks may survive the overwrite:
    the plain copy is gone from the file system, not necessarily from the medium (say so to the site)."""
    try:
        size = path.stat().st_size
        with open(path, "r+b") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        pass
    path.unlink(missing_ok=True)
