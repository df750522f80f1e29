"""``kiosk-provision``: the field technician's command. This build offers ``show-config``;
the other commands (init, register, selftest, enroll-staff, install-service, ...) come with
the provisioning work (docs/technician.md).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from kiosk.config import as_dict, describe, load_config
from kiosk.errors import KioskError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Provision and check a hospital kiosk or clinician workstation."""


@cli.command("show-config")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="KIOSK_CONFIG", help="TOML config file (default: $KIOSK_CONFIG, else the built-in defaults).")
@click.option("--json", "as_json", is_flag=True, help="Print the effective config as JSON.")
@click.option("--reference", is_flag=True, help="Print every setting with its default and description instead.")
def show_config(config_path: Path | None, as_json: bool, reference: bool) -> None:
    """Show the effective configuration (file + KIOSK_* environment), validated."""
    if reference:
        for key, default, doc in describe():
            click.echo(f"{key} = {default}\n    {doc}")
        return
    try:
        cfg = load_config(config_path, os.environ)
    except KioskError as exc:
        click.echo(f"invalid configuration: {exc}", err=True)
        sys.exit(exc.exit_status)
    data = as_dict(cfg)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for section, values in data.items():
        if isinstance(values, dict):
            for key, value in values.items():
                click.echo(f"{section}.{key} = {value!r}")
        else:
            click.echo(f"{section} = {values!r}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
