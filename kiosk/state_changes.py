"""Device and network state changes for the log (the journal under systemd): each state is logged when
it is first seen and whenever it changes, never on every poll. No personal data: states and counts."""

from __future__ import annotations

import logging
from collections.abc import Mapping

log = logging.getLogger("kiosk.state")


class StateChanges:
    def __init__(self) -> None:
        self._last: dict[str, object] = {}

    def note(self, states: Mapping[str, object]) -> list[str]:
        """Log (WARNING when something became unusable, else INFO) and return the changes since last time."""
        changes = []
        for name, value in states.items():
            before = self._last.get(name, _UNSEEN)
            if before == value:
                continue
            self._last[name] = value
            text = f"{name}: {_word(value)}" if before is _UNSEEN else f"{name}: {_word(before)} -> {_word(value)}"
            log.log(logging.WARNING if value is False else logging.INFO, "%s", text)
            changes.append(text)
        return changes


_UNSEEN = object()


def _word(value: object) -> str:
    return {True: "ok", False: "DOWN"}.get(value, str(value)) if isinstance(value, bool) else str(value)
