"""``kiosk-provision reconcile --date D``: the day's settlements in this kiosk's outbox against the gateway's
books (3201 per insurance type, clearing type and clearing agency; where they differ 9101, 3202, 9102:
kiosk/settlement_reconciliation.py). ``kiosk-provision reconcile payments``: the day's payments at the
payment platform against the day's settlements (kiosk/payment_reconciliation.py). Each: exit 0 when they
agree, 3 when staff must look (each finding on one line), the error's exit status when a side cannot be
read (14: the gateway or platform cannot be reached; the running kiosk tries again by itself)."""

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
    @cli.group(invoke_without_command=True)
    @config_option
    @click.option("--date", "day", default="", help="The day to reconcile, yyyy-mm-dd (default: today).")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
    @click.pass_context
    def reconcile(ctx: click.Context, config_path: Path | None, day: str, as_json: bool) -> None:
        """Compare this kiosk's records with the other side's books: without a subcommand, the day's
        settlements with the gateway's (the result also goes into the audit stream)."""
        if ctx.invoked_subcommand is not None:
            return
        from scripts.composition import outbox_path, technician_reconciliation

        date = _day(day, "--date")
        try:
            cfg = technician_keys(load_config(config_path, os.environ))
            if not outbox_path(cfg).exists():
                click.echo(f"{date}: no outbox yet at {outbox_path(cfg)}: nothing has been settled on this kiosk")
                return
            run, close = technician_reconciliation(cfg)
            try:
                result = run(date.isoformat())
            finally:
                close()
        except KioskError as exc:
            click.echo(f"cannot reconcile {date}: {exc}" + ("; the running kiosk tries again by itself"
                                                            if exc.exit_status == 14 else ""), err=True)
            sys.exit(exc.exit_status)
        if as_json:
            click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        else:
            click.echo(f"{date}: {result.settlements} settlement(s) in this kiosk's journal, "
                       + ("nothing to reconcile (3201 asks per group this kiosk settled in)" if not result.groups
                          else "balanced" if result.balanced else "NOT BALANCED"))
            for group in result.groups:
                click.echo(f"  insutype {group['insutype']} clr_type {group['clr_type']} agency "
                           f"{group['setl_optins']}: {group['settlements']} settlement(s), "
                           f"{group['medfee_sumamt']}: {'balanced' if group['balanced'] else 'differs'}")
            for difference in result.differences:
                click.echo(f"  ALERT {difference.line()}")
        if not result.balanced:
            sys.exit(FINDINGS_EXIT)

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

        date = _day(day, "--day")
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


def _day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else dt.date.today()
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date (yyyy-mm-dd)", param_hint=option) from None
