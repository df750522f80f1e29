"""One kiosk process per data folder: an advisory lock (flock) on ``<data_dir>/.kiosk.lock``.

``kiosk run`` holds it for as long as it runs; ``kiosk-provision rotate-keys`` takes it before touching
the keys, so a running kiosk can never seal new rows with a key that is being replaced. The lock goes
with the process (a crash releases it); the file only names the holder's pid for the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from kiosk.errors import QueueError

LOCK_NAME = ".kiosk.lock"


class InstanceLock:
    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    @classmethod
    def take(cls, data_dir: Path, *, who: str = "the kiosk") -> InstanceLock:
        """The lock, or QueueError naming the process that holds it."""
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(data_dir / LOCK_NAME, "a+", encoding="ascii")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise QueueError(f"another kiosk process (pid {holder}) uses {data_dir}: stop it first "
                             f"(systemctl stop hospital-kiosk) before {who}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return cls(handle)

    def release(self) -> None:
        if not self._handle.closed:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
