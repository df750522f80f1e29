"""A USB keyboard-wedge QR scanner read from its Linux input device (evdev), not from the window.

A wedge scanner is a USB keyboard that types the code. Read through the window, it needs the window
to have focus, and the text depends on the keyboard layout the system has set (a scanner "typing" on
a German layout turns ``y`` into ``z``). Read here, from ``/dev/input/...``, neither matters: the
kernel's events carry **key codes**, the positions of the keys, which a scanner sends in the US layout
whatever the system uses. The device is grabbed (``EVIOCGRAB``), so the scan does not also arrive in
whatever has focus. Key events are 24-byte ``struct input_event`` records; their kernel timestamps time
the gaps between characters, so a late reader still tells a scanner from a person. Which bursts are
scans: ``kiosk.keyboard_wedge.WedgeAssembler`` (suffix Enter, Tab, or none: then a pause ends a scan).

The device is reopened once a second while it is missing or unplugged. Key codes with no character
(function keys, arrows) are ignored.
"""

from __future__ import annotations

import fcntl
import logging
import os
import select
import struct
import time
from collections.abc import Callable

from kiosk.keyboard_wedge import WedgeAssembler

from drivers.background import DeviceReader

log = logging.getLogger(__name__)

EVENT = struct.Struct("llHHi")  # struct input_event on 64-bit Linux: timeval, type, code, value
EV_KEY = 0x01
PRESS = 1  # key event values: 0 release, 1 press, 2 auto-repeat
EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int)
SHIFTS = {42, 54}  # KEY_LEFTSHIFT, KEY_RIGHTSHIFT
CAPSLOCK = 58
SUFFIXES = {"enter": ("\r",), "tab": ("\t",), "none": ()}


def _us_layout() -> dict[int, tuple[str, str]]:
    """Key code -> (character, with shift), US layout (linux/input-event-codes.h)."""
    rows = [(2, "1234567890-=", "!@#$%^&*()_+"), (16, "qwertyuiop[]", "QWERTYUIOP{}"),
            (30, "asdfghjkl;'`", 'ASDFGHJKL:"~'), (43, "\\zxcvbnm,./", "|ZXCVBNM<>?")]
    keys = {code + i: (plain, shifted) for code, plains, shifts in rows
            for i, (plain, shifted) in enumerate(zip(plains, shifts, strict=True))}
    keys.update({57: (" ", " "), 28: ("\r", "\r"), 96: ("\r", "\r"), 15: ("\t", "\t")})
    keypad = {71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+", 79: "1", 80: "2",
              81: "3", 82: "0", 83: ".", 55: "*", 98: "/"}
    keys.update({code: (char, char) for code, char in keypad.items()})
    return keys


US_KEYS = _us_layout()


class EvdevWedgeScanner(DeviceReader):
    what = "keyboard-wedge scanner"

    def __init__(self, device: str, *, suffix: str = "enter", max_gap_s: float = 0.05, min_length: int = 8,
                 max_length: int = 2048, grab: bool = True) -> None:
        if suffix not in SUFFIXES:
            raise ValueError(f"unknown scanner suffix {suffix!r} (use one of {', '.join(SUFFIXES)})")
        super().__init__(device, "qr-evdev")
        self.description = f"keyboard-wedge scanner {device}"
        self._grab, self._gap = grab, max_gap_s
        self._wedge = WedgeAssembler(max_gap_s=max_gap_s, min_length=min_length, max_length=max_length,
                                     terminators=SUFFIXES[suffix])
        self._listener: Callable[[str], None] = lambda _payload: None
        self._shift: set[int] = set()
        self._caps = False
        self.grabbed = False

    def set_listener(self, on_scanned: Callable[[str], None]) -> None:
        self._listener = on_scanned

    def _run(self) -> None:
        while not self._stop.is_set():
            fd = self._open_or_wait(os.O_RDONLY | os.O_NONBLOCK)
            if fd is None:
                continue
            try:
                self._open(fd)
                self._read(fd)
            finally:
                if self.grabbed:
                    try:
                        fcntl.ioctl(fd, EVIOCGRAB, 0)
                    except OSError:
                        pass  # already unplugged
                os.close(fd)
                self.connected = self.grabbed = False
            self._stop.wait(1.0)

    def _open(self, fd: int) -> None:
        self._shift, self._caps = set(), False
        self._ready()
        if self._grab:
            try:
                fcntl.ioctl(fd, EVIOCGRAB, 1)
                self.grabbed = True
            except OSError as exc:  # not an input device (a FIFO in tests), or grabbed by another program
                log.warning("%s %s not grabbed (%s): its keys may also reach the focused window",
                            self.what, self._device, exc)

    def _read(self, fd: int) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], self._gap)
            if not ready:
                self._complete(self._wedge.flush(time.time()))  # event stamps are CLOCK_REALTIME
                continue
            try:
                chunk = os.read(fd, EVENT.size * 64)
            except BlockingIOError:
                continue
            except OSError as exc:  # ENODEV: unplugged
                log.warning("%s %s gone: %s", self.what, self._device, exc)
                return
            if not chunk:
                log.warning("%s %s closed", self.what, self._device)
                return
            pending += chunk
            whole = len(pending) - len(pending) % EVENT.size
            for sec, usec, kind, code, value in EVENT.iter_unpack(pending[:whole]):
                if kind == EV_KEY:
                    self._key(code, value, sec + usec / 1e6)
            pending = pending[whole:]

    def _key(self, code: int, value: int, t: float) -> None:
        if code in SHIFTS:
            (self._shift.add if value else self._shift.discard)(code)
            return
        if code == CAPSLOCK and value == PRESS:
            self._caps = not self._caps
            return
        if value != PRESS or code not in US_KEYS:
            return  # releases, auto-repeat, keys with no character
        plain, shifted = US_KEYS[code]
        upper = bool(self._shift) != (self._caps and plain.isalpha())
        self._complete(self._wedge.feed(shifted if upper else plain, t))

    def _complete(self, scan: str | None) -> None:
        if scan is None:
            return
        try:
            self._listener(scan)
        except Exception:  # noqa: BLE001 - a listener fault must not stop the scanner
            log.exception("QR listener failed")


def key_events(text: str, *, start: float, gap_s: float = 0.004, suffix: str = "\r") -> bytes:
    """``text`` as a US-layout keyboard would send it: input_event records (press and release, shift
    where needed). For tests."""
    by_char = {}
    for code, (plain, shifted) in sorted(US_KEYS.items(), reverse=True):  # main-block keys win over the keypad
        by_char[plain] = (code, False)
        by_char.setdefault(shifted, (code, True))
    records, t = [], start
    for char in text + suffix:
        if char not in by_char:
            raise ValueError(f"no US key types {char!r}")
        code, shifted = by_char[char]
        presses = [(42, 1), (code, 1), (code, 0), (42, 0)] if shifted else [(code, 1), (code, 0)]
        for key, value in presses:
            sec, usec = int(t), int(round((t % 1) * 1e6)) % 1_000_000
            records.append(EVENT.pack(sec, usec, EV_KEY, key, value))
        t += gap_s
    return b"".join(records)
