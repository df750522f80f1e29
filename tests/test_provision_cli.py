"""``kiosk-provision`` through click's CLI runner (and once as the installed console script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from kiosk.config import describe

from scripts.provision import cli


def test_every_command_has_help() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    for name, command in cli.commands.items():
        assert command.help, f"{name} lacks help text"
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output
        for param in command.params:
            assert isinstance(param, click.Argument) or param.help, f"{name} {param.name} lacks help"


def test_show_config_reads_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[terminal]\nterminal_no = "ZZJ-0042"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["show-config", "--config", str(path), "--json"],
                                env={"KIOSK_UI_LANGUAGE": "en"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["terminal"]["terminal_no"] == "ZZJ-0042" and data["ui"]["language"] == "en"
    plain = CliRunner().invoke(cli, ["show-config", "--config", str(path)])
    assert "terminal.terminal_no = 'ZZJ-0042'" in plain.output


def test_show_config_refuses_a_bad_file_with_the_config_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[ui]\nlanguage = "klingon"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["show-config", "--config", str(path)])
    assert result.exit_code == 16 and "ui.language: must be one of" in result.output
    missing = CliRunner().invoke(cli, ["show-config", "--config", str(tmp_path / "none.toml")])
    assert missing.exit_code == 16 and "does not exist" in missing.output


def test_reference_lists_every_setting() -> None:
    result = CliRunner().invoke(cli, ["show-config", "--reference"])
    assert result.exit_code == 0
    for key, _, doc in describe():
        assert f"{key} = " in result.output and doc in result.output


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("kiosk-provision")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "show-config" in result.stdout
