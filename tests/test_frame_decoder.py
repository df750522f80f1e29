"""The camera-frame QR decoder on real photographs (../shared/data/qr) and on frames that are no picture."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from drivers.qr.frame_decoder import FrameDecoder, _size


@pytest.fixture(scope="module")
def decoder() -> FrameDecoder:
    return FrameDecoder(budget_ms=10_000)  # what the cascade can read, whatever else the machine is doing


def _zxing_alone(grey: np.ndarray) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormat.QRCode) if r.valid]


@pytest.mark.parametrize("image", ["boofcv_perspective/image013.jpg", "boofcv_blurred/image027.jpg"])
def test_a_code_zxing_locates_but_cannot_read_is_read_from_its_rectified_region(
        decoder: FrameDecoder, shared_data: Path, image: str) -> None:
    grey = cv2.imread(str(shared_data / "qr" / image), cv2.IMREAD_GRAYSCALE)
    unread = [r for r in zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormat.QRCode, return_errors=True)
              if not r.valid]
    assert _zxing_alone(grey) == [] and unread, "premise: zxing-cpp locates the code and fails to read it"
    found = decoder.decode(grey)
    assert len(found) == 1 and found[0]
    assert decoder.last_stage.startswith("region-")


def _labelled_corners(label: Path) -> np.ndarray:
    rows = [line.split() for line in label.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return np.array(rows[:4], np.float32)


@pytest.mark.parametrize("image", ["boofcv_perspective/image027.jpg", "boofcv_perspective/image029.jpg"])
def test_a_code_under_strong_perspective_is_read_from_its_outline(decoder: FrameDecoder, shared_data: Path,
                                                                 image: str) -> None:
    """zxing-cpp locates these codes with corners about a third too close together; the outline of the dark
    shape around them (the code, or the card it is printed on) holds the whole code and its perspective."""
    path = shared_data / "qr" / image
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    truth = _labelled_corners(path.with_suffix(".txt"))
    size = _size(truth)
    located = decoder._first_look(grey).regions
    assert _zxing_alone(grey) == [] and located, "premise: zxing-cpp locates the code and fails to read it"
    assert all(_size(corners) < 0.85 * size for corners in located), "premise: the located corners are off"
    outline = decoder._outline(grey, located[0])
    assert outline is not None
    grown = outline.mean(0) + (outline - outline.mean(0)) * 1.05
    assert all(cv2.pointPolygonTest(grown.reshape(-1, 1, 2), (float(x), float(y)), False) >= 0 for x, y in truth)
    found = decoder.decode(grey)
    assert len(found) == 1 and found[0] and decoder.last_stage == "outline-zxing"


def test_every_printed_zxing_code_reads_to_its_exact_text_from_a_colour_frame(
        decoder: FrameDecoder, shared_data: Path) -> None:
    folder = shared_data / "qr" / "zxing_qrcode-1"
    for image in sorted(folder.glob("*.png")):
        truth = image.with_suffix(".txt").read_text(encoding="utf-8").replace("\r\n", "\n")
        frame = cv2.imread(str(image), cv2.IMREAD_COLOR)
        assert truth in [t.replace("\r\n", "\n") for t in decoder.decode(frame)], image.name


def test_a_small_frame_with_no_located_code_gets_the_whole_frame_stages(
        decoder: FrameDecoder, shared_data: Path) -> None:
    grey = cv2.imread(str(shared_data / "qr" / "boofcv_pathological" / "image003.png"), cv2.IMREAD_GRAYSCALE)
    assert _zxing_alone(grey) == []
    assert len(decoder.decode(grey)) == 1
    assert decoder.last_stage in {"equalize", "zbar", "equalize-flat", "inverted", "texture", "wechat", "enlarge"}


@pytest.mark.parametrize("frame", [
    np.zeros((0, 0), np.uint8),
    np.zeros((10, 10), np.uint8),                     # too small to hold a code
    np.zeros((480, 640), np.uint8),                   # a dead camera's black frame
    np.full((480, 640, 3), 255, np.uint8),            # overexposed
    np.random.default_rng(1).integers(0, 256, (480, 640), dtype=np.uint8),  # sensor noise
    np.zeros((480, 640, 3), np.float32),              # wrong dtype
    np.zeros((4, 480, 640), np.uint8),                # wrong shape
    np.array(["not", "an", "image"]),
])
def test_frames_with_no_code_or_no_picture_give_nothing_and_no_error(decoder: FrameDecoder,
                                                                       frame: np.ndarray) -> None:
    assert decoder.decode(frame) == []
    assert decoder.last_stage == ""


def test_the_time_budget_stops_the_retries_on_a_hopeless_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """A live camera delivers the next frame anyway: past its budget a frame gets no further tries."""
    noise = np.random.default_rng(2).integers(0, 256, (1080, 1920), dtype=np.uint8)

    def tries_made(budget_ms: float) -> int:
        decoder, calls = FrameDecoder(budget_ms=budget_ms), []
        for reader in ("_read_zxing", "_read_zbar", "_read_wechat"):
            original = getattr(decoder, reader)
            monkeypatch.setattr(decoder, reader, lambda *a, _o=original, **k: calls.append(1) or _o(*a, **k))
        assert decoder.decode(noise) == []
        return len(calls)

    assert tries_made(0) == 1
    assert tries_made(10_000) >= 2


def test_a_dark_mode_code_white_on_black_is_read_from_the_inverted_frame(decoder: FrameDecoder) -> None:
    code = cv2.QRCodeEncoder.create().encode("EC-DARK-MODE-0123456789")
    code = cv2.resize(code, None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST)
    frame = np.full((480, 640), 20, np.uint8)  # the phone's black page around a white-on-black code
    top, left = (480 - code.shape[0]) // 2, (640 - code.shape[1]) // 2
    frame[top:top + code.shape[0], left:left + code.shape[1]] = 255 - code
    assert decoder._first_look(frame).texts == [], "premise: the first look does not try inverted codes"
    assert decoder.decode(frame) == ["EC-DARK-MODE-0123456789"]
    assert decoder.last_stage == "inverted"


def test_a_phone_screen_whose_moire_hides_the_finder_patterns_is_read_from_its_textured_patch(
        decoder: FrameDecoder) -> None:
    """A voucher on a phone screen re-photographed (bench/qr_synthetic.py's screen_moire, one fixed frame):
    zxing-cpp finds nothing; the densest-edged patch, enlarged with a low-pass, reads."""
    bench = _bench_synthetic()
    rng = np.random.default_rng(23)
    text = bench.payload(rng)
    frame = bench.screen_frame("screen_moire", text, rng)
    assert _zxing_alone(frame) == [] and decoder._first_look(frame).regions == [], "premise: nothing located"
    assert decoder.decode(frame) == [text]
    assert decoder.last_stage == "texture"


def _bench_synthetic():  # type: ignore[no-untyped-def]
    import importlib.util
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_qr_synthetic_under_test", root / "bench" / "qr_synthetic.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module
