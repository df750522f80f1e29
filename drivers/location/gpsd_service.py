"""Start a private gpsd reading one device (tests, demo, the technician's field check).

A hospital workstation runs the system gpsd (``systemctl enable gpsd``); this is for everything else.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from kiosk.errors import LocationUnavailable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class GpsdProcess:
    def __init__(self, device: str, port: int | None = None) -> None:
        binary = shutil.which("gpsd") or next((p for p in ("/usr/sbin/gpsd", "/sbin/gpsd") if Path(p).exists()), None)
        if binary is None:
            raise LocationUnavailable("gpsd is not installed (apt install gpsd gpsd-clients; scripts/setup.sh does)")
        self.port = port or free_port()
        self._control = Path(tempfile.mkdtemp(prefix="kiosk-gpsd-")) / "gpsd.sock"
        # -N foreground, -n poll at once, -b read-only (never reconfigure the receiver), -G loopback only
        self._process = subprocess.Popen([binary, "-N", "-n", "-b", "-S", str(self.port), "-F", str(self._control),
                                          device], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self._process.poll() is not None:
                    raise LocationUnavailable(f"gpsd exited at start ({self._process.returncode})") from None
                time.sleep(0.05)
        self.stop()
        raise LocationUnavailable("gpsd did not start listening within 5 s")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
