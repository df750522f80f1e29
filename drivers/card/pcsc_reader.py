"""The pyscard transport: a PC/SC reader behind the CardReader port.

One monitor thread owns a PC/SC context and waits in ``SCardGetStatusChange``;
insert and remove become the listener's callbacks (the UI turns them into Qt
signals at once). When pcscd restarts or the reader is unplugged the context
goes stale; the monitor releases it and establishes a new one, so the kiosk
keeps working without a restart. pyscard's own ``CardMonitor`` is not used
because it keeps its first context forever.

Reads (``read_identity``) run on the card worker lane with their own context and
an exclusive connection; they only move bytes, the protocol is in ``apdu.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import Enum

from smartcard import scard as sc

from kiosk.domain import CardIdentity
from kiosk.errors import CardDataCorrupt, CardError, CardMute, CardRemoved, ReaderUnavailable

from drivers.card.apdu import read_identity

log = logging.getLogger(__name__)
PNP = "\\\\?PnP?\\Notification"
_STALE = {sc.SCARD_E_NO_SERVICE, sc.SCARD_E_SERVICE_STOPPED, sc.SCARD_E_INVALID_HANDLE,
          sc.SCARD_E_NO_READERS_AVAILABLE, sc.SCARD_E_UNKNOWN_READER, sc.SCARD_E_READER_UNAVAILABLE}
_SCARD_ABSENT, _SCARD_PRESENT = 0x0002, 0x0004  # SCardStatus card states (pcsclite.h); pyscard lacks them
_GONE = {sc.SCARD_W_REMOVED_CARD, sc.SCARD_E_NO_SMARTCARD, sc.SCARD_W_RESET_CARD}


def _code(hres: int) -> int:
    return hres & 0xFFFFFFFF if hres < 0 else hres


def _hex(hres: int) -> str:
    return f"0x{_code(hres):08X}"


class ReaderState(str, Enum):
    STARTING = "starting"
    PCSCD_NOT_RUNNING = "pcscd_not_running"
    NO_READER = "no_reader"
    EMPTY = "empty"
    CARD_PRESENT = "card_present"
    CARD_MUTE = "card_mute"


class PcscCardReader:
    def __init__(self, reader_filter: str = "", *, poll_timeout_ms: int = 1000, retry_s: float = 0.5) -> None:
        self._filter, self._timeout, self._retry = reader_filter, poll_timeout_ms, retry_s
        self._on_inserted: Callable[[], None] = lambda: None
        self._on_removed: Callable[[], None] = lambda: None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read_lock = threading.Lock()
        self._state_changed = threading.Condition()
        self._state = ReaderState.STARTING
        self.reader_name = ""
        self.contexts_established = 0
        self.inserted_at = 0.0  # monotonic time of the last insert event
        self._ctx: int | None = None

    @property
    def state(self) -> ReaderState:
        return self._state

    @state.setter
    def state(self, value: ReaderState) -> None:
        with self._state_changed:
            self._state = value
            self._state_changed.notify_all()

    def wait_until_card_out(self, timeout_s: float) -> bool:
        """Block until the monitor has seen no card in the reader (True) or ``timeout_s`` passed (False).

        pcscd polls a reader without card-detect interrupts (the virtual one: about every 0.4 s); a card
        taken out and put back within one poll is no change to it. The demo waits here before it puts the
        next virtual card in."""
        with self._state_changed:
            return self._state_changed.wait_for(
                lambda: self._state not in (ReaderState.CARD_PRESENT, ReaderState.CARD_MUTE), timeout_s)

    @property
    def description(self) -> str:
        return f"PC/SC reader {self.reader_name or '(none yet)'} via pcscd ({self.state.value})"

    @property
    def healthy(self) -> bool:
        """False only when the reader is known to be unusable (pcscd down, no reader): while the monitor
        is still starting nothing is known yet, and the idle screen must not flash "no reader"."""
        return self.state not in (ReaderState.PCSCD_NOT_RUNNING, ReaderState.NO_READER)

    def set_listener(self, on_inserted: Callable[[], None], on_removed: Callable[[], None]) -> None:
        self._on_inserted, self._on_removed = on_inserted, on_removed

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._monitor, name="card-monitor", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        ctx = self._ctx
        if ctx is not None:
            sc.SCardCancel(ctx)  # wake the monitor out of SCardGetStatusChange
        if self._thread is not None:
            self._thread.join(timeout=self._timeout / 1000 + 2)

    def wait_for_state(self, *states: ReaderState, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.state in states:
                return True
            time.sleep(0.01)
        return self.state in states

    # -- monitor thread -----------------------------------------------------------------------------

    def _monitor(self) -> None:
        present = False
        while not self._stop.is_set():
            hres, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
            if hres != sc.SCARD_S_SUCCESS:
                self.state = ReaderState.PCSCD_NOT_RUNNING
                present = self._emit_removed(present)
                self._stop.wait(self._retry)
                continue
            self.contexts_established += 1
            self._ctx = ctx
            try:
                present = self._watch(ctx, present)
            finally:
                self._ctx = None
                sc.SCardReleaseContext(ctx)
            if not self._stop.is_set():
                self._stop.wait(self._retry)

    def _pick_reader(self, ctx: int) -> str | None:
        hres, names = sc.SCardListReaders(ctx, [])
        if hres != sc.SCARD_S_SUCCESS or not names:
            return None
        matching = [n for n in names if self._filter in n]
        return matching[0] if matching else None

    def _watch(self, ctx: int, present: bool) -> bool:
        """Follow one context until it goes stale or we stop; returns whether a card is present."""
        reader = self._pick_reader(ctx)
        if reader is None:
            self.state = ReaderState.NO_READER
            present = self._emit_removed(present)
            hres, _ = sc.SCardGetStatusChange(ctx, self._timeout, [(PNP, sc.SCARD_STATE_UNAWARE)])
            return present  # re-list readers on the next round (new context)
        self.reader_name = reader
        known = sc.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            hres, states = sc.SCardGetStatusChange(ctx, self._timeout, [(reader, known)])
            if hres in (sc.SCARD_E_TIMEOUT, sc.SCARD_E_CANCELLED):
                continue
            if hres != sc.SCARD_S_SUCCESS:
                log.info("card monitor: context stale (%s): re-establishing", _hex(hres))
                self.state = ReaderState.PCSCD_NOT_RUNNING if _code(hres) in {
                    _code(sc.SCARD_E_NO_SERVICE), _code(sc.SCARD_E_SERVICE_STOPPED)} else ReaderState.NO_READER
                return self._emit_removed(present)
            event = states[0][1]
            known = event & ~sc.SCARD_STATE_CHANGED
            if event & (sc.SCARD_STATE_UNKNOWN | sc.SCARD_STATE_UNAVAILABLE):
                self.state = ReaderState.NO_READER
                return self._emit_removed(present)
            now_present = bool(event & sc.SCARD_STATE_PRESENT)
            self.state = (ReaderState.CARD_MUTE if event & sc.SCARD_STATE_MUTE else ReaderState.CARD_PRESENT) \
                if now_present else ReaderState.EMPTY
            if now_present and not present:
                self.inserted_at = time.monotonic()
                self._on_inserted()
            elif present and not now_present:
                self._on_removed()
            present = now_present
        return present

    def _emit_removed(self, present: bool) -> bool:
        if present:
            self._on_removed()
        return False

    # -- reading (card worker lane) ----------------------------------------------------------------

    def read_identity(self) -> CardIdentity:
        with self._read_lock:
            hres, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
            if hres != sc.SCARD_S_SUCCESS:
                raise ReaderUnavailable("pcscd is not running")
            try:
                return self._read(ctx)
            finally:
                sc.SCardReleaseContext(ctx)

    def _read(self, ctx: int) -> CardIdentity:
        reader = self._pick_reader(ctx)
        if reader is None:
            raise ReaderUnavailable("no card reader connected")
        hres, handle, protocol = self._connect_exclusive(ctx, reader)
        if hres != sc.SCARD_S_SUCCESS:
            code = _code(hres)
            if code in {_code(sc.SCARD_W_UNRESPONSIVE_CARD), _code(sc.SCARD_W_UNPOWERED_CARD),
                        _code(sc.SCARD_E_PROTO_MISMATCH)}:  # no usable ATR
                raise CardMute("card does not answer: wrong way round or damaged")
            if code in {_code(c) for c in _GONE}:
                raise CardRemoved("no card in the reader")
            raise CardError(f"cannot connect to the card ({_hex(hres)})")

        def transmit(apdu: bytes) -> bytes:
            result, response = sc.SCardTransmit(handle, protocol, list(apdu))
            if result != sc.SCARD_S_SUCCESS:
                if _code(result) in {_code(c) for c in _GONE | _STALE}:
                    raise CardRemoved("card was removed during the read")
                raise CardDataCorrupt(f"transmit failed ({_hex(result)})")
            if not response:  # no status word at all: the card left, or it is mute
                raise self._why_silent(handle)
            return bytes(response)

        try:
            return read_identity(transmit)
        finally:
            sc.SCardDisconnect(handle, sc.SCARD_RESET_CARD)

    SHARED_WAIT_S = 1.5  # how long another process's hold on the card is waited out

    def _connect_exclusive(self, ctx: int, reader: str) -> tuple[int, int, int]:
        """Connect exclusively; while another process holds the card (pcscd's sharing violation, e.g. a
        desktop smart-card service probing a new card), try again for a moment instead of failing."""
        deadline = time.monotonic() + self.SHARED_WAIT_S
        while True:
            hres, handle, protocol = sc.SCardConnect(ctx, reader, sc.SCARD_SHARE_EXCLUSIVE,
                                                     sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1)
            if _code(hres) != _code(sc.SCARD_E_SHARING_VIOLATION) or time.monotonic() >= deadline:
                return hres, handle, protocol
            log.info("card held by another process (sharing violation): trying again")
            time.sleep(0.05)

    def _why_silent(self, handle: int, settle_s: float = 1.0) -> CardError:
        """Tell a pulled card from a mute one: pcscd notices removal within its polling period."""
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            hres, _reader, state, _protocol, _atr = sc.SCardStatus(handle)
            if hres != sc.SCARD_S_SUCCESS or state & _SCARD_ABSENT or not state & _SCARD_PRESENT:
                return CardRemoved("card was removed during the read")
            time.sleep(0.05)
        return CardMute("card does not answer: wrong way round or damaged")
