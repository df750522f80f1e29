"""What makes a fixed site more than a configuration value: the registration the insurance office
approved for this workstation at that site.

``kiosk-provision register`` sends the site and the digest of the institution's geofence with the
device's public key; once the office has approved it, it keeps a *site evidence* record signed by the
device key. At start and on every login a fixed-site workstation in production checks that the record's
signature is the device's and that the configured site and fence are the ones registered: editing the
configuration (moving the desk on paper) without registering again is refused. What it proves: the site
is the one the office approved for this device key. What it does not: that the machine has not been
carried elsewhere since (a GNSS receiver's live fix, ``location.site_live_check``, is what catches that).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

SITE_TOLERANCE_DEG = 1e-6  # about 0.1 m: the configured site must be the registered one, not "near" it


def fence_digest(geofence: str) -> str:
    """SHA-256 of the geofence text with its whitespace normalised."""
    return hashlib.sha256(" ".join(geofence.split()).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SiteEvidence:
    terminal_no: str
    latitude: float
    longitude: float
    geofence_sha256: str
    registration_id: str

    def signed_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_dict(cls, data: Any) -> SiteEvidence:
        """Raises ValueError when the record is not a site evidence."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        try:
            return cls(str(data["terminal_no"]), float(data["latitude"]), float(data["longitude"]),
                       str(data["geofence_sha256"]), str(data["registration_id"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"field missing or malformed: {exc}") from None


def evidence_problem(evidence: SiteEvidence | None, *, terminal_no: str, latitude: float, longitude: float,
                     geofence: str) -> str:
    """Why this evidence does not prove the configured site ('' when it does)."""
    if evidence is None:
        return "this workstation has no registered site evidence"
    if evidence.terminal_no != terminal_no:
        return f"the site evidence is for terminal {evidence.terminal_no}, not {terminal_no}"
    if abs(evidence.latitude - latitude) > SITE_TOLERANCE_DEG or abs(evidence.longitude - longitude) > SITE_TOLERANCE_DEG:
        return (f"the configured site ({latitude:.6f}, {longitude:.6f}) is not the registered one "
                f"({evidence.latitude:.6f}, {evidence.longitude:.6f})")
    if evidence.geofence_sha256 != fence_digest(geofence):
        return "the configured geofence is not the one registered"
    return ""
