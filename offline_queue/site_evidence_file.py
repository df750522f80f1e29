"""The site evidence record on disk (kiosk/site_evidence.py): JSON with the device key's signature, in the
key folder, written atomically."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from kiosk.site_evidence import SiteEvidence
from offline_queue.private_file import replace_private_file

FILE_NAME = "site-evidence.json"


def save_evidence(path: Path, evidence: SiteEvidence, sign: Callable[[bytes], str]) -> None:
    record = {**asdict(evidence), "signature": sign(evidence.signed_bytes())}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    replace_private_file(path, json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8"))


def load_evidence(path: Path, check: Callable[[bytes, str], bool]) -> tuple[SiteEvidence | None, str]:
    """(the evidence, '') when present and signed by this device; else (None, why not)."""
    if not path.exists():
        return None, f"no site evidence at {path}"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        evidence = SiteEvidence.from_dict(record)
        signature = str(record["signature"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"the site evidence {path} is unreadable ({exc})"
    if not check(evidence.signed_bytes(), signature):
        return None, f"the site evidence {path} is not signed by this device's key"
    return evidence, ""
