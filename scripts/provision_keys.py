"""``kiosk-provision rotate-keys``: new keys for the data at rest (the outbox's and the staff roster's),
every sealed value re-sealed, nothing queued lost (offline_queue/key_rotation.py). The kiosk must be
stopped: the command takes the kiosk's instance lock and refuses while it runs.

The device key is not rotated here: it is the terminal's identity at the insurance office and signs the
audit chain; a new one means registering again (``kiosk-provision register``) with the office's approval.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from kiosk.config import load_config
from kiosk.errors import KioskError
from scripts.credential_keys import persist_keys, technician_keys


def register_commands(cli: click.Group, config_option) -> None:  # type: ignore[no-untyped-def]
    @cli.command("rotate-keys")
    @config_option
    def rotate_keys(config_path: Path | None) -> None:
        """Replace the outbox and roster keys; queued items stay and still settle afterwards."""
        from offline_queue.crypto import load_or_create_key, pending_key_path
        from offline_queue.instance_lock import InstanceLock
        from offline_queue.key_rotation import rotate_outbox_key, rotate_roster_key
        from offline_queue.store import open_store
        from scripts.composition import open_roster, outbox_key_file, outbox_path

        cfg = technician_keys(load_config(config_path, os.environ))
        try:
            lock = InstanceLock.take(cfg.data_path(), who="rotating keys")
        except KioskError as exc:
            click.echo(str(exc), err=True)
            sys.exit(exc.exit_status)
        try:
            done = []
            roster = open_roster(cfg)
            # sealed keys (credential_store): the next keys are sealed before any value is sealed with them
            for key_file in (outbox_key_file(cfg) if outbox_path(cfg).exists() else None, roster.key_path):
                if key_file is not None and key_file.exists():
                    load_or_create_key(pending_key_path(key_file))
            persist_keys(cfg)
            if outbox_path(cfg).exists():
                store = open_store(outbox_path(cfg))
                try:
                    done.append(rotate_outbox_key(store, outbox_key_file(cfg)))
                finally:
                    store.close()
            persist_keys(cfg)
            done.append(rotate_roster_key(roster))
            persist_keys(cfg)
        except KioskError as exc:
            click.echo(f"rotation stopped: {exc}; nothing is lost (run rotate-keys again to finish)", err=True)
            sys.exit(exc.exit_status)
        finally:
            lock.release()
        for item in done:
            click.echo(f"{item.what}: new key, {item.values} sealed value(s) re-sealed")
        if cfg.credential_store:
            click.echo(f"keys sealed in {cfg.credential_store}; restart the service (systemctl restart "
                       f"hospital-kiosk) so that it receives them")
        else:
            click.echo(f"keys in {cfg.key_path()}; back them up now (the old ones no longer open anything)")
