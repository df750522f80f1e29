"""Outbox benchmark: durable enqueue against persist-queue's SQLiteAckQueue (same durability: WAL,
synchronous=FULL, a commit per item before acknowledging), and replay of queued settlements against the
sandbox gateway on loopback.

    .venv/bin/python bench/queue.py [--items 2000] [--replay 300] [--rounds 6]

Needs ``persist-queue`` (pip install persist-queue). Prints a table, then one JSON object on its last line:
``ours_per_s``, ``persist_queue_per_s``, ``ratio``, ``replay_per_s``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # this file is named queue.py: keep it from shadowing the standard library's queue

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kiosk.config import GatewayConfig, TerminalConfig  # noqa: E402
from kiosk.domain import CertType, IdentityDocument  # noqa: E402
from kiosk.settlement import SettlementService, run_plan  # noqa: E402

from bench.chaos import certno, seed_ledger  # noqa: E402
from drivers.gateway.client import HttpGateway, HttpHospitalSystem  # noqa: E402
from drivers.gateway.sandbox.server import SandboxGateway  # noqa: E402
from offline_queue.crypto import PayloadCipher, load_or_create_key  # noqa: E402
from offline_queue.msgids import SqliteMsgIdSource  # noqa: E402
from offline_queue.outbox import SqliteOutbox  # noqa: E402
from offline_queue.store import open_store  # noqa: E402

PAYLOAD = {"visit_id": "v", "insuplc_admdvs": "110101", "medfee_sumamt": "63.60", "steps": [
    {"infno": "2207", "msgid": "H11010100001202611221000000001", "output": None, "input": {"data": {
        "psn_no": "11000019560307001", "mdtrt_cert_type": "03", "mdtrt_cert_no": "A01234567", "med_type": "11",
        "medfee_sumamt": "63.60", "psn_setlway": "01", "mdtrt_id": "MD2026112200000001", "chrg_bchno": "B1",
        "acct_used_flag": "1", "insutype": "310"}}}]}


def bench_ours(folder: Path, items: int) -> float:
    store = open_store(folder / "ours.sqlite")
    outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(folder / "k")), lambda p, s: {},  # noqa: ARG005
                          max_open_items=items + 1)
    started = time.perf_counter()
    for i in range(items):
        outbox.enqueue(visit_id=f"v{i}", kind="settlement_plan", payload=PAYLOAD)
    elapsed = time.perf_counter() - started
    store.close()
    return items / elapsed


def bench_persist_queue(folder: Path, items: int) -> float:
    from persistqueue import SQLiteAckQueue

    queue = SQLiteAckQueue(str(folder / "pq"), auto_commit=True, multithreading=True)
    for conn in {queue._conn, queue._putter}:  # same durability as ours
        conn.execute("PRAGMA synchronous=FULL")
    assert queue._putter.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    started = time.perf_counter()
    for _ in range(items):
        queue.put(PAYLOAD)
    return items / (time.perf_counter() - started)


def bench_replay(folder: Path, count: int) -> float:
    """Prepare ``count`` visits online, queue their 2207s while 'offline', then time the drain."""
    seed_ledger(folder / "ledger.sqlite", count)
    sandbox = SandboxGateway(folder / "ledger.sqlite")
    sandbox.start()
    try:
        terminal = TerminalConfig()
        store = open_store(folder / "replay.sqlite")
        msgids = SqliteMsgIdSource(store, terminal.fixmedins_code)
        cfg = GatewayConfig(url=sandbox.service_url)
        gateway = HttpGateway(cfg, terminal, msgids)
        his = HttpHospitalSystem(cfg)
        outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(folder / "rk")),
                              lambda plan, save: run_plan(plan, gateway, save, msgids=msgids),
                              max_open_items=count + 1)
        service = SettlementService(gateway, outbox, msgids, terminal, dt.datetime.now)
        for i in range(count):
            doc = IdentityDocument(CertType.ID_CARD, certno(i), citizen_id=certno(i))
            person = service.identify(doc)
            fees = his.pending_fees(person)
            pre = service.prepare(person, doc, fees)
            service.queue_settlement(f"r{i}", person, doc, pre, fees)  # committed while "offline"
        started = time.perf_counter()
        while outbox.pending_count():
            outbox.drain(limit=500)
        elapsed = time.perf_counter() - started
        settled = len(sandbox.settlements())
        store.close()
    finally:
        sandbox.stop()
    if settled != count:
        raise SystemExit(f"replay settled {settled} of {count}")
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000, help="items enqueued by each queue")
    parser.add_argument("--replay", type=int, default=300, help="queued settlements replayed to the sandbox")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds per queue (medians are compared)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kiosk-queue-bench-"))
    per_round = max(1, args.items // args.rounds)  # alternating A B, B A, ... so neither side always gets the warmer disk
    runs_ours, runs_theirs = [], []
    for number in range(args.rounds):
        for side in ("ab" if number % 2 == 0 else "ba"):
            target = folder / f"{side}{number}"
            target.mkdir()
            if side == "a":
                runs_ours.append(bench_ours(target, per_round))
            else:
                runs_theirs.append(bench_persist_queue(target, per_round))
    ours, theirs = statistics.median(runs_ours), statistics.median(runs_theirs)
    replay = bench_replay(folder, args.replay)
    print(f"{'queue':<28} {'items':>6} {'durable enqueues/s':>19}")
    print(f"{'ours (encrypted payloads)':<28} {args.items:>6} {ours:>19.0f}   median of "
          + ", ".join(f"{r:.0f}" for r in runs_ours))
    print(f"{'persist-queue SQLiteAckQueue':<28} {args.items:>6} {theirs:>19.0f}   median of "
          + ", ".join(f"{r:.0f}" for r in runs_theirs))
    print(f"ratio ours / persist-queue: {ours / theirs:.2f}; replay: {replay:.0f} settlements/s")
    print(json.dumps({"ours_per_s": round(ours, 1), "persist_queue_per_s": round(theirs, 1),
                      "ratio": round(ours / theirs, 2), "replay_per_s": round(replay, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
