"""A fixed provisioned site: the location source of a workstation without a receiver."""

from __future__ import annotations

from kiosk.ports import PositionReading


class FixedSiteLocation:
    def __init__(self, latitude: float, longitude: float, accuracy_m: float = 5.0) -> None:
        self._reading = PositionReading(latitude=latitude, longitude=longitude, mode=3, accuracy_m=accuracy_m,
                                        age_s=0.0, source="fixed-site")
        self.description = f"fixed site ({latitude:.5f}, {longitude:.5f})"

    def current(self) -> PositionReading | None:
        return self._reading
