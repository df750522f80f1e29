"""Replacing a private file (the roster, the site evidence) so that a crash or a full disk leaves the
previous one intact: a temporary file beside it (mode 0600), fsynced, then renamed over it."""

from __future__ import annotations

import os
from pathlib import Path


def replace_private_file(path: Path, data: bytes) -> None:
    """Raises OSError (the previous file unchanged, no temporary file left behind)."""
    temp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
