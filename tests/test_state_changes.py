"""Device and network state changes reach the log once per change (issue 23: `kiosk run` logged nothing
when the reader or the network went away), without personal data."""

from __future__ import annotations

import logging

import pytest

from kiosk.state_changes import StateChanges


def test_each_state_is_logged_when_first_seen_and_when_it_changes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="kiosk.state")
    changes = StateChanges()
    assert changes.note({"gateway": True, "card reader": True, "queue": "empty"}) == [
        "gateway: ok", "card reader: ok", "queue: empty"]
    assert changes.note({"gateway": True, "card reader": True, "queue": "empty"}) == []  # not on every poll
    assert changes.note({"gateway": False, "card reader": True, "queue": "items waiting"}) == [
        "gateway: ok -> DOWN", "queue: empty -> items waiting"]
    down = [r for r in caplog.records if r.getMessage() == "gateway: ok -> DOWN"]
    assert down and down[0].levelno == logging.WARNING
    assert changes.note({"gateway": True, "card reader": False}) == ["gateway: DOWN -> ok", "card reader: ok -> DOWN"]


def test_the_services_log_their_state_changes(caplog: pytest.LogCaptureFixture, demo_config) -> None:  # type: ignore[no-untyped-def]
    from drivers.camera.replay import ReplayCamera
    from scripts.composition import build_services, demo_portrait

    caplog.set_level(logging.INFO, logger="kiosk.state")
    services = build_services(demo_config, camera=ReplayCamera([demo_portrait()], fps=15))
    try:
        services.status()
        services.status()
        logged = [r.getMessage() for r in caplog.records if r.name == "kiosk.state"]
        assert "queue: empty" in logged and any(m.startswith("card reader: ") for m in logged)
        assert len(logged) == len(set(logged))  # the second poll changed nothing and logged nothing
    finally:
        services.close()
