"""Card benchmark: insert and read N virtual cards through real pcscd (vpcd driver) and pyscard.

    .venv/bin/python bench/card.py [--n 200]

Per card: detect = card connected to the virtual reader -> insert event in the app;
read = insert event -> parsed identity; end to end = connected -> parsed.
Prints a table, then one JSON object on its last line.

pcscd polls the vpcd reader on a fixed clock (pcsc-lite's status poll rate, ~400 ms here). Removal is seen
on a tick, so inserting the next card at once would always land just after a tick and wait a whole period:
the gap before each insertion is drawn at random (seeded) so cards arrive at any phase, as patients do.
``detect_max_ms`` shows the period.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.card.pcsc_reader import PcscCardReader, ReaderState  # noqa: E402
from drivers.card.pcscd_service import isolate_this_process, start_pcscd  # noqa: E402
from drivers.card.virtual_card import VirtualSocialSecurityCard, load_holders  # noqa: E402
from drivers.card.vpcd_card import VpcdCardSession  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="cards to insert and read")
    parser.add_argument("--seed", type=int, default=7, help="seed of the random gaps between cards")
    args = parser.parse_args()
    isolate_this_process()  # its own pcscd: never the machine's reader or another run's card
    pcscd = start_pcscd()
    reader = PcscCardReader(poll_timeout_ms=1000)
    inserted = threading.Event()
    reader.set_listener(inserted.set, lambda: None)
    reader.start()
    if not reader.wait_for_state(ReaderState.EMPTY, timeout_s=10):
        print(json.dumps({"error": f"reader not ready: {reader.state.value}"}))
        return 1
    holders = list(load_holders().values())
    gaps = random.Random(args.seed)
    detect, read, total, ok = [], [], [], 0
    try:
        for i in range(args.n):
            expected = holders[i % len(holders)]
            inserted.clear()
            session = VpcdCardSession(VirtualSocialSecurityCard(expected), port=pcscd.port)
            session.insert()
            if not inserted.wait(5):
                session.remove()
                continue
            event_at = reader.inserted_at
            identity = reader.read_identity()
            done = time.monotonic()
            ok += identity == expected
            detect.append((event_at - session.inserted_at) * 1000)
            read.append((done - event_at) * 1000)
            total.append((done - session.inserted_at) * 1000)
            session.remove()
            reader.wait_for_state(ReaderState.EMPTY, timeout_s=5)
            time.sleep(gaps.uniform(0.0, 0.5))
    finally:
        reader.close()
        pcscd.stop()
    result = {
        "reads": args.n, "ok": ok,
        "detect_median_ms": round(statistics.median(detect), 1) if detect else None,
        "read_median_ms": round(statistics.median(read), 1) if read else None,
        "median_ms": round(statistics.median(total), 1) if total else None,
        "p95_ms": round(percentile(total, 0.95), 1) if total else None,
        "detect_max_ms": round(max(detect), 1) if detect else None,
    }
    print(f"{'cards':>8} {'ok':>5} {'detect med':>11} {'read med':>9} {'e2e med':>8} {'e2e p95':>8}")
    print(f"{args.n:>8} {ok:>5} {result['detect_median_ms']:>11} {result['read_median_ms']:>9} "
          f"{result['median_ms']:>8} {result['p95_ms']:>8}   (ms)")
    print(json.dumps(result))
    return 0 if ok == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
