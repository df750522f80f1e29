"""Our QR decoder for camera frames: a cascade that is fast on easy frames and persistent on hard ones.

1. **First look**: zxing-cpp (the best single open decoder) on the whole grey frame, asked to report
   the codes it *found but could not read* as well (``return_errors``). A frame with readable codes and
   no unread ones ends here: that is almost every frame a patient shows.
2. **Unread regions**: a code zxing-cpp located but could not decode (checksum or format error: glare,
   blur, moire, a damaged corner) is rectified from its corner points to a small upright square with a
   quiet zone, and decoded again there under a few cheap preprocessings (local contrast with another
   binarizer, another size) by zxing-cpp and by zbar, whose scan-line decoder reads differently. Working
   on a 160-320 px square costs well under a millisecond a try, whatever the camera's resolution.
   zxing-cpp's corners follow from its estimate of the symbol's size; under strong perspective that
   estimate can be a version off, and the corners then frame only part of the code. So one try
   rectifies from an **outline** instead: the quadrilateral around the dark shape at the located code
   on a small copy (the modules closed into one blob, or the card the code is printed on: either has
   the code's perspective).
3. **Whole frame again**: when nothing was read, or when a located code is still unread after its
   retries (a photograph holding several codes), the frame is looked at whole again, reduced to at most
   1024 px once (Gaussian pyramid halvings, then a linear resize), until one stage reads a code not read
   yet: the histogram equalized (a dim code in a dark room, a code beside a lamp's bright spot), zbar,
   the illumination flattened and then equalized, the frame inverted (a dark-mode screen); then the
   **most textured patches** (a code is dense with edges) cut out at full resolution, enlarged twice
   with a low-pass and read again: a phone screen re-photographed, whose pixel grid's moire breaks the
   finder patterns so that the first look finds nothing there. A small frame is also enlarged, and
   given to OpenCV's WeChat decoder (cheap on small frames, ruinously slow on large ones, so only
   there). The order is greedy by codes gained per millisecond on the frames the stages before left
   unread, on the training images only (bench/qr_stages.py; our validation third is never used); the
   inverted and textured stages serve the phone screens patients show (bench/qr_synthetic.py's screen
   conditions, fitted on a seed other than the one reported).

The first stage that reads a code in a region ends the work on that region; ``budget_ms`` bounds the
time spent on one frame (a live camera delivers the next one anyway). Which stages, sizes and their
order: measured on bench/qr.py's data as gain per millisecond (docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Reader = Callable[[np.ndarray], list[str]]

CAMERA_BUDGET_MS = 60.0  # the kiosk camera's budget per frame (drivers/qr/camera_source.py; bench/qr.py uses it)
MAX_REGIONS = 4          # unread codes retried per frame (largest first)
SMALL_FRAME = 480        # frames up to this size also get the enlarging and WeChat stages
REDUCED_SIDE = 1024      # whole-frame retries run on a copy at most this large
ZBAR_SIDE = 320          # zbar scans every line: its size chosen among 320-480 px by bench/qr_stages.py
FLATTEN_SIGMA_DIVISOR = 40  # the illumination's blur: a fortieth of the frame (spots larger than a module or two)
MIN_CODE_PX = 21         # a located code with a shorter diagonal has under a pixel a module: not retried
OUTLINE_REACH = 1.5      # the outline is looked for this many located sizes around the located centre
TEXTURE_SIDE = 320       # the textured patches are looked for on a copy this large
TEXTURE_BOXES = 2        # ... and this many of them read
TEXTURE_CROP_SIDE = 800  # a patch is enlarged twice, or less so it stays at most this large
TEXTURE_SIGMA = 0.8      # the low-pass after enlarging, in pixels of the frame ...
TEXTURE_SIGMA_FINE = 0.5  # ... and a lighter one, tried last (both chosen on bench/qr_synthetic.py --seed 2)
OUTLINE_SIDE = 200       # ... on a copy where the located code is at most this large


@dataclass
class _Look:
    texts: list[str] = field(default_factory=list)
    regions: list[np.ndarray] = field(default_factory=list)   # 4x2 corner points of unread codes


class FrameDecoder:
    """Thread: the vision worker. Heavy libraries are imported on construction, not at module import."""

    def __init__(self, budget_ms: float = CAMERA_BUDGET_MS) -> None:
        import cv2
        import zxingcpp
        from pyzbar import pyzbar

        self._cv2, self._zx, self._zbar = cv2, zxingcpp, pyzbar
        self._budget_s = budget_ms / 1000
        self._wechat = cv2.wechat_qrcode_WeChatQRCode()
        self._clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
        self._global = zxingcpp.Binarizer.GlobalHistogram
        # (name, corners: "located" or "outline", rectified side, how far beyond the corners, reader)
        self.region_tries: list[tuple[str, str, int, float, Reader]] = [
            ("region-zxing-clahe", "located", 160, 1.2, lambda g: self._read_zxing(self._clahe.apply(g),
                                                                                   self._global)),
            ("outline-zxing", "outline", 240, 1.15, lambda g: self._read_zxing(g)),
            ("region-zxing", "located", 320, 1.4, lambda g: self._read_zxing(g)),
            ("region-zbar", "located", 160, 1.2, lambda g: self._read_zbar(g)),
        ]
        self.last_stage = ""

    def warm_up(self) -> None:
        """Run every stage once on frames made here (a code with a damaged corner, an empty frame, a small
        one), so the first frame a patient shows pays no first-call costs (library initialisation, the
        WeChat detector's first inference, OpenCV's thread pool). Call it on the thread that decodes."""
        cv2 = self._cv2
        code = cv2.QRCodeEncoder.create().encode("WARM-UP-0123456789")
        code = cv2.resize(code, None, fx=12, fy=12, interpolation=cv2.INTER_NEAREST)
        frame = np.full((480, 640), 160, np.uint8)
        top, left = (480 - code.shape[0]) // 2, (640 - code.shape[1]) // 2
        frame[top:top + code.shape[0], left:left + code.shape[1]] = code
        damaged = frame.copy()
        damaged[top + code.shape[0] // 3:top + code.shape[0] // 2, left:left + code.shape[1]] = 255
        for sample in (frame, damaged, np.full((480, 640), 128, np.uint8), np.full((240, 320), 128, np.uint8)):
            self.decode(sample)
        self.last_stage = ""

    def decode(self, frame: np.ndarray) -> list[str]:
        """Distinct payloads found in a BGR or grey frame (possibly several codes)."""
        grey = self._grey(frame)
        if grey is None:
            self.last_stage = ""
            return []
        deadline = time.perf_counter() + self._budget_s
        found, left_unread = self.located_codes(grey, deadline)
        if not found or (left_unread and time.perf_counter() < deadline):
            found += self._whole_frame(grey, deadline, known=found)
        return list(dict.fromkeys(found))

    def located_codes(self, grey: np.ndarray, deadline: float) -> tuple[list[str], int]:
        """Stages 1 and 2: the codes read by the first look and by retrying the regions it located, and how
        many located codes are still unread."""
        look = self._first_look(grey)
        found = list(look.texts)
        self.last_stage = "zxing" if found else ""
        left_unread = len(look.regions)
        for corners in look.regions[:MAX_REGIONS]:
            if time.perf_counter() > deadline:
                break
            texts, stage = self._retry_region(grey, corners)
            if texts:
                found += texts
                left_unread -= 1
                self.last_stage = self.last_stage or stage
        return found, left_unread

    # -- stage 1 ------------------------------------------------------------------------------------

    def _first_look(self, grey: np.ndarray) -> _Look:
        look = _Look()
        decoded: list[np.ndarray] = []
        unread: list[np.ndarray] = []
        for result in self._zx.read_barcodes(grey, formats=self._zx.BarcodeFormat.QRCode, try_rotate=False,
                                             try_invert=False, return_errors=True):
            corners = _corners(result.position)
            if result.valid and result.text:
                look.texts.append(result.text)
                decoded.append(corners)
            elif not result.valid and _size(corners) >= MIN_CODE_PX:  # some errors come with no position
                unread.append(corners)
        # the same code is often reported from several pyramid levels: keep distinct, unexplained ones
        for corners in sorted(unread, key=_size, reverse=True):
            if not any(self._inside(corners.mean(0), other) for other in decoded) and \
                    not any(_same_place(corners, other) for other in look.regions):
                look.regions.append(corners)
        return look

    # -- stage 2 ------------------------------------------------------------------------------------

    def _retry_region(self, grey: np.ndarray, corners: np.ndarray) -> tuple[list[str], str]:
        quads: dict[str, np.ndarray | None] = {"located": corners}
        rectified: dict[tuple[str, int, float], np.ndarray] = {}
        for name, which, side, margin, read in self.region_tries:
            if which not in quads:
                quads[which] = self._outline(grey, corners)
            quad = quads[which]
            if quad is None:
                continue
            key = (which, side, margin)
            if key not in rectified:
                rectified[key] = self._rectify(grey, quad, side, margin)
            texts = read(rectified[key])
            if texts:
                return texts, name
        return [], ""

    def _outline(self, grey: np.ndarray, corners: np.ndarray) -> np.ndarray | None:
        """The quadrilateral around the dark shape at a located code, or None. The shape is the code's
        modules closed into one blob, or the dark card or label the code is printed on, which has the
        same perspective: either way, rectifying by it gives zxing-cpp an upright, undistorted code."""
        cv2 = self._cv2
        size = _size(corners)
        scale = min(1.0, OUTLINE_SIDE / size)
        width = int(2 * OUTLINE_REACH * size * scale)
        origin = corners.mean(0) - OUTLINE_REACH * size
        to_patch = np.array([[scale, 0, -origin[0] * scale], [0, scale, -origin[1] * scale]], np.float32)
        patch = cv2.warpAffine(grey, to_patch, (width, width), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        _, dark = cv2.threshold(patch, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        gap = max(3, int(size * scale / 14))  # closes the light modules between dark ones, not the quiet zone
        dark = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((gap, gap), np.uint8))
        contours, _ = cv2.findContours(dark, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        centre = (float(width / 2), float(width / 2))
        blob = next((c for c in contours if cv2.pointPolygonTest(c, centre, False) >= 0), None)
        if blob is None:
            return None
        hull = cv2.convexHull(blob)
        perimeter = cv2.arcLength(hull, True)
        for tolerance in (0.02, 0.04, 0.06, 0.08, 0.1):
            polygon = cv2.approxPolyDP(hull, tolerance * perimeter, True)
            if len(polygon) <= 4:
                break
        if len(polygon) != 4:
            return None
        quad = polygon.reshape(4, 2).astype(np.float32) / scale + origin.astype(np.float32)
        centre_of_quad = quad.mean(0)
        quad = quad[np.argsort(np.arctan2(quad[:, 1] - centre_of_quad[1], quad[:, 0] - centre_of_quad[0]))]
        located_area = cv2.contourArea(corners)
        if not 0.5 * located_area <= cv2.contourArea(quad) <= 6 * located_area:
            return None  # not this code: a fragment, or the code merged with its dark surroundings
        return quad  # clockwise on screen from the upper left, as _rectify's target: never mirrored

    def _rectify(self, grey: np.ndarray, corners: np.ndarray, side: int, margin: float) -> np.ndarray:
        centre = corners.mean(0)
        source = (centre + (corners - centre) * margin).astype(np.float32)
        target = np.array([[0, 0], [side, 0], [side, side], [0, side]], np.float32)
        matrix = self._cv2.getPerspectiveTransform(source, target)
        return self._cv2.warpPerspective(grey, matrix, (side, side), flags=self._cv2.INTER_AREA,
                                         borderMode=self._cv2.BORDER_REPLICATE)

    # -- stage 3 ------------------------------------------------------------------------------------

    def _whole_frame(self, grey: np.ndarray, deadline: float, known: Sequence[str] = ()) -> list[str]:
        cv2 = self._cv2
        reduced = self._fit(grey, REDUCED_SIDE)
        small = max(grey.shape) <= SMALL_FRAME
        # bench/qr_stages.py's greedy order on the training photographs (our validation third,
        # bench/qr_validation.txt, never used for it), as far as a stage still reads at least one code per
        # 100 ms of the frames left unread; then two for the phone screens patients show, which the
        # photographs hardly hold: the inverted frame (a dark-mode screen's white-on-black code) and the
        # textured patches (moire; fitted on bench/qr_synthetic.py --seed 2, reported on seed 1)
        tries: list[tuple[str, Callable[[], list[str]]]] = [
            ("equalize", lambda: self._read_zxing(cv2.equalizeHist(reduced))),
            ("zbar", lambda: self._read_zbar(self._fit(reduced, ZBAR_SIDE))),
            ("equalize-flat", lambda: self._read_zxing(cv2.equalizeHist(self._flattened(reduced)))),
            ("inverted", lambda: self._read_zxing(255 - reduced)),
            ("texture", lambda: self._read_textured(grey)),
        ]
        if small:
            tries += [
                ("wechat", lambda: self._read_wechat(grey)),
                ("enlarge", lambda: self._read_zxing(cv2.resize(grey, None, fx=2, fy=2,
                                                                interpolation=cv2.INTER_CUBIC))),
            ]
        for name, attempt in tries:
            texts = [text for text in attempt() if text not in known]
            if texts:
                self.last_stage = self.last_stage or name
                return texts
            if time.perf_counter() > deadline:
                break
        return []

    # -- readers and filters ------------------------------------------------------------------------

    def _read_zxing(self, grey: np.ndarray, binarizer: Any = None, *, invert: bool = False) -> list[str]:
        kwargs: dict[str, Any] = {"formats": self._zx.BarcodeFormat.QRCode, "try_rotate": False,
                                  "try_invert": invert}
        if binarizer is not None:
            kwargs["binarizer"] = binarizer
        return [r.text for r in self._zx.read_barcodes(grey, **kwargs) if r.valid and r.text]

    def _read_zbar(self, grey: np.ndarray) -> list[str]:
        symbols = self._zbar.decode(grey, symbols=[self._zbar.ZBarSymbol.QRCODE])
        return [s.data.decode("utf-8", "replace") for s in symbols if s.data]

    def _read_wechat(self, grey: np.ndarray) -> list[str]:
        texts, _points = self._wechat.detectAndDecode(grey)
        return [t for t in texts if t]

    def _flattened(self, grey: np.ndarray) -> np.ndarray:
        """The frame divided by its own blurred illumination (a bright spot, a shadow, a lamp's gradient
        flattened), the blur done on an eighth-size copy: about 1 ms on a 1024 px frame."""
        cv2 = self._cv2
        tiny = cv2.resize(grey, None, fx=1 / 8, fy=1 / 8, interpolation=cv2.INTER_AREA)
        background = cv2.GaussianBlur(tiny, (0, 0), sigmaX=max(tiny.shape) / FLATTEN_SIGMA_DIVISOR)
        background = cv2.resize(background, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_LINEAR)
        return cv2.divide(grey, background, scale=160)

    def _read_textured(self, grey: np.ndarray) -> list[str]:
        """The most textured patches of the frame (a code is dense with edges) cut out at full resolution,
        enlarged twice with a low-pass (a phone screen's pixel grid and its moire smoothed away, the
        modules kept) and read with the global-histogram binarizer, then zxing-cpp's own, then after a
        lighter low-pass: codes whose finder patterns the first look could not find at all, as on a
        re-photographed phone screen."""
        cv2 = self._cv2
        for box in self._textured_boxes(grey):
            x0, y0, x1, y1 = box
            crop = grey[y0:y1, x0:x1]
            factor = min(2.0, TEXTURE_CROP_SIDE / max(crop.shape))
            crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
            smooth = cv2.GaussianBlur(crop, (0, 0), TEXTURE_SIGMA * factor)
            texts = (self._read_zxing(smooth, self._global) or self._read_zxing(smooth)
                     or self._read_zxing(cv2.GaussianBlur(crop, (0, 0), TEXTURE_SIGMA_FINE * factor), self._global))
            if texts:
                return texts
        return []

    def _textured_boxes(self, grey: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Up to TEXTURE_BOXES boxes (x0, y0, x1, y1 in the frame) around the densest edge energy, found
        on a TEXTURE_SIDE px copy: the gradient's magnitude, averaged over a few pixels, above its mean by
        two standard deviations, in connected patches ranked by their total energy."""
        cv2 = self._cv2
        small = self._fit(grey, TEXTURE_SIDE).astype(np.float32)
        factor = max(small.shape) / max(grey.shape)
        energy = np.abs(cv2.Sobel(small, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(small, cv2.CV_32F, 0, 1))
        energy = cv2.blur(energy, (9, 9))
        mask = (energy > max(float(energy.mean() + 2 * energy.std()), 1.0)).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
        patches = sorted(((float(energy[labels == i].sum()), i) for i in range(1, count) if stats[i, 4] >= 30),
                         reverse=True)
        boxes = []
        for _, i in patches[:TEXTURE_BOXES]:
            x, y, w, h = stats[i, :4]
            margin = 0.25 * max(w, h)
            boxes.append((max(0, int((x - margin) / factor)), max(0, int((y - margin) / factor)),
                          min(grey.shape[1], int((x + w + margin) / factor)),
                          min(grey.shape[0], int((y + h + margin) / factor))))
        return boxes

    def _fit(self, grey: np.ndarray, side: int) -> np.ndarray:
        """At most ``side`` px: Gaussian pyramid halvings first (a tenth of the cost of an area resize
        of a 12 MP frame), then a linear resize for the rest (by under a half: an area resize by such a
        factor cost 4-6 ms on a 1600 px frame)."""
        while max(grey.shape) >= 2 * side:
            grey = self._cv2.pyrDown(grey)
        factor = side / max(grey.shape)
        if factor >= 1:
            return grey
        return self._cv2.resize(grey, None, fx=factor, fy=factor, interpolation=self._cv2.INTER_LINEAR)

    def _inside(self, point: np.ndarray, corners: np.ndarray) -> bool:
        return self._cv2.pointPolygonTest(corners.reshape(-1, 1, 2), (float(point[0]), float(point[1])),
                                          False) >= 0

    def _grey(self, frame: Any) -> np.ndarray | None:
        """A contiguous 8-bit grey image, or None for anything that is not a usable picture."""
        if not isinstance(frame, np.ndarray) or frame.size == 0 or min(frame.shape[:2]) < 21:
            return None
        if frame.dtype != np.uint8:
            if not np.issubdtype(frame.dtype, np.number):
                return None
            frame = np.clip(frame, 0, 255).astype(np.uint8)
        if frame.ndim == 3 and frame.shape[2] in (3, 4):
            code = self._cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else self._cv2.COLOR_BGRA2GRAY
            frame = self._cv2.cvtColor(frame, code)
        elif frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        elif frame.ndim != 2:
            return None
        return np.ascontiguousarray(frame)


def _corners(position: Any) -> np.ndarray:
    return np.array([[p.x, p.y] for p in (position.top_left, position.top_right, position.bottom_right,
                                          position.bottom_left)], np.float32)


def _size(corners: np.ndarray) -> float:
    return float(np.linalg.norm(corners[0] - corners[2]))


def _same_place(a: np.ndarray, b: np.ndarray) -> bool:
    """Two reports of one code (from different pyramid levels): corners within 10 % of its size of each
    other. Two different codes that close would overlap."""
    return float(np.abs(a - b).max()) <= 0.10 * max(_size(a), _size(b), 1.0)
