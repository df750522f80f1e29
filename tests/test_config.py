from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import describe, load_config
from kiosk.errors import ConfigError


def test_defaults_are_the_demo_setup() -> None:
    cfg = load_config()
    assert cfg.mode == "demo" and cfg.ui.language == "zh_CN" and cfg.gateway.read_timeout_s == 15.0


def test_toml_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('[gateway]\nread_timeout_s = 20\n[ui]\nlanguage = "en"\n', encoding="utf-8")
    cfg = load_config(path, {"KIOSK_UI_ELDERLY_MODE": "yes", "KIOSK_GATEWAY_READ_TIMEOUT_S": "30",
                             "KIOSK_CONFIG": "ignored", "HOME": "/root"})
    assert cfg.ui.language == "en" and cfg.ui.elderly_mode is True and cfg.gateway.read_timeout_s == 30.0


@pytest.mark.parametrize(("text", "env", "message"), [
    ('[gateway]\nread_timeout_s = "soon"\n', {}, "gateway.read_timeout_s: must be float"),
    ("[gateway]\nread_timeout_s = 0\n", {}, "gateway.read_timeout_s: must be between"),
    ('[terminal]\nfixmedins_code = "H1"\n', {}, "terminal.fixmedins_code: must be 12"),
    ('[ui]\nlanguage = "fr"\n', {}, "ui.language: must be one of zh_CN, en"),
    ("[ui]\nzoom = 2\n", {}, "ui.zoom: unknown setting"),
    ("[nonsense]\n", {}, "nonsense: unknown setting"),
    ("[ui\n", {}, "not valid TOML"),
    ("", {"KIOSK_FACE_MAX_ATTEMPTS": "three"}, "face.max_attempts: must be int"),
    ("", {"KIOSK_UI_FULLSCREEN": "maybe"}, "ui.fullscreen: must be bool"),
    ('mode = "production"\n', {}, "gateway.url: required in production"),
    ('mode = "production"\n[gateway]\nurl = "http://gw.example/fsi"\n', {}, "gateway.url: must be https://"),
    ('mode = "production"\n[gateway]\nurl = "https://gw.example/fsi"\nhis_url = "http://his.example"\n', {},
     "gateway.his_url: must be https://"),
    ('ui = 3\n', {}, "ui: must be a table"),
])
def test_bad_values_name_the_key_and_why(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, env)
    assert message in str(err.value)
    assert err.value.exit_status == 16


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.toml")
    garbage = tmp_path / "garbage.toml"
    garbage.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(garbage)


def test_every_setting_is_documented() -> None:
    rows = describe()
    assert len(rows) > 20
    assert all(doc for _, _, doc in rows)


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [key for key, _, _ in describe() if f"| `{key}` |" not in readme]
    assert missing == []
