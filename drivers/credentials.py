"""The kiosk's secrets as systemd credentials: encrypted at rest with the machine's key (the TPM2 chip
where there is one, else ``/var/lib/systemd/credential.secret``, readable by root only), decrypted by
systemd only into the running service's private ``$CREDENTIALS_DIRECTORY`` (``LoadCredentialEncrypted=``).

A copy of the disk without the TPM (or without the host secret) opens nothing, and no plain key file lies
on disk for another process of the kiosk's user to read. ``systemd-creds`` does the cryptography
(AES-256-GCM, the credential's name bound into it, so a credential renamed to another name is refused).

One credential per file: ``<store>/<name>``, where ``name`` is the file name the service sees in
``$CREDENTIALS_DIRECTORY``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from kiosk.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")  # what systemd accepts as a credential name
TOOL = "systemd-creds"


def _tool() -> str:
    path = shutil.which(TOOL)
    if path is None:
        raise ConfigError("credential_store: systemd-creds is not installed (Debian: apt install systemd); "
                          "or leave credential_store empty to keep the keys in the key folder")
    return path


def _checked_name(name: str) -> str:
    if not NAME.match(name):
        raise ConfigError(f"credential_store: {name!r} cannot be a credential name (letters, digits, . _ -)")
    return name


class SystemdCredentialStore:
    """A folder of encrypted credentials (e.g. ``/etc/credstore.encrypted/hospital-kiosk``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_file() and not p.name.startswith("."))

    def path_of(self, name: str) -> Path:
        return self.folder / _checked_name(name)

    def seal(self, name: str, secret: bytes) -> Path:
        """Encrypt ``secret`` as credential ``name``, replacing an older one atomically."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path_of(name)
        temp = target.with_name(f".{target.name}.tmp")
        done = subprocess.run([_tool(), "encrypt", f"--name={name}", "-", str(temp)], input=secret,
                              capture_output=True, check=False, timeout=60)
        if done.returncode != 0:
            temp.unlink(missing_ok=True)
            raise ConfigError(f"credential_store: systemd-creds could not encrypt {name} "
                              f"({done.stderr.decode(errors='replace').strip() or done.returncode}); run as root")
        os.chmod(temp, 0o600)
        os.replace(temp, target)
        _fsync_folder(self.folder)
        return target

    def unseal(self, name: str) -> bytes:
        source = self.path_of(name)
        done = subprocess.run([_tool(), "decrypt", f"--name={name}", str(source), "-"], capture_output=True,
                              check=False, timeout=60)
        if done.returncode != 0:
            raise ConfigError(f"credential_store: cannot decrypt {source} "
                              f"({done.stderr.decode(errors='replace').strip() or done.returncode}): run as root on "
                              f"the machine that sealed it (the credential is bound to this machine's key)")
        return done.stdout

    def remove(self, name: str) -> None:
        self.path_of(name).unlink(missing_ok=True)
        _fsync_folder(self.folder)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
