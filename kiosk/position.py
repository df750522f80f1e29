"""Position rules for clinician login: is this fix good enough, and is it inside the institution?

Pure. Coordinates are WGS-84 degrees; polygons are given as (longitude, latitude) pairs - GeoJSON's
order, written ``lon,lat`` in config - and readings carry ``latitude`` and ``longitude`` by name, so
the two orders never meet unnamed. Distances are computed in metres on a local tangent plane around
the fence (equirectangular: well under a metre of error across a hospital campus).

"Inside" means inside by more than the reading's accuracy radius plus a configured margin: a fix whose
circle of uncertainty crosses the fence is refused as ``near_edge``, never waved through.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shapely.geometry import Point, Polygon
from shapely.ops import unary_union

from kiosk.ports import PositionReading

EARTH_RADIUS_M = 6_371_008.8

# refusal reasons (keys into the UI catalogue as ``position.reason.<reason>``, and audit values)
NO_FIX, STALE_FIX, POOR_ACCURACY, FIX_2D, TELEPORT = "no_fix", "stale_fix", "poor_accuracy", "fix_2d", "teleport"
OUTSIDE, NEAR_EDGE, SITE_CONTRADICTION, UNAVAILABLE = "outside_geofence", "near_edge", "site_contradiction", "unavailable"
SITE_UNPROVEN = "site_unproven"  # a fixed site without the registration that vouches for it (production)


class Geofence:
    """One or more polygons of (longitude, latitude) vertices."""

    def __init__(self, polygons: Sequence[Sequence[tuple[float, float]]]) -> None:
        if not polygons or any(len(p) < 3 for p in polygons):
            raise ValueError("a geofence needs at least one polygon of three or more corners")
        for lon, lat in (v for p in polygons for v in p):
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError(f"corner ({lon}, {lat}) is not a longitude,latitude pair")
        corners = [v for p in polygons for v in p]
        self._lon0 = sum(v[0] for v in corners) / len(corners)
        self._lat0 = sum(v[1] for v in corners) / len(corners)
        self._area = unary_union([Polygon([self._project(lon, lat) for lon, lat in p]) for p in polygons])
        if not self._area.is_valid or self._area.area <= 0:
            raise ValueError("the geofence polygons are degenerate or self-intersecting")

    @classmethod
    def parse(cls, text: str) -> Geofence:
        """``"lon,lat lon,lat lon,lat; lon,lat ..."``: polygons separated by ``;``."""
        polygons = []
        for part in text.split(";"):
            if part.strip():
                try:
                    polygons.append([tuple(float(x) for x in pair.split(",")) for pair in part.split()])
                except ValueError:
                    raise ValueError(f"cannot read {part.strip()!r}: write corners as lon,lat separated by spaces") from None
        if any(len(v) != 2 for p in polygons for v in p):
            raise ValueError("each corner is lon,lat")
        return cls(polygons)  # type: ignore[arg-type]

    def _project(self, lon: float, lat: float) -> tuple[float, float]:
        x = math.radians(lon - self._lon0) * math.cos(math.radians(self._lat0)) * EARTH_RADIUS_M
        y = math.radians(lat - self._lat0) * EARTH_RADIUS_M
        return x, y

    def signed_distance_m(self, latitude: float, longitude: float) -> float:
        """Distance to the fence's edge: positive inside, negative outside."""
        point = Point(self._project(longitude, latitude))
        edge = self._area.boundary.distance(point)
        return edge if self._area.contains(point) else -edge


def distance_m(a: PositionReading, b: PositionReading) -> float:
    """Great-circle distance (haversine)."""
    phi1, phi2 = math.radians(a.latitude), math.radians(b.latitude)
    dphi, dlmb = phi2 - phi1, math.radians(b.longitude - a.longitude)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class PositionRules:
    max_age_s: float = 10.0
    max_accuracy_m: float = 50.0
    require_3d: bool = False
    margin_m: float = 5.0
    max_speed_mps: float = 50.0  # faster than any person moves between two logins (180 km/h)
    site_tolerance_m: float = 200.0


@dataclass(frozen=True)
class PositionVerdict:
    accepted: bool
    reason: str = ""  # empty when accepted
    edge_m: float | None = None  # signed distance to the fence (inside positive), when computed
    basis: str = ""  # what the position rests on (a receiver's fix, a registered site), for the audit

    def as_audit(self) -> dict[str, object]:
        return {"accepted": self.accepted, "reason": self.reason,
                "edge_m": None if self.edge_m is None else round(self.edge_m), "basis": self.basis}


def check_fix(reading: PositionReading | None, fence: Geofence, rules: PositionRules,
              last_accepted: PositionReading | None = None) -> PositionVerdict:
    quality = _fix_quality(reading, rules, last_accepted)
    if quality:
        return PositionVerdict(False, quality)
    assert reading is not None
    edge = fence.signed_distance_m(reading.latitude, reading.longitude)
    if edge < 0:
        return PositionVerdict(False, OUTSIDE, edge)
    if edge < reading.accuracy_m + rules.margin_m:
        return PositionVerdict(False, NEAR_EDGE, edge)
    return PositionVerdict(True, "", edge)


def check_fixed_site(site: PositionReading, live: PositionReading | None, rules: PositionRules) -> PositionVerdict:
    """A workstation provisioned at ``site``; a live fix (where a receiver exists) must not contradict it."""
    if live is None or live.mode < 2 or live.age_s > rules.max_age_s:
        return PositionVerdict(True)  # no usable live fix: the provisioned site stands
    gap = distance_m(site, live) - live.accuracy_m
    if gap > rules.site_tolerance_m:
        return PositionVerdict(False, SITE_CONTRADICTION, -gap)
    return PositionVerdict(True)


def _fix_quality(reading: PositionReading | None, rules: PositionRules,
                 last_accepted: PositionReading | None) -> str:
    if reading is None or reading.mode < 2:
        return NO_FIX
    if reading.age_s > rules.max_age_s:
        return STALE_FIX
    if not math.isfinite(reading.accuracy_m) or reading.accuracy_m > rules.max_accuracy_m:
        return POOR_ACCURACY
    if rules.require_3d and reading.mode < 3:
        return FIX_2D
    if last_accepted is not None and reading.fix_time > last_accepted.fix_time:
        moved = distance_m(last_accepted, reading) - reading.accuracy_m - last_accepted.accuracy_m
        if moved / (reading.fix_time - last_accepted.fix_time) > rules.max_speed_mps:
            return TELEPORT
    return ""
