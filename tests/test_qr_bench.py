"""bench/qr.py: runs our decoder exactly as the kiosk camera does (its budget in the JSON), and goes on
when a peer raises on an image, counting that peer's crashes and scoring it as reading nothing there."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from drivers.qr.frame_decoder import CAMERA_BUDGET_MS

ROOT = Path(__file__).resolve().parents[1]


def _bench_qr():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_qr_under_test", ROOT / "bench" / "qr.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_a_peer_that_raises_is_counted_and_the_run_goes_on(shared_data: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "qr" / "zxing_qrcode-1"
    folder.mkdir(parents=True)
    images = sorted((shared_data / "qr" / "zxing_qrcode-1").glob("*.png"))[:3]
    for image in images:  # a throwaway folder in the data's layout, removed after the test
        shutil.copy(image.with_suffix(".txt"), folder / image.with_suffix(".txt").name)
        shutil.copy(image, folder / image.name)
    bench = _bench_qr()
    real = bench.peers()
    calls = {"n": 0}

    def fragile(grey: np.ndarray) -> list[str]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise UnicodeDecodeError("shift_jis", b"\x82", 0, 1, "as OpenCV's WeChat decoder does")
        return real["zxing-cpp"](grey)

    monkeypatch.setattr(bench, "peers", lambda: {"ours": real["ours"], "fragile": fragile})
    monkeypatch.setattr(sys, "argv", ["qr.py", "--data", str(tmp_path / "qr")])
    assert bench.main() == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["decoders"]
    assert result["fragile"]["crashes"] == 1 and result["fragile"]["labelled"] == 3
    assert result["fragile"]["decoded"] <= 2 and result["ours"]["crashes"] == 0
    assert result["ours"]["budget_ms"] == CAMERA_BUDGET_MS


def test_validation_third_is_apart_and_covers_every_category(shared_data: Path) -> None:
    """bench/qr_validation.txt: a third of each category, set aside; --split train never sees them."""
    bench = _bench_qr()
    held = bench.validation_images()
    images = [p for p in (shared_data / "qr").glob("*/*") if p.suffix.lower() in bench.IMAGE_SUFFIXES]
    for path in images:
        assert bench.in_split(path, "train", held) != bench.in_split(path, "validation", held)
        assert bench.in_split(path, "all", held)
    categories = {p.parent.name for p in images}
    assert {key.split("/")[0] for key in held} == categories
    assert 0.25 < len(held) / len(images) < 0.42 and all((shared_data / "qr" / key).exists() for key in held)
