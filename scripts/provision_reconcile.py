"""``kiosk-provision reconcile payments``: the day's payments at the payment platform against the day's
settlements in this kiosk's outbox (kiosk/payment_reconciliation.py). Exit 0 when they agree, 3 when
staff must look (each finding on one line with the order number, the outbox reference and the settlement
id), the error's exit status when the outbox or the platform cannot be read."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

import click

from kiosk.config import load_config
from kiosk.errors import KioskError
from scripts.credential_keys import technician_keys

FINDINGS_EXIT = 3


def register_commands(cli: click.Group, config_option, outbox_of) -> None:  # type: ignore[no-untyped-def]
    @cli.group()
    def reconcile() -> None:
        """Compare this kiosk's records with the other side's books."""

    @reconcile.command("payments")
    @config_option
    @click.option("--day", default="", help="The day to reconcile, yyyy-mm-dd (default: today).")
    @click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
    def payments(config_path: Path | None, day: str, as_json: bool) -> None:
        """The day's payments against the day's settlements; a payment without its settlement or a
        settlement without its payment is an ALERT for staff."""
        from kiosk.payment_reconciliation import KioskPayment, reconcile_payments
        from scripts.composition import build_payments
        from scripts.provision import NoQueueYet

        try:
            date = dt.date.fromisoformat(day) if day else dt.date.today()
        except ValueError:
            raise click.BadParameter(f"{day!r} is not a date (yyyy-mm-dd)", param_hint="--day") from None
        start = dt.datetime.combine(date, dt.time()).timestamp()
        try:
            cfg = technician_keys(load_config(config_path, os.environ))
            platform = build_payments(cfg)
            if platform is None:  # a configuration matter: exit 16 as every config refusal
                click.echo("payment.provider is none: there are no payments to reconcile (configure [payment] "
                           "first: docs/technician.md)", err=True)
                sys.exit(16)
            try:
                outbox, store = outbox_of(config_path)
            except NoQueueYet:  # a new install: no plans of ours, the platform's bill may still hold orders
                plans = []
            else:
                try:
                    plans = outbox.plans_between(start, start + 86400)
                finally:
                    store.close()
            ours = [p for p in (KioskPayment.from_item(*row) for row in plans) if p is not None]
            bill = platform.day_bill(date.isoformat())
        except KioskError as exc:
            click.echo(f"cannot reconcile: {exc}", err=True)
            sys.exit(exc.exit_status)
        findings = reconcile_payments(ours, bill)
        alerts = [f for f in findings if f.alert]
        if as_json:
            click.echo(json.dumps({"day": date.isoformat(), "payments": len(bill), "plans": len(ours),
                                   "alerts": len(alerts), "findings": [f.__dict__ for f in findings]},
                                  ensure_ascii=False))
        else:
            click.echo(f"{date}: {len(bill)} orders at the platform, {len(ours)} paid-share plans in the outbox, "
                       f"{len(alerts)} alert(s)")
            for finding in findings:
                click.echo(finding.line())
        if alerts:
            sys.exit(FINDINGS_EXIT)
