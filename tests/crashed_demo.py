"""A demo kiosk killed while its settlement (2207) is in flight, on a data folder that outlives it: for the
tests that bring the kiosk back (under systemd, under cage) and expect that visit's outcome first."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests

from tests.processes import descendants

ROOT = Path(__file__).resolve().parents[1]


class LogWatch:
    """Reads a process's log as it is written (drained, so the process never blocks on a full pipe) and
    hands over the first match of a pattern once it is logged."""

    def __init__(self, stream: IO[str], pattern: str) -> None:
        self.lines: list[str] = []
        self.match = ""
        self._pattern = re.compile(pattern)
        self._found = threading.Event()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)
            found = self._pattern.search(line)
            if found and not self.match:
                self.match = found.group(1)
                self._found.set()
        self._found.set()  # the process ended

    def wait(self, timeout_s: float) -> str:
        self._found.wait(timeout_s)
        assert self.match, "".join(self.lines[-40:])
        return self.match


def rows(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(query).fetchall()


@dataclass(frozen=True)
class Interrupted:
    visit_id: str
    reference: str  # the settlement plan's outbox item


def kill_during_2207(command: list[str], env: dict[str, str], data: Path) -> Interrupted:
    """Run ``command`` (a ``kiosk ... demo --autopilot`` on ``data``), make its gateway settle the 2207 and
    hold the answer back, and kill the kiosk (SIGKILL, and everything it started, as systemd does to a
    unit's leftovers) once the gateway's ledger holds the settlement."""
    first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    ledger = data / "sandbox-ledger.sqlite"
    try:
        assert first.stderr is not None
        url = LogWatch(first.stderr, r"demo: sandbox gateway (https?://[^,\s]+)").wait(120)
        requests.post(url + "/admin/faults", json={"faults": [{"kind": "delay", "infno": "2207", "delay_s": 600}]},
                      timeout=10).raise_for_status()
        deadline = time.monotonic() + 120
        while not (ledger.exists() and rows(ledger, "SELECT setl_id FROM settlements")):
            assert first.poll() is None and time.monotonic() < deadline, "no settlement: the visit did not get there"
            time.sleep(0.1)  # polling the ledger file: the gateway has no event for a settlement
        for pid in [first.pid, *descendants(first.pid)]:
            os.kill(pid, signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    items = rows(data / "outbox.sqlite", "SELECT reference, state FROM items WHERE kind = 'settlement_plan'")
    assert [state for _, state in items] == ["in_flight"], items  # it died waiting for the answer
    (visit_id,) = rows(data / "outbox.sqlite", "SELECT visit_id FROM open_visit")[0]
    return Interrupted(visit_id, items[0][0])


def standing_settlements(data: Path) -> list[tuple]:
    """The gateway's settlements not reversed (an unanswered 2207 is reversed under its msgid, 2601, and
    settled afresh: one stands)."""
    return rows(data / "sandbox-ledger.sqlite", "SELECT setl_id FROM settlements WHERE reversed = 0")
