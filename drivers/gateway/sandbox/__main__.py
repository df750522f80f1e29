"""Run the sandbox gateway on its own: ``python -m drivers.gateway.sandbox --ledger FILE [--port N]``."""

from __future__ import annotations

import argparse
import signal
import threading

from drivers.gateway.sandbox.server import SandboxGateway


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ledger", required=True, help="SQLite ledger file (created and seeded if new)")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--payment-key", default="", help="the payment platform's merchant key (default: random)")
    args = parser.parse_args()
    sandbox = SandboxGateway(args.ledger, port=args.port, payment_key=args.payment_key.encode("ascii") or None)
    print(sandbox.start(), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    sandbox.stop()


if __name__ == "__main__":
    main()
