"""In-process twin of a PC/SC reader: the virtual card inserted by a test or the demo.

Moves APDUs to a :class:`VirtualSocialSecurityCard` directly, through the same
pure protocol code (:func:`drivers.card.apdu.read_identity`) as the pyscard
transport. Used where pcscd is not available; says so in ``description``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kiosk.domain import CardIdentity
from kiosk.errors import CardMute, CardRemoved

from drivers.card.apdu import read_identity
from drivers.card.virtual_card import VirtualSocialSecurityCard


class InProcessCardReader:
    description = "virtual card reader (in-process, no pcscd)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._card: VirtualSocialSecurityCard | None = None
        self._on_inserted: Callable[[], None] = lambda: None
        self._on_removed: Callable[[], None] = lambda: None

    def set_listener(self, on_inserted: Callable[[], None], on_removed: Callable[[], None]) -> None:
        self._on_inserted, self._on_removed = on_inserted, on_removed

    healthy = True

    def start(self) -> None:
        """Nothing to watch: cards arrive through :meth:`insert`."""

    def insert(self, card: VirtualSocialSecurityCard) -> None:
        with self._lock:
            self._card = card
            card.reset()
        self._on_inserted()

    def remove(self) -> None:
        with self._lock:
            had_card, self._card = self._card is not None, None
        if had_card:
            self._on_removed()

    def _transmit(self, apdu: bytes) -> bytes:
        with self._lock:
            card = self._card
        if card is None:
            raise CardRemoved("card was removed during the read")
        response = card.process(apdu)
        if response is None:
            if not card.present:
                raise CardRemoved("card was removed during the read")
            raise CardMute("card does not answer")
        return response

    def read_identity(self) -> CardIdentity:
        return read_identity(self._transmit)

    def close(self) -> None:
        self.remove()
