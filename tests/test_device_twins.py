"""The simulated twins of the camera, QR source and location ports, on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kiosk.errors import CameraUnavailable
from kiosk.ports import Camera, LocationSource, QrSource, ReceiptPrinter

from drivers.camera.replay import DeviceCamera, ReplayCamera, load_frames
from drivers.location.fixed_site import FixedSiteLocation
from drivers.printer.file_printer import FilePrinter
from drivers.qr.scripted_source import ScriptedQrSource


def test_twins_satisfy_their_ports(tmp_path: Path) -> None:
    assert isinstance(ReplayCamera([np.zeros((4, 4, 3), np.uint8)]), Camera)
    assert isinstance(ScriptedQrSource(), QrSource)
    assert isinstance(FixedSiteLocation(39.9, 116.4), LocationSource)
    assert isinstance(FilePrinter(tmp_path), ReceiptPrinter)


def test_replay_camera_keeps_only_the_latest_frame() -> None:
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
    camera = ReplayCamera(frames, fps=50)
    assert camera.latest_frame() is None and not camera.is_live
    camera.start()
    assert camera.wait_frames(5, timeout_s=10)
    camera.stop()
    produced = camera.frames_produced
    assert produced >= 5
    assert int(camera.latest_frame()[0, 0, 0]) == (produced - 1) % 3  # loops, newest wins
    assert not camera.running and camera.frames_produced == produced  # stopped means stopped: no thread left


def test_replay_from_video_and_folder(shared_data: Path) -> None:
    video = load_frames(shared_data / "video/blink_repeating/video.mp4")
    assert len(video) > 100 and video[0].shape == (854, 480, 3)
    series = sorted((shared_data / "video/pointing04_pan_sweep").iterdir())[0]
    stills = load_frames(series)
    assert len(stills) == 13 and stills[0].dtype == np.uint8


def test_dead_or_missing_camera_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CameraUnavailable, match="no readable frames"):
        load_frames(tmp_path)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(CameraUnavailable, match="no readable frames"):
        load_frames(tmp_path)
    with pytest.raises(CameraUnavailable, match="no frames"):
        ReplayCamera([])
    assert DeviceCamera.probe(97) is False
    with pytest.raises(CameraUnavailable, match="cannot be opened"):
        DeviceCamera(97)


def test_scripted_qr_source_delivers_to_its_listener() -> None:
    source, seen = ScriptedQrSource(), []
    source.set_listener(seen.append)
    source.scan("payload-1")
    source.close()
    source.scan("after close")
    assert seen == ["payload-1"]


def test_fixed_site_reading() -> None:
    reading = FixedSiteLocation(39.9042, 116.4074, accuracy_m=3).current()
    assert reading is not None and reading.mode == 3 and reading.age_s == 0 and reading.source == "fixed-site"
    assert (reading.latitude, reading.longitude, reading.accuracy_m) == (39.9042, 116.4074, 3)
