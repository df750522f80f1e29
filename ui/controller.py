"""Qt side of the visit: feeds events to the pure machine and runs its effects on worker lanes.

Everything here runs on the GUI thread; effects run on the lanes of the
:class:`~ui.bridge.TaskRunner` and come back as events through its signal.
"""

from __future__ import annotations

import logging
from functools import partial

from PySide6.QtCore import QObject, Signal

from kiosk import visit as v
from kiosk.ports import CardReader
from kiosk.visit_effects import EffectRunner, lane_for

from ui.bridge import TaskRunner

log = logging.getLogger(__name__)

LANES = ("card", "vision", "gateway", "payment", "printer", "status")


class VisitController(QObject):
    state_changed = Signal(object)  # the machine's State after each event

    def __init__(self, machine: v.VisitMachine, effects: EffectRunner, tasks: TaskRunner,
                 card_reader: CardReader) -> None:
        super().__init__()
        self.machine, self._effects, self.tasks = machine, effects, tasks
        card_reader.set_listener(
            on_inserted=lambda: tasks.post_to_gui(lambda: self.post(v.CardInserted())),
            on_removed=lambda: tasks.post_to_gui(lambda: self.post(v.CardRemoved())),
        )

    @property
    def state(self) -> v.State:
        return self.machine.state

    def post(self, event: v.Event) -> None:
        """Feed one event (GUI thread only)."""
        effects = self.machine.handle(event)
        for effect in effects:
            log.debug("effect %s on lane %s", type(effect).__name__, lane_for(effect))
            self.tasks.submit(lane_for(effect), partial(self._effects.run, effect), self._on_result)
        self.state_changed.emit(self.machine.state)

    def _on_result(self, event: v.Event | None) -> None:
        if event is not None:
            self.post(event)
