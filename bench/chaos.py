"""Chaos benchmark: settlements from a kiosk process that is killed (-9) at random moments, against a
sandbox gateway (its own process) injecting random faults; then the outbox drains and is compared with
the ledger.

    .venv/bin/python bench/chaos.py --n 1000 [--rate 0.15] [--seed 1]

Prints progress, then one JSON object on its last line:
``settlements`` visits whose settlement the kiosk committed, ``abandoned`` visits given up after six
tries before settlement (nothing charged; a patient would go to the counter), ``faults_injected``
(dropped before/after committing, late answer, HTTP 500/502, malformed JSON, business refusal, refused
connections), ``kills``,
``lost`` (committed but not settled, or settled while the outbox says it failed), ``duplicated``
(a person with more than one active settlement), ``unresolved`` (items still open after the drain).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # bench/queue.py must not shadow the standard library's queue in this process

import argparse
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import subprocess
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drivers.gateway.sandbox.faults import KINDS as FAULT_KINDS  # noqa: E402
from kiosk.config import GatewayConfig, TerminalConfig  # noqa: E402
from kiosk.domain import CertType, IdentityDocument  # noqa: E402
from kiosk.errors import GatewayError  # noqa: E402
from kiosk.identity import citizen_id_check_char  # noqa: E402
from kiosk.settlement import SettlementService, run_plan  # noqa: E402

from drivers.gateway.client import HttpGateway, HttpHospitalSystem  # noqa: E402
from drivers.gateway.sandbox.ledger import open_ledger  # noqa: E402
from offline_queue.crypto import PayloadCipher, load_or_create_key  # noqa: E402
from offline_queue.msgids import SqliteMsgIdSource  # noqa: E402
from offline_queue.outbox import SqliteOutbox  # noqa: E402
from offline_queue.store import open_store  # noqa: E402


def certno(i: int) -> str:
    first17 = f"110101{1950 + i % 50:04d}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return first17 + citizen_id_check_char(first17)


def seed_ledger(path: Path, n: int) -> None:
    conn = open_ledger(path)
    conn.execute("BEGIN")
    for i in range(n):
        cert = certno(i)
        conn.execute("INSERT INTO persons VALUES (?, ?, ?, '1', '1980-01-01', ?, '', '310', '50.00', '110101', '')",
                     (f"CH{i:015d}", cert, f"测试{i}", f"CHAOS{i:06d}"))
        conn.execute("INSERT INTO his_fees VALUES (?, 'F1', '诊查费', 'c1', 'm1', '1', '25.00', NULL)", (cert,))
        conn.execute("INSERT INTO his_fees VALUES (?, 'F2', '血常规', 'c2', 'm2', '2', '19.30', NULL)", (cert,))
    conn.execute("COMMIT")
    conn.close()


def kiosk_parts(data: Path, url: str) -> tuple[SettlementService, SqliteOutbox, HttpHospitalSystem]:
    terminal = TerminalConfig()
    store = open_store(data / "outbox.sqlite")
    msgids = SqliteMsgIdSource(store, terminal.fixmedins_code)
    cfg = GatewayConfig(url=url, connect_timeout_s=1.0, read_timeout_s=1.0)
    gateway = HttpGateway(cfg, terminal, msgids)
    outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(data / "outbox.key")),
                          lambda plan, save: run_plan(plan, gateway, save, msgids=msgids),
                          lease_s=5.0, retry_base_s=0.05, retry_max_s=1.0)
    return SettlementService(gateway, outbox, msgids, terminal, dt.datetime.now), outbox, HttpHospitalSystem(cfg)


def worker(data: Path, url: str, n: int) -> int:
    """The kiosk process: one visit per person, in order, resuming after a kill."""
    service, outbox, his = kiosk_parts(data, url)
    done = {item["visit_id"] for item in outbox.items(limit=10 * n + 1000)}
    for i in range(n):
        visit = f"c{i}"
        if visit in done:
            continue
        for attempt in range(6):  # the patient tries again when a step before settlement fails
            try:
                doc = IdentityDocument(CertType.ID_CARD, certno(i), citizen_id=certno(i))
                person = service.identify(doc)
                fees = his.pending_fees(person)
                if not fees:
                    break  # paid in an earlier life of this process: nothing left to settle
                pre = service.prepare(person, doc, fees)
                service.settle(visit, person, doc, pre, fees)
                break
            except GatewayError:
                time.sleep(0.1 * (1 + attempt))  # as a patient pressing "try again": outlasts a refusal window
                continue
        outbox.drain(limit=20)
    return 0


def drain(data: Path, url: str, timeout_s: float) -> None:
    _, outbox, _ = kiosk_parts(data, url)
    deadline = time.monotonic() + timeout_s
    while outbox.pending_count() and time.monotonic() < deadline:
        outbox.drain(limit=200)
        time.sleep(0.1)


def post(url: str, path: str, body: dict[str, object]) -> dict[str, object]:
    """An admin call; it waits out a refusal window the sandbox may be in (the ``refuse`` fault)."""
    import requests

    deadline = time.monotonic() + 30
    while True:
        try:
            return dict(requests.post(url + path, data=json.dumps(body), timeout=10).json())
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="settlements (one visit per person)")
    parser.add_argument("--rate", type=float, default=0.15, help="share of gateway requests given a fault")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-kill-gap-s", type=float, default=4.0, help="longest life of a kiosk process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.data, args.url, args.n)

    started = time.monotonic()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kiosk-chaos-"))
    ledger = work / "ledger.sqlite"
    seed_ledger(ledger, args.n)
    sandbox = subprocess.Popen([sys.executable, "-m", "drivers.gateway.sandbox", "--ledger", str(ledger)],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    base = sandbox.stdout.readline().strip()
    url = base + "/fsi/api/rsfComIfsService/callService"
    post(base, "/admin/faults", {"random": {"rate": args.rate, "kinds": list(FAULT_KINDS), "seed": args.seed,
                                            "delay_s": 1.3, "refuse_s": 0.5}})
    kills = 0
    try:
        while True:
            kiosk = subprocess.Popen([sys.executable, __file__, "--worker", "--data", str(work), "--url", url,
                                      "--n", str(args.n)], cwd=ROOT)
            try:
                code = kiosk.wait(timeout=rng.uniform(0.3, args.max_kill_gap_s))
            except subprocess.TimeoutExpired:
                os.kill(kiosk.pid, signal.SIGKILL)
                kiosk.wait()
                kills += 1
                continue
            if code != 0:
                raise SystemExit(f"kiosk process failed with {code}")
            break
        injected = post(base, "/admin/faults", {"clear": True})["injected"]
        drain(work, url, timeout_s=120)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    result = compare(work, ledger, args.n)
    result.update(faults_injected=sum(injected.values()), faults_by_kind=injected, kills=kills,
                  seconds=round(time.monotonic() - started, 1), work_dir=str(work))
    print(f"{args.n} visits, {kills} kills, {result['faults_injected']} faults {injected}")
    print(json.dumps(result))
    return 0 if result["lost"] == result["duplicated"] == result["unresolved"] == 0 else 1


def compare(work: Path, ledger: Path, n: int) -> dict[str, object]:
    outbox = sqlite3.connect(work / "outbox.sqlite")
    states = {visit: state for visit, state in outbox.execute("SELECT visit_id, state FROM items")}
    book = sqlite3.connect(ledger)
    active: dict[str, int] = {}
    for (psn_no,) in book.execute("SELECT psn_no FROM settlements WHERE reversed = 0 AND refunded = 0"):
        active[psn_no] = active.get(psn_no, 0) + 1
    lost = duplicated = unresolved = 0
    for i in range(n):
        settled = active.get(f"CH{i:015d}", 0)
        state = states.get(f"c{i}")
        duplicated += settled > 1
        if state is None:
            lost += settled > 0  # settled at the gateway with no record on the kiosk
        elif state == "done":
            lost += settled == 0
        elif state == "failed":
            lost += settled > 0
        else:
            unresolved += 1
    return {"settlements": len(states), "abandoned": n - len(states), "lost": lost, "duplicated": duplicated,
            "unresolved": unresolved, "outbox_states": {s: list(states.values()).count(s) for s in set(states.values())}}


if __name__ == "__main__":
    sys.exit(main())
