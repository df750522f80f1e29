"""The outbox acknowledges an item only after its bytes are on stable storage.

A process that is killed loses nothing SQLite handed to the kernel; only a power cut loses what was not
synced. So the proof watches the system calls (strace, a real tracer on the real child process): every
byte written to the WAL before the acknowledgement must be followed by an fdatasync/fsync of the WAL
before the acknowledgement is written. The same check on a child whose store skips the sync
(``synchronous=OFF``) fails: the check can fail. And a child killed right after acknowledging leaves an
item that a fresh process reads back."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from offline_queue.crypto import PayloadCipher, load_or_create_key
from offline_queue.outbox import SqliteOutbox
from offline_queue.store import open_store

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import os, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from offline_queue.crypto import PayloadCipher, load_or_create_key
from offline_queue.outbox import SqliteOutbox
from offline_queue.store import open_store
store = open_store(Path({db!r}))
if {unsafe!r}:
    store.db.execute("PRAGMA synchronous=OFF")
outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(Path({key!r}))), lambda p, s: {{}})
os.write(1, b"READY\\n")
ref = outbox.enqueue(visit_id="v1", kind="plan", payload={{"certno": "110101195603071239", "steps": []}})
os.write(1, ("ACK " + ref + "\\n").encode())
sys.stdin.readline()  # the parent kills us here
"""


def _run_traced(tmp_path: Path, *, unsafe: bool) -> tuple[list[str], str]:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace not installed (scripts/test.sh installs it): cannot watch the child's syscalls")
    db, key, log = tmp_path / "outbox.sqlite", tmp_path / "outbox.key", tmp_path / f"trace-{unsafe}.log"
    code = CHILD.format(root=str(ROOT), db=str(db), key=str(key), unsafe=unsafe)
    child = subprocess.Popen([strace, "-f", "-qq", "-e", "trace=openat,pwrite64,write,fdatasync,fsync", "-o", str(log),
                              sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        lines = [child.stdout.readline(), child.stdout.readline()]  # READY, then ACK: waits on the child
        assert lines[0] == "READY\n" and lines[1].startswith("ACK "), lines
        child.send_signal(signal.SIGKILL)  # no clean shutdown: killed right after the acknowledgement
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    return log.read_text().splitlines(), lines[1].split()[1]


def synced_before_ack(trace: list[str]) -> bool:
    """Every WAL write of the enqueue is followed by a sync of the WAL before the ACK is written."""
    wal_fds = {m.group(1) for line in trace if (m := re.search(r'openat\(.*-wal".*\)\s+=\s+(\d+)', line))}
    ready = next(i for i, line in enumerate(trace) if 'write(1, "READY' in line)
    ack = next(i for i, line in enumerate(trace) if 'write(1, "ACK ' in line)
    window = trace[ready:ack]
    writes = [i for i, line in enumerate(window) for fd in wal_fds if re.search(rf"pwrite64\({fd},", line)]
    syncs = [i for i, line in enumerate(window) for fd in wal_fds if re.search(rf"f(data)?sync\({fd}\)", line)]
    return bool(wal_fds and writes) and any(s > max(writes) for s in syncs)


@pytest.mark.slow
def test_an_item_is_synced_before_it_is_acknowledged_and_survives_a_kill(tmp_path: Path) -> None:
    trace, ref = _run_traced(tmp_path, unsafe=False)
    assert synced_before_ack(trace)
    store = open_store(tmp_path / "outbox.sqlite")  # a fresh process's view after the kill
    try:
        outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(tmp_path / "outbox.key")), lambda p, s: {})
        assert outbox.payload(ref)["certno"] == "110101195603071239" and outbox.pending_count() == 1
    finally:
        store.close()


@pytest.mark.slow
def test_the_check_fails_for_a_store_that_skips_the_sync(tmp_path: Path) -> None:
    trace, _ = _run_traced(tmp_path, unsafe=True)
    assert not synced_before_ack(trace)
