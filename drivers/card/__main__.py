"""Field check: put a virtual social-security card into pcscd's virtual reader (vpcd).

    python -m drivers.card --holder demo [--fault mute] [--holders FILE] [--seconds 30]

The card stays inserted for ``--seconds`` (Ctrl-C removes it). With pcscd and
vsmartcard-vpcd installed, the kiosk (or ``pcsc_scan``) sees it like a real card.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kiosk.errors import KioskError

from drivers.card.virtual_card import Fault, VirtualSocialSecurityCard, load_holders
from drivers.card.pcscd_service import system_vpcd_port
from drivers.card.vpcd_card import VpcdCardSession


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m drivers.card", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holder", default="demo", help="key of the card holder in the holders file")
    parser.add_argument("--holders", type=Path, help="TOML file of card holders (default: the bundled demo holders)")
    parser.add_argument("--fault", choices=[f.value for f in Fault], default="none", help="fault to inject")
    parser.add_argument("--port", type=int, default=system_vpcd_port(),
                        help="vpcd TCP port (default: the one /etc/reader.conf.d/vpcd names)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the card stays inserted")
    args = parser.parse_args()
    holders = load_holders(args.holders)
    if args.holder not in holders:
        print(f"unknown holder {args.holder!r}; known: {', '.join(sorted(holders))}", file=sys.stderr)
        return 2
    session = VpcdCardSession(VirtualSocialSecurityCard(holders[args.holder], fault=Fault(args.fault)),
                              port=args.port)
    try:
        session.insert()
    except KioskError as exc:
        print(f"{exc} - is pcscd running with vsmartcard-vpcd?", file=sys.stderr)
        return exc.exit_status
    print(f"card {args.holder} inserted into the virtual reader on port {args.port} for {args.seconds:.0f} s")
    try:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and session.present:
            time.sleep(0.1)
    except KeyboardInterrupt:
        print("interrupted")  # Ctrl-C removes the card, as the help says
    finally:
        session.remove()
    print("card removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
