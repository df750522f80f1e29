"""The patient visit as a pure, typed state machine.

``VisitMachine.handle(event)`` moves to the next state and returns the effects
to run. Effects are carried out by :class:`kiosk.visit_effects.EffectRunner` on
worker threads; each result comes back as another event tagged with the
``visit_id`` it was started for, so a late answer from an abandoned visit is
ignored instead of leaking into the next patient's.

    IDLE -> IDENTIFYING -> CONSENT -> FACE_VERIFY -> SERVICES -> FEE_REVIEW
         -> PREPARING -> CONFIRM -> SETTLING -> RECEIPT -> IDLE

Any state but SETTLING can be left by Cancel, IdleTimeout or CardRemoved: a
privacy reset that wipes the visit (and cancels a registration already made).
Once 2207 is under way nothing interrupts it; its outcome is always shown.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import Enum

from kiosk.domain import (
    CardIdentity,
    FaceMatch,
    FeeItem,
    IdentityDocument,
    InsuredPerson,
    PreSettlement,
    QueuedSettlement,
    Settlement,
    VisitContext,
)
from kiosk.voucher import VoucherRefused, validate_voucher


class State(str, Enum):
    IDLE = "idle"
    IDENTIFYING = "identifying"
    CONSENT = "consent"
    FACE_VERIFY = "face_verify"
    SERVICES = "services"
    FEE_REVIEW = "fee_review"
    PREPARING = "preparing"
    CONFIRM = "confirm"
    SETTLING = "settling"
    RECEIPT = "receipt"
    ERROR = "error"


# ---- events: input from the patient, the devices and the workers ----------------------------


@dataclass(frozen=True)
class Event:
    visit_id: str = ""  # results of effects carry the visit they were started for


@dataclass(frozen=True)
class CardInserted(Event): ...


@dataclass(frozen=True)
class CardRemoved(Event): ...


@dataclass(frozen=True)
class VoucherScanned(Event):
    payload: str = ""


@dataclass(frozen=True)
class CardRead(Event):
    identity: CardIdentity | None = None


@dataclass(frozen=True)
class Identified(Event):
    person: InsuredPerson | None = None
    document: IdentityDocument | None = None


@dataclass(frozen=True)
class ConsentGiven(Event): ...


@dataclass(frozen=True)
class ConsentDeclined(Event): ...


@dataclass(frozen=True)
class FaceChecked(Event):
    match: FaceMatch | None = None


@dataclass(frozen=True)
class PayFeesChosen(Event): ...


@dataclass(frozen=True)
class FeesLoaded(Event):
    fees: tuple[FeeItem, ...] = ()


@dataclass(frozen=True)
class FeesConfirmed(Event): ...


@dataclass(frozen=True)
class Prepared(Event):
    pre_settlement: PreSettlement | None = None


@dataclass(frozen=True)
class SettlementConfirmed(Event): ...


@dataclass(frozen=True)
class Settled(Event):
    settlement: Settlement | None = None


@dataclass(frozen=True)
class Queued(Event):
    queued: QueuedSettlement | None = None


@dataclass(frozen=True)
class GatewayDown(Event):
    """The gateway could not be reached before anything was committed on its side."""


@dataclass(frozen=True)
class Failed(Event):
    """A step failed with a project error: code and a patient-facing message."""

    code: int = 0
    message: str = ""


@dataclass(frozen=True)
class ReceiptPrinted(Event):
    path: str = ""
    error: str = ""


@dataclass(frozen=True)
class PrinterChecked(Event):
    ready: bool = True
    detail: str = ""


@dataclass(frozen=True)
class ReprintRequested(Event):
    """The patient asks for the receipt again (after a print failure), from the visit record."""


@dataclass(frozen=True)
class Cancel(Event): ...


@dataclass(frozen=True)
class IdleTimeout(Event): ...


@dataclass(frozen=True)
class Finish(Event):
    """The patient is done with the receipt or the error screen."""


# ---- effects: work the machine asks for --------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    visit_id: str


@dataclass(frozen=True)
class ReadCard(Effect): ...


@dataclass(frozen=True)
class ResolveVoucher(Effect):
    token: str  # the validated scan (never logged whole)

    def __repr__(self) -> str:
        return f"ResolveVoucher({self.visit_id})"


@dataclass(frozen=True)
class Identify(Effect):
    identity: CardIdentity


@dataclass(frozen=True)
class VerifyFace(Effect):
    person: InsuredPerson
    attempt: int


@dataclass(frozen=True)
class LoadFees(Effect):
    person: InsuredPerson


@dataclass(frozen=True)
class Prepare(Effect):
    person: InsuredPerson
    document: IdentityDocument
    fees: tuple[FeeItem, ...]


@dataclass(frozen=True)
class Settle(Effect):
    person: InsuredPerson
    document: IdentityDocument
    pre_settlement: PreSettlement
    fees: tuple[FeeItem, ...]


@dataclass(frozen=True)
class SettleOffline(Effect):
    person: InsuredPerson
    document: IdentityDocument
    fees: tuple[FeeItem, ...]


@dataclass(frozen=True)
class CancelPrepared(Effect):
    person: InsuredPerson
    pre_settlement: PreSettlement


@dataclass(frozen=True)
class CheckPrinter(Effect):
    """Preflight before a paid step: online, paper."""


@dataclass(frozen=True)
class PrintReceipt(Effect):
    person: InsuredPerson
    fees: tuple[FeeItem, ...]
    settlement: Settlement | None = None
    queued: QueuedSettlement | None = None


@dataclass(frozen=True)
class WipeSecrets(Effect):
    """Zero the session's face template and tokens (privacy reset)."""


INTERRUPTIBLE = frozenset(State) - {State.IDLE, State.SETTLING}


@dataclass
class VisitMachine:
    """One kiosk's visit flow. Not thread-safe: drive it from one thread (the GUI thread)."""

    max_face_attempts: int = 3
    state: State = State.IDLE
    ctx: VisitContext = field(default_factory=VisitContext)
    visit_id: str = ""
    history: list[State] = field(default_factory=list)
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    def handle(self, event: Event) -> list[Effect]:
        """Apply one event; returns the effects to run (possibly none)."""
        if event.visit_id and event.visit_id != self.visit_id:
            return []  # a late result from an abandoned visit
        if isinstance(event, (Cancel, IdleTimeout, CardRemoved)):
            return self._interrupt(event)
        handler = _HANDLERS.get((self.state, type(event)))
        if handler is None:
            if isinstance(event, Failed):
                return self._fail(event)
            return []  # not meaningful here (e.g. a double tap): ignored
        return handler(self, event)

    # -- helpers ----------------------------------------------------------------------------------

    def _go(self, state: State) -> None:
        self.state = state
        self.history.append(state)

    def _begin_visit(self) -> None:
        """A new visit id and a clean context, identifying (by card or by voucher)."""
        self.visit_id = f"v{next(self._counter)}"
        self.ctx.wipe()
        self.history = [State.IDLE]
        self._go(State.IDENTIFYING)

    def _start(self) -> list[Effect]:
        self._begin_visit()
        return [ReadCard(self.visit_id)]

    def _reset(self) -> list[Effect]:
        effects: list[Effect] = []
        pre, person = self.ctx.pre_settlement, self.ctx.person
        if pre is not None and person is not None and self.ctx.settlement is None and self.ctx.queued is None:
            effects.append(CancelPrepared(self.visit_id, person, pre))
        effects.append(WipeSecrets(self.visit_id))
        self.ctx.wipe()
        self.visit_id = ""
        self._go(State.IDLE)
        return effects

    def _interrupt(self, event: Event) -> list[Effect]:
        if self.state == State.SETTLING:
            return []  # 2207 is under way: its outcome is still shown and printed, then the visit ends
        if self.state == State.RECEIPT and isinstance(event, CardRemoved):
            return []  # taking the card back is what we ask for on the receipt screen
        if self.state in INTERRUPTIBLE:
            return self._reset()
        return []

    def _fail(self, event: Failed) -> list[Effect]:
        self.ctx.error_code, self.ctx.error_message = event.code, event.message
        self._go(State.ERROR)
        return []

    # -- transitions -------------------------------------------------------------------------------

    def _on_start(self, _: Event) -> list[Effect]:
        return self._start()

    def _on_voucher(self, e: VoucherScanned) -> list[Effect]:
        self._begin_visit()
        try:
            token = validate_voucher(e.payload)
        except VoucherRefused as refused:
            return self._fail(Failed(code=refused.code, message=f"voucher.{refused.reason}"))
        return [ResolveVoucher(self.visit_id, token)]

    def _on_card_read(self, e: CardRead) -> list[Effect]:
        assert e.identity is not None
        return [Identify(self.visit_id, e.identity)]

    def _on_identified(self, e: Identified) -> list[Effect]:
        self.ctx.person, self.ctx.document = e.person, e.document
        self._go(State.CONSENT)
        return []

    def _on_consent(self, _: ConsentGiven) -> list[Effect]:
        assert self.ctx.person is not None
        self._go(State.FACE_VERIFY)
        self.ctx.face_attempts = 1
        return [VerifyFace(self.visit_id, self.ctx.person, 1)]

    def _on_consent_declined(self, _: ConsentDeclined) -> list[Effect]:
        return self._fail(Failed(code=0, message="consent_declined"))

    def _on_face(self, e: FaceChecked) -> list[Effect]:
        assert e.match is not None and self.ctx.person is not None
        self.ctx.face = e.match
        if e.match.accepted:
            self._go(State.SERVICES)
            return []
        if e.match.verdict == "mismatch":  # clearly another face: no retry for an impostor to use
            return self._fail(Failed(code=203, message="face_mismatch"))
        if self.ctx.face_attempts >= self.max_face_attempts:
            return self._fail(Failed(code=203, message="face_attempts_exhausted"))
        self.ctx.face_attempts += 1
        return [VerifyFace(self.visit_id, self.ctx.person, self.ctx.face_attempts)]

    def _on_pay(self, _: PayFeesChosen) -> list[Effect]:
        assert self.ctx.person is not None
        return [LoadFees(self.visit_id, self.ctx.person)]

    def _on_fees(self, e: FeesLoaded) -> list[Effect]:
        self.ctx.fees = e.fees
        self._go(State.FEE_REVIEW)
        return []

    def _on_fees_confirmed(self, _: FeesConfirmed) -> list[Effect]:
        person, doc = self.ctx.person, self.ctx.document
        assert person is not None and doc is not None
        if not self.ctx.fees:
            return []
        self._go(State.PREPARING)
        return [CheckPrinter(self.visit_id), Prepare(self.visit_id, person, doc, self.ctx.fees)]

    def _on_printer_checked(self, e: PrinterChecked) -> list[Effect]:
        # the patient is told before paying that no paper receipt can be printed (the record is kept)
        self.ctx.extra["printer_warning"] = "" if e.ready else (e.detail or "printer not ready")
        return []

    def _on_reprint(self, _: ReprintRequested) -> list[Effect]:
        if not self.ctx.extra.get("print_error") or self.ctx.person is None:
            return []
        self.ctx.extra["print_error"] = ""
        return [PrintReceipt(self.visit_id, self.ctx.person, self.ctx.fees, settlement=self.ctx.settlement,
                             queued=self.ctx.queued)]

    def _on_prepared(self, e: Prepared) -> list[Effect]:
        self.ctx.pre_settlement = e.pre_settlement
        self._go(State.CONFIRM)
        return []

    def _on_gateway_down(self, _: GatewayDown) -> list[Effect]:
        person, doc = self.ctx.person, self.ctx.document
        assert person is not None and doc is not None
        self._go(State.SETTLING)
        return [SettleOffline(self.visit_id, person, doc, self.ctx.fees)]

    def _on_settlement_confirmed(self, _: SettlementConfirmed) -> list[Effect]:
        person, doc, pre = self.ctx.person, self.ctx.document, self.ctx.pre_settlement
        assert person is not None and doc is not None and pre is not None
        self._go(State.SETTLING)
        return [Settle(self.visit_id, person, doc, pre, self.ctx.fees)]

    def _on_settled(self, e: Settled) -> list[Effect]:
        assert self.ctx.person is not None
        self.ctx.settlement = e.settlement
        self._go(State.RECEIPT)
        return [PrintReceipt(self.visit_id, self.ctx.person, self.ctx.fees, settlement=e.settlement)]

    def _on_queued(self, e: Queued) -> list[Effect]:
        assert self.ctx.person is not None
        self.ctx.queued = e.queued
        self._go(State.RECEIPT)
        return [PrintReceipt(self.visit_id, self.ctx.person, self.ctx.fees, queued=e.queued)]

    def _on_settle_failed(self, e: Failed) -> list[Effect]:
        # a business refusal of 2207: nothing was settled, the registration is undone on reset
        return self._fail(e)

    def _on_printed(self, e: ReceiptPrinted) -> list[Effect]:
        self.ctx.extra["receipt"], self.ctx.extra["print_error"] = e.path, e.error
        return []

    def _on_finish(self, _: Finish) -> list[Effect]:
        return self._reset()


_H = VisitMachine
_HANDLERS = {
    (State.IDLE, CardInserted): _H._on_start,
    (State.IDLE, VoucherScanned): _H._on_voucher,
    (State.IDENTIFYING, CardRead): _H._on_card_read,
    (State.IDENTIFYING, Identified): _H._on_identified,
    (State.CONSENT, ConsentGiven): _H._on_consent,
    (State.CONSENT, ConsentDeclined): _H._on_consent_declined,
    (State.FACE_VERIFY, FaceChecked): _H._on_face,
    (State.SERVICES, PayFeesChosen): _H._on_pay,
    (State.SERVICES, FeesLoaded): _H._on_fees,
    (State.FEE_REVIEW, FeesConfirmed): _H._on_fees_confirmed,
    (State.PREPARING, Prepared): _H._on_prepared,
    (State.PREPARING, PrinterChecked): _H._on_printer_checked,
    (State.CONFIRM, PrinterChecked): _H._on_printer_checked,
    (State.RECEIPT, ReprintRequested): _H._on_reprint,
    (State.PREPARING, GatewayDown): _H._on_gateway_down,
    (State.CONFIRM, SettlementConfirmed): _H._on_settlement_confirmed,
    (State.SETTLING, Settled): _H._on_settled,
    (State.SETTLING, Queued): _H._on_queued,
    (State.SETTLING, Failed): _H._on_settle_failed,
    (State.RECEIPT, ReceiptPrinted): _H._on_printed,
    (State.RECEIPT, Finish): _H._on_finish,
    (State.ERROR, Finish): _H._on_finish,
}
