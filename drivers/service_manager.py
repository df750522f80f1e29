"""Talking to systemd as a ``Type=notify`` service (sd_notify's protocol, without libsystemd): READY=1 once
the window is on the screen (ui.app.when_on_screen: after its first expose), WATCHDOG=1 pings while the GUI
thread is alive (``WatchdogSec=`` in the unit: a frozen GUI stops the pings and systemd restarts the
kiosk), STOPPING=1 on the way out. Without ``NOTIFY_SOCKET`` (not started by systemd) every call does
nothing. Its twin for tests is a datagram socket bound where ``NOTIFY_SOCKET`` points
(tests/test_kiosk_session.py)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class ServiceManager:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET", "")
        self._address = ("\0" + path[1:]) if path.startswith("@") else path  # "@": Linux abstract namespace
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None

    @property
    def active(self) -> bool:
        return bool(self._address)

    def ping_interval_ms(self) -> int | None:
        """How often to send WATCHDOG=1: half the watchdog time, as sd_notify(3) advises; None: no watchdog."""
        return None if self.watchdog_s is None else max(100, int(self.watchdog_s * 1000 / 2))

    def notify(self, message: str) -> None:
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode("utf-8"), self._address)
        except OSError as exc:  # the manager went away: nothing to tell, nothing to stop for
            log.warning("cannot notify the service manager: %s", exc)

    def ready(self, status: str = "") -> None:
        self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def ping(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")
