"""A simulated ESC/POS network printer (the twin of a thermal printer on TCP 9100): answers the real-time
status queries (DLE EOT 1 online, DLE EOT 4 paper sensor) like a printer, records what it is sent, and can
run out of paper (reported to status queries) or lose paper mid-print (drops the connection)."""

from __future__ import annotations

import socket
import threading

from drivers.background import BackgroundReader

DLE_EOT = b"\x10\x04"
ONLINE, OFFLINE = b"\x12", b"\x1a"  # bit 3 set = offline
PAPER_OK, PAPER_LOW, PAPER_OUT = b"\x12", b"\x1e", b"\x72"


class SimulatedNetworkPrinter(BackgroundReader):
    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self.received = bytearray()
        self.paper = PAPER_OK
        self.online = True
        self.fail_after_bytes: int | None = None  # paper runs out after this many bytes of a job
        super().__init__("sim-printer")

    def stop(self) -> None:
        self._stop.set()
        self._server.close()
        super().stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.5)
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                query = b""
                if len(data) >= 3 and data[-3:-1] == DLE_EOT:  # a real-time status query, maybe after data
                    data, query = data[:-3], data[-3:]
                if data and not self._print(conn, data):
                    return
                if query:
                    conn.sendall((ONLINE if self.online else OFFLINE) if query[2] == 1 else self.paper)

    def _print(self, conn: socket.socket, data: bytes) -> bool:
        """Take job bytes; False when the paper ran out part-way (the printer then drops the job)."""
        if self.fail_after_bytes is not None and len(self.received) + len(data) > self.fail_after_bytes:
            self.received += data[: max(0, self.fail_after_bytes - len(self.received))]
            self.paper = PAPER_OUT
            conn.shutdown(socket.SHUT_RDWR)  # the printer stops mid-job
            return False
        self.received += data
        return True
