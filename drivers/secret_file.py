"""Reading a secret the configuration names by file (a merchant key, a gateway access secret): one place
for the error a technician sees when the file is missing, unreadable or empty."""

from __future__ import annotations

from pathlib import Path

from kiosk.errors import ConfigError


def read_secret(path: str, setting: str, *, encoding: str = "utf-8", min_length: int = 1) -> str:
    """The file's text without surrounding whitespace; ConfigError naming ``setting`` otherwise."""
    try:
        text = Path(path).read_text(encoding=encoding).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{setting}: cannot read {path} ({exc})") from None
    if len(text) < min_length:
        raise ConfigError(f"{setting}: {path} is empty" if min_length <= 1 else
                          f"{setting}: {path} holds no key of at least {min_length} characters")
    return text
