"""Chaos benchmark: settlements from a kiosk process that is killed (-9) at random moments, against a
sandbox gateway and payment platform (their own process) injecting random faults; then the outbox drains
and is compared with the ledger and the payment platform's books.

    .venv/bin/python bench/chaos.py --n 1000 [--rate 0.15] [--pay-rate 0.2] [--seed 1]

Each visit with an own share pays it first: the plan and its order are committed, the patient shows a
payment code (most), cancels on the screen, or walks away; the kiosk waits for the platform, then
settles. Kills fall anywhere, also between payment and settlement.

Prints progress, then one JSON object on its last line:
``settlements`` visits whose settlement (or paid plan) the kiosk committed, ``abandoned`` visits given up
after six tries before that (nothing charged; a patient would go to the counter), ``faults_injected``
(gateway: dropped before/after committing, late answer, HTTP 500/502, malformed JSON, business refusal,
refused connections) and ``payment_faults_injected`` (late confirmation, cancel in the app, lost and
duplicate notifications, lost answers, unavailable, refund refused once), ``kills``,
``lost`` (committed but not settled, or settled while the outbox says it did not), ``duplicated``
(a person with more than one active settlement), ``unresolved`` (items still open after the drain),
``charged_not_settled`` (a paid, unrefunded order without the visit's settlement of that own share),
``settled_not_charged`` (a settlement with an own share and no paid, unrefunded order of that amount),
``paid``, ``refunds``, ``closed_unpaid``; ``cross_province_settlements`` (persons insured in another province,
filed) and ``benefit_refused`` (cross-province persons never filed: 2001 refuses them, nothing registered);
``reversal_window_refusals``: cross-province settlements sent without an answer whose reversal (2601) the
gateway refused because its window had passed (``--reversal-window-s``, 2 s here, a day in production); the
kiosk hands each to staff (``needs_staff``), who look the msgid up in the insured region's books and record
``settled`` (checked by the kiosk with 5203) or ``not_settled`` (sent again): ``staff_found`` counts each.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # bench/queue.py must not shadow the standard library's queue in this process

import argparse
from collections import Counter
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
from kiosk.config import PaymentConfig  # noqa: E402
from kiosk.errors import BenefitRefused, GatewayError, PaymentError  # noqa: E402
from kiosk.paid_plan import run_paid_plan  # noqa: E402
from kiosk.payment import CLOSED, PAID  # noqa: E402
from kiosk.identity import citizen_id_check_char  # noqa: E402
from kiosk.settlement import SettlementService  # noqa: E402
from kiosk.staff_resolution import not_settled, settled_as  # noqa: E402

from drivers.gateway.client import HttpGateway, HttpHospitalSystem  # noqa: E402
from drivers.gateway.sandbox.ledger import open_ledger  # noqa: E402
from drivers.payment.platform_client import PlatformPaymentGateway  # noqa: E402
from offline_queue.crypto import PayloadCipher, load_or_create_key  # noqa: E402
from offline_queue.msgids import SqliteMsgIdSource  # noqa: E402
from offline_queue.outbox import SqliteOutbox  # noqa: E402
from offline_queue.store import open_store  # noqa: E402


def certno(i: int) -> str:
    first17 = f"110101{1950 + i % 50:04d}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return first17 + citizen_id_check_char(first17)


def insured_in(i: int) -> str:
    """Where chaos person ``i`` is insured: one in four in Guangdong (cross-province, filed), one in ten in
    Sichuan (cross-province, never filed: the benefit check refuses them before anything is registered),
    the rest where the kiosk stands."""
    return "510104" if i % 10 == 3 else "440106" if i % 4 == 1 else "110101"


def seed_ledger(path: Path, n: int) -> None:
    conn = open_ledger(path)
    conn.execute("BEGIN")
    for i in range(n):
        cert = certno(i)
        balance = "50.00" if i % 4 == 0 else "5.00"  # three in four have an own share to pay before 2207
        conn.execute("INSERT INTO persons VALUES (?, ?, ?, '1', '1980-01-01', ?, '', '310', ?, ?, '')",
                     (f"CH{i:015d}", cert, f"测试{i}", f"CHAOS{i:06d}", balance, insured_in(i)))
        conn.execute("INSERT INTO person_status (psn_no, filed) VALUES (?, ?)",
                     (f"CH{i:015d}", int(insured_in(i) == "440106")))
        conn.execute("INSERT INTO his_fees VALUES (?, 'F1', '诊查费', 'c1', 'm1', '1', '25.00', NULL)", (cert,))
        conn.execute("INSERT INTO his_fees VALUES (?, 'F2', '血常规', 'c2', 'm2', '2', '19.30', NULL)", (cert,))
    conn.execute("COMMIT")
    conn.close()


PAYMENT_SCREEN_S = 2.0  # how long the (bench's) payment screen waits; the outbox closes the order 0.5 s later
PAYMENT_KEY = b"chaos-bench-merchant-key-0001"


def kiosk_parts(data: Path, url: str) -> tuple[SettlementService, SqliteOutbox, HttpHospitalSystem]:
    terminal = TerminalConfig()
    store = open_store(data / "outbox.sqlite")
    msgids = SqliteMsgIdSource(store, terminal.fixmedins_code)
    cfg = GatewayConfig(url=url, connect_timeout_s=1.0, read_timeout_s=1.0)
    gateway = HttpGateway(cfg, terminal, msgids)
    payments = PlatformPaymentGateway(PaymentConfig(), cfg, PAYMENT_KEY, url.split("/fsi/")[0])
    outbox = SqliteOutbox(store, PayloadCipher(load_or_create_key(data / "outbox.key")),
                          lambda plan, save: run_paid_plan(plan, gateway, payments, save, msgids=msgids, now=time.time),
                          lease_s=5.0, retry_base_s=0.05, retry_max_s=1.0)
    service = SettlementService(gateway, outbox, msgids, terminal, dt.datetime.now, payments=payments,
                                payment_timeout_s=PAYMENT_SCREEN_S, payment_grace_s=0.5)
    return service, outbox, HttpHospitalSystem(cfg)


def pay_own_share(service: SettlementService, visit: str, i: int, person: object, doc: IdentityDocument, pre: object,
                  fees: tuple, rng: random.Random) -> None:
    """The payment screen: the order (plan first), then the patient's choice, then settle or close."""
    reference, order = service.open_payment(visit, person, doc, pre, fees)  # type: ignore[arg-type]
    choice = rng.random()
    if choice < 0.05:  # walks away: the outbox closes the order after its deadline
        return
    if choice < 0.10:  # presses "cancel payment"
        service.abandon_payment(reference, order)
        return
    try:
        status = service.pay_with_code(order, f"13{i:016d}")
    except PaymentError:
        status = None  # declined or unknown: the screen waits and asks
    deadline = time.monotonic() + PAYMENT_SCREEN_S
    while (status is None or status.state not in (PAID, CLOSED)) and time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            status = service.query_payment(order)
        except PaymentError:
            status = None
    if status is not None and status.state == PAID:
        service.settle_paid(reference)
    else:
        service.abandon_payment(reference, order)


def worker(data: Path, url: str, n: int, seed: int) -> int:
    """The kiosk process: one visit per person, in order, resuming after a kill."""
    service, outbox, his = kiosk_parts(data, url)
    rng = random.Random(seed * 7919 + os.getpid())
    done = {item["visit_id"] for item in outbox.items(limit=10 * n + 1000)}
    left = data / "left-without-a-plan.txt"  # visits that ended with nothing committed (refused, given up)
    done |= set(left.read_text().split()) if left.exists() else set()
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
                try:
                    service.check_benefit(person)
                except BenefitRefused:
                    _left(left, visit)
                    break  # not filed: the counter, nothing registered (counted as benefit_refused)
                pre = service.prepare(person, doc, fees)
                if pre.amounts.psn_cash_pay > 0:
                    pay_own_share(service, visit, i, person, doc, pre, fees, rng)
                else:
                    service.settle(visit, person, doc, pre, fees)
                break
            except (GatewayError, PaymentError):
                if visit in {item["visit_id"] for item in outbox.items(limit=50)}:
                    break  # the plan is committed: the outbox finishes it, the patient does not pay twice
                time.sleep(0.1 * (1 + attempt))  # as a patient pressing "try again": outlasts a refusal window
                continue
        else:
            _left(left, visit)  # six tries failed before anything was committed: the patient goes to the counter
        outbox.drain(limit=20)
    return 0


def _left(path: Path, visit: str) -> None:
    """Remember a visit that ended without a plan, so the next kiosk life does not live it again (without
    this, each life re-checked every refused person before it and was killed before reaching new ones)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (visit + "\n").encode())  # one small append: a kill leaves the line whole or absent
    finally:
        os.close(fd)


def drain(data: Path, url: str, timeout_s: float) -> None:
    """Deliver until nothing is left that the kiosk can finish by itself (items waiting on staff stay)."""
    _, outbox, _ = kiosk_parts(data, url)
    deadline = time.monotonic() + timeout_s

    def open_items() -> int:
        counts = outbox.counts()
        return sum(counts.get(state, 0) for state in ("pending", "in_flight", "ambiguous"))

    while open_items() and time.monotonic() < deadline:
        outbox.drain(limit=200)
        time.sleep(0.1)


def staff(data: Path, url: str, ledger: Path) -> Counter:
    """Staff at the counter, for each item waiting on them (a cross-province settlement sent without an
    answer whose reversal the gateway refused, past its window): they look the msgid up in the insured
    region's books (here the sandbox's ledger, read-only) and record what they found, as
    ``kiosk-provision queue resolve`` does; the kiosk checks a "settled" finding with 5203 itself."""
    service, outbox, _ = kiosk_parts(data, url)
    books = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    found: Counter = Counter()
    for item in outbox.items(limit=1_000_000):
        if item["state"] != "needs_staff":
            continue
        plan = outbox.payload(item["reference"])
        step = next(s for s in plan["steps"] if s.get("reversal_refused") and s.get("output") is None)
        row = books.execute("SELECT setl_id FROM settlements WHERE msgid = ? AND reversed = 0 AND refunded = 0",
                            (step["msgid"],)).fetchone()
        gateway, msgids = service._gateway, service._msgids  # the same parts the technician's command builds
        outbox.staff_finding(item["reference"], settled_as(row[0], gateway, msgids) if row else not_settled(msgids))
        found["settled" if row else "not_settled"] += 1
    books.close()
    return found


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
    parser.add_argument("--pay-rate", type=float, default=0.2, help="share of payment platform requests given a fault")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-kill-gap-s", type=float, default=4.0, help="longest life of a kiosk process")
    parser.add_argument("--reversal-window-s", type=float, default=2.0,
                        help="cross-province 2207s can be reversed only this long after they were made")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.data, args.url, args.n, args.seed)

    started = time.monotonic()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kiosk-chaos-"))
    ledger = work / "ledger.sqlite"
    seed_ledger(ledger, args.n)
    sandbox = subprocess.Popen([sys.executable, "-m", "drivers.gateway.sandbox", "--ledger", str(ledger),
                                "--payment-key", PAYMENT_KEY.decode()], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    base = sandbox.stdout.readline().strip()
    url = base + "/fsi/api/rsfComIfsService/callService"
    post(base, "/admin/faults", {"random": {"rate": args.rate, "kinds": list(FAULT_KINDS), "seed": args.seed,
                                            "delay_s": 1.3, "refuse_s": 0.5}})
    post(base, "/admin/pay/faults", {"random": {"rate": args.pay_rate, "seed": args.seed, "delay_s": 1.0}})
    post(base, "/admin/reversal-window", {"seconds": args.reversal_window_s})
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
        pay_injected = post(base, "/admin/pay/faults", {"clear": True})["injected"]
        drain(work, url, timeout_s=180)
        found = staff(work, url, ledger)
        drain(work, url, timeout_s=60)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    result = compare(work, ledger, args.n)
    result.update(faults_injected=sum(injected.values()), faults_by_kind=injected,
                  payment_faults_injected=sum(pay_injected.values()), payment_faults_by_kind=pay_injected,
                  kills=kills, reversal_window_refusals=sum(found.values()), staff_found=dict(found),
                  seconds=round(time.monotonic() - started, 1), work_dir=str(work))
    print(f"{args.n} visits, {kills} kills, {result['faults_injected']} gateway faults {injected}, "
          f"{result['payment_faults_injected']} payment faults {pay_injected}")
    print(json.dumps(result))
    bad = ("lost", "duplicated", "unresolved", "charged_not_settled", "settled_not_charged")
    return 0 if all(result[k] == 0 for k in bad) else 1


def compare(work: Path, ledger: Path, n: int) -> dict[str, object]:
    outbox = sqlite3.connect(work / "outbox.sqlite")
    states = {visit: state for visit, state in outbox.execute("SELECT visit_id, state FROM items")}
    cipher = PayloadCipher(load_or_create_key(work / "outbox.key"))
    order_visit = {}  # the kiosk's own record of which visit each order belongs to (the committed plans)
    for visit, sealed in outbox.execute("SELECT visit_id, payload FROM items"):
        plan = json.loads(cipher.open(sealed))
        if plan.get("payment"):
            order_visit[plan["payment"]["order_no"]] = visit
    book = sqlite3.connect(ledger)
    active: dict[str, list[str]] = {}  # person -> own shares of their active settlements
    for psn_no, cash in book.execute("SELECT psn_no, psn_cash_pay FROM settlements WHERE reversed = 0 AND refunded = 0"):
        active.setdefault(psn_no, []).append(f"{float(cash):.2f}")
    kept: dict[str, list[str]] = {}  # visit -> amounts of paid orders that were not refunded
    paid = refunds = closed = charged_not_settled = 0
    for order_no, state, amount in book.execute("SELECT order_no, state, amount FROM pay_orders"):
        refunds += state == "REFUND"
        closed += state == "CLOSED"
        paid += state in ("SUCCESS", "REFUND")
        if state == "SUCCESS":
            visit = order_visit.get(order_no)
            if visit is None:
                charged_not_settled += 1  # money taken for no visit the kiosk knows
            else:
                kept.setdefault(visit, []).append(f"{float(amount):.2f}")
    lost = duplicated = unresolved = settled_not_charged = 0
    for i in range(n):
        shares = active.get(f"CH{i:015d}", [])
        settled, state, charged = len(shares), states.get(f"c{i}"), kept.get(f"c{i}", [])
        duplicated += settled > 1
        charged_not_settled += sum((Counter(charged) - Counter(shares)).values())
        settled_not_charged += sum((Counter(s for s in shares if float(s) > 0) - Counter(charged)).values())
        if state is None:
            lost += settled > 0  # settled at the gateway with no record on the kiosk
        elif state == "done":
            lost += settled == 0
        elif state in ("failed", "cancelled"):
            lost += settled > 0
        else:
            unresolved += 1
    refused = sum(1 for i in range(n) if insured_in(i) == "510104" and f"c{i}" not in states)
    cross = sum(1 for i in range(n) if insured_in(i) == "440106" and f"c{i}" in states)
    return {"settlements": len(states), "abandoned": n - len(states) - refused, "benefit_refused": refused,
            "cross_province_settlements": cross, "lost": lost, "duplicated": duplicated,
            "unresolved": unresolved, "charged_not_settled": charged_not_settled,
            "settled_not_charged": settled_not_charged, "paid": paid, "refunds": refunds, "closed_unpaid": closed,
            "outbox_states": {s: list(states.values()).count(s) for s in set(states.values())}}


if __name__ == "__main__":
    sys.exit(main())
