"""Run by tests/test_interrupted_visit.py as its own process, to be killed with SIGKILL while its 2207 is in
flight: the kiosk's services on the configuration in the environment (KIOSK_*), the demo card's patient
identified, the fees tried (2206), then the settlement through the outbox (2207), waiting for the answer."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers.camera.replay import ReplayCamera  # noqa: E402
from drivers.card.virtual_card import load_holders  # noqa: E402
from kiosk.config import load_config  # noqa: E402
from kiosk.identity import document_from_card  # noqa: E402
from scripts.composition import build_services, demo_portrait  # noqa: E402


def main() -> None:
    services = build_services(load_config(None, os.environ), camera=ReplayCamera([demo_portrait()], fps=30))
    doc = document_from_card(load_holders()["demo"], dt.date.today())
    person = services.settlement.identify(doc)
    fees = services.his.pending_fees(person)
    pre = services.settlement.prepare(person, doc, fees)
    print("settling", flush=True)
    services.settlement.settle(sys.argv[1], person, doc, pre, fees)
    print("answered", flush=True)  # never reached: the test kills the process first


if __name__ == "__main__":
    main()
