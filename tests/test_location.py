"""Location sources against a real gpsd (fed NMEA through a pseudo-terminal by the simulated receiver),
the NMEA serial reader on a pty, and the position rules on what they report."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import pytest

from kiosk.ports import PositionReading
from kiosk.position import (
    FIX_2D,
    NEAR_EDGE,
    NO_FIX,
    OUTSIDE,
    POOR_ACCURACY,
    SITE_CONTRADICTION,
    STALE_FIX,
    TELEPORT,
    Geofence,
    PositionRules,
    check_fix,
    check_fixed_site,
)

from drivers.location.gpsd_client import GpsdLocation
from drivers.location.gpsd_service import GpsdProcess
from drivers.location.nmea_serial import NmeaSerialLocation
from drivers.location.simulated_receiver import SimulatedFix, SimulatedReceiver

# a campus of about 220 m x 220 m around (39.9087 N, 116.3975 E); corners as lon,lat
FENCE = Geofence.parse("116.3962,39.9077 116.3988,39.9077 116.3988,39.9097 116.3962,39.9097")
CENTRE = SimulatedFix(39.9087, 116.3975, hdop=1.0)  # ~110 m from every edge, accuracy 19 m
OUTSIDE_FIX = SimulatedFix(39.9120, 116.3975)  # ~250 m north of the fence
EDGE_FIX = SimulatedFix(39.90955, 116.3975)  # ~17 m inside the north edge: within 19 m accuracy + 5 m margin
FAR_AWAY = SimulatedFix(31.2304, 121.4737)  # Shanghai
RULES = PositionRules(max_age_s=3.0)


def wait_for(read: Callable[[], PositionReading | None], accept: Callable[[PositionReading | None], bool],
             timeout: float = 8.0) -> PositionReading | None:
    deadline = time.monotonic() + timeout
    reading = read()
    while time.monotonic() < deadline and not accept(reading):
        time.sleep(0.1)
        reading = read()
    return reading


@pytest.fixture
def receiver() -> Iterator[SimulatedReceiver]:
    rx = SimulatedReceiver(CENTRE, interval_s=0.5).start()
    yield rx
    rx.stop()


@pytest.fixture
def gpsd(receiver: SimulatedReceiver) -> Iterator[tuple[GpsdProcess, GpsdLocation]]:
    daemon = GpsdProcess(receiver.device)
    client = GpsdLocation(port=daemon.port, reconnect_s=0.2).start()
    yield daemon, client
    client.stop()
    daemon.stop()


def near(fix: SimulatedFix) -> Callable[[PositionReading | None], bool]:
    return lambda r: r is not None and r.mode >= 2 and abs(r.latitude - fix.latitude) < 1e-5 and r.age_s < 1.0


def test_gpsd_inside_outside_and_on_the_edge(receiver: SimulatedReceiver, gpsd) -> None:
    _, client = gpsd
    inside = wait_for(client.current, near(CENTRE))
    assert inside is not None and inside.source == "gpsd" and inside.mode == 3
    assert 10 < inside.accuracy_m < 30 and inside.longitude == pytest.approx(116.3975, abs=1e-6)
    verdict = check_fix(inside, FENCE, RULES)
    assert verdict.accepted and verdict.edge_m == pytest.approx(110, abs=10)
    receiver.fix = OUTSIDE_FIX
    outside = wait_for(client.current, near(OUTSIDE_FIX))
    assert check_fix(outside, FENCE, RULES).reason == OUTSIDE
    receiver.fix = EDGE_FIX
    edge = wait_for(client.current, near(EDGE_FIX))
    verdict = check_fix(edge, FENCE, RULES)
    assert verdict.reason == NEAR_EDGE and 0 < (verdict.edge_m or 0) < edge.accuracy_m + RULES.margin_m


def test_gpsd_no_fix_poor_accuracy_2d_and_stale(receiver: SimulatedReceiver, gpsd) -> None:
    _, client = gpsd
    receiver.fix = None
    lost = wait_for(client.current, lambda r: r is not None and r.mode < 2)
    assert check_fix(lost, FENCE, RULES).reason == NO_FIX
    receiver.fix = SimulatedFix(39.9087, 116.3975, hdop=25.0)
    blurred = wait_for(client.current, lambda r: r is not None and r.mode >= 2 and r.accuracy_m > 100)
    assert check_fix(blurred, FENCE, RULES).reason == POOR_ACCURACY
    receiver.fix = CENTRE
    wait_for(client.current, near(CENTRE))
    receiver.silence()
    stale = wait_for(client.current, lambda r: r is not None and r.age_s > RULES.max_age_s)
    assert check_fix(stale, FENCE, RULES).reason == STALE_FIX


def test_gpsd_teleport_is_refused(receiver: SimulatedReceiver, gpsd) -> None:
    _, client = gpsd
    first = wait_for(client.current, near(CENTRE))
    assert check_fix(first, FENCE, RULES).accepted
    receiver.fix = FAR_AWAY
    jumped = wait_for(client.current, near(FAR_AWAY))
    assert jumped is not None and jumped.fix_time - first.fix_time < 10
    assert check_fix(jumped, FENCE, RULES, last_accepted=first).reason == TELEPORT


def test_gpsd_stopped_mid_session(gpsd) -> None:
    daemon, client = gpsd
    assert wait_for(client.current, near(CENTRE)) is not None and client.healthy
    daemon.stop()
    gone = wait_for(client.current, lambda r: r is None)
    assert gone is None and not client.healthy
    assert check_fix(gone, FENCE, RULES).reason == NO_FIX


def test_nmea_serial_reader_on_a_pty(receiver: SimulatedReceiver) -> None:
    source = NmeaSerialLocation(receiver.device).start()
    try:
        inside = wait_for(source.current, near(CENTRE))
        assert inside is not None and inside.source == "nmea" and check_fix(inside, FENCE, RULES).accepted
        receiver.write_raw(b"$GPGGA,garbage*00\r\n\x00\xff\xfe not nmea\r\n$GPGGA,1234")  # bad checksum, noise, cut
        receiver.fix = OUTSIDE_FIX
        outside = wait_for(source.current, near(OUTSIDE_FIX))
        assert check_fix(outside, FENCE, RULES).reason == OUTSIDE
        assert source.rejected_sentences >= 2
        # (gpsd 3.22 reports this receiver's 2D fixes as mode 3; our reader takes the mode from GSA)
        receiver.fix = SimulatedFix(39.9087, 116.3975, mode=2)
        flat = wait_for(source.current, lambda r: r is not None and r.mode == 2 and r.accuracy_m < 50)
        assert check_fix(flat, FENCE, PositionRules(max_age_s=3.0, require_3d=True)).reason == FIX_2D
        assert check_fix(flat, FENCE, RULES).accepted  # 2D is enough unless 3D is required
        receiver.fix = None
        assert check_fix(wait_for(source.current, lambda r: r is not None and r.mode < 2), FENCE, RULES).reason == NO_FIX
    finally:
        source.stop()


def test_fixed_site_against_a_live_fix() -> None:
    site = PositionReading(39.9087, 116.3975, mode=3, accuracy_m=5, age_s=0, source="fixed-site")
    here = PositionReading(39.9088, 116.3976, mode=3, accuracy_m=19, age_s=1, source="gpsd")
    elsewhere = PositionReading(31.2304, 121.4737, mode=3, accuracy_m=19, age_s=1, source="gpsd")
    assert check_fixed_site(site, None, RULES).accepted
    assert check_fixed_site(site, here, RULES).accepted
    assert check_fixed_site(site, elsewhere, RULES).reason == SITE_CONTRADICTION
    old = PositionReading(31.2304, 121.4737, mode=3, accuracy_m=19, age_s=600, source="gpsd")
    assert check_fixed_site(site, old, RULES).accepted  # an old live fix proves nothing


def test_geofence_parsing_and_order() -> None:
    two = Geofence.parse("116.3962,39.9077 116.3988,39.9077 116.3988,39.9097; 121.47,31.23 121.48,31.23 121.48,31.24")
    assert two.signed_distance_m(39.9080, 116.3985) > 0  # inside the first polygon
    assert two.signed_distance_m(31.231, 121.475) > 0  # ... and the second
    for bad in ("", "116.39,39.90 116.40,39.90", "39.9077,116.3962 39.9077,116.3988 39.9097,116.3988",
                "a,b c,d e,f", "116.39 39.90 116.40"):
        with pytest.raises(ValueError):
            Geofence.parse(bad)
    # latitude,longitude written by mistake: Beijing's latitude 39.9 as a longitude is accepted, but
    # 116.39 as a latitude is out of range and is refused above
    assert math.isfinite(FENCE.signed_distance_m(39.9087, 116.3975))
