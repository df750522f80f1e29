"""Staff roster (persistence, beside the outbox): clinicians with their face templates, one file encrypted at rest (AES-GCM, key file 0600).

Templates only, never photographs. Written atomically (temporary file, fsync, rename), so a crash or a
full disk leaves the previous roster intact. Search and listing return no templates.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np

from kiosk.domain import StaffMember
from kiosk.errors import QueueError, RosterError
from kiosk.ports import TEMPLATE_SIZES, is_template

from offline_queue.crypto import cipher_for
from offline_queue.private_file import replace_private_file

STAFF_NO = re.compile(r"[A-Za-z0-9_-]{1,32}")


class FileRoster:
    def __init__(self, path: Path, key_path: Path | None = None) -> None:
        self.path = Path(path)
        self.key_path = key_path or self.path.with_suffix(".key")
        self._cipher = cipher_for(self.key_path)
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self._cipher.open(self.path.read_bytes()))
        except (QueueError, ValueError, OSError) as exc:
            raise RosterError(f"staff roster {self.path} cannot be read ({exc}); restore it from backup or "
                              "enrol the staff again") from None
        if not isinstance(data, dict):
            raise RosterError(f"staff roster {self.path} is malformed")
        return data

    def _save(self, entries: dict[str, dict]) -> None:
        self.replace_sealed(self._cipher.seal(json.dumps(entries, ensure_ascii=False).encode("utf-8")))

    def replace_sealed(self, sealed: bytes) -> None:
        """Write the sealed roster in one atomic replacement (key rotation writes what it re-sealed)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            replace_private_file(self.path, sealed)
        except OSError as exc:
            raise RosterError(f"staff roster not saved ({exc}); the previous roster is unchanged") from None

    def add(self, member: StaffMember, *, replace: bool = False) -> None:
        if not STAFF_NO.fullmatch(member.staff_no):
            raise RosterError(f"staff number {member.staff_no!r}: letters, digits, - or _, at most 32")
        if not member.name.strip():
            raise RosterError("a staff member needs a name")
        template = np.asarray(member.template, dtype=np.float64)
        if not is_template(template):
            raise RosterError(f"a staff member needs a face template of {' or '.join(map(str, TEMPLATE_SIZES))} "
                              "finite numbers")
        with self._lock:
            entries = self._load()
            if member.staff_no in entries and not replace:
                raise RosterError(f"staff number {member.staff_no} is already enrolled (use --replace)")
            entries[member.staff_no] = {**member.public(), "template": [float(x) for x in template]}
            self._save(entries)

    def remove(self, staff_no: str) -> bool:
        """Remove by staff number (letter case ignored, as in search)."""
        with self._lock:
            entries = self._load()
            if entries.pop(_key(entries, staff_no), None) is None:
                return False
            self._save(entries)
            return True

    def get(self, staff_no: str) -> StaffMember | None:
        """The member with their template (the caller zeroes it after use); letter case ignored."""
        with self._lock:
            entries = self._load()
            entry = entries.get(_key(entries, staff_no))
        if entry is None:
            return None
        return StaffMember(entry["staff_no"], entry["name"], entry["department"], entry["doctor_code"],
                           np.asarray(entry["template"], dtype=np.float64))

    def nearest(self, template: np.ndarray) -> tuple[str, float] | None:
        """The enrolled member whose template is closest to this one, and the distance (None: nobody
        enrolled with the same encoder)."""
        with self._lock:
            entries = self._load()
        probe = np.asarray(template, dtype=np.float64)
        distances = {no: float(np.linalg.norm(np.asarray(e["template"], dtype=np.float64) - probe))
                     for no, e in entries.items() if len(e["template"]) == len(probe)}
        if not distances:
            return None
        closest = min(distances, key=lambda no: distances[no])
        return closest, distances[closest]

    def has(self, staff_no: str) -> bool:
        """Whether this staff number is enrolled (letter case ignored, as in search)."""
        with self._lock:
            entries = self._load()
        return _key(entries, staff_no) in entries

    def count(self) -> int:
        with self._lock:
            return len(self._load())

    def search(self, text: str = "") -> list[StaffMember]:
        """By name or staff number (case-insensitive substring); no templates."""
        needle = text.strip().lower()
        with self._lock:
            entries = self._load()
        found = [StaffMember(e["staff_no"], e["name"], e["department"], e["doctor_code"]) for e in entries.values()
                 if needle in e["staff_no"].lower() or needle in e["name"].lower()]
        return sorted(found, key=lambda m: m.staff_no)


def _key(entries: dict[str, dict], staff_no: str) -> str:
    """The stored staff number matching ``staff_no`` exactly, else ignoring letter case."""
    if staff_no in entries:
        return staff_no
    return next((no for no in entries if no.lower() == staff_no.lower()), staff_no)
