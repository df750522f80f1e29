"""Errors with stable codes.

Codes are grouped by area (card 1xx, camera/face 2xx, printer 3xx, network and
gateway 4xx, queue 5xx, configuration 6xx) and shown to technicians. Library
exceptions are converted into these at the driver boundary; they never reach
``kiosk/``. ``exit_status`` maps an error to a process exit status (1-255).
"""

from __future__ import annotations


class KioskError(Exception):
    """Base of all project errors. ``code`` is stable; ``message`` is for staff."""

    code: int = 900

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def exit_status(self) -> int:
        """Process exit status: 10 + area (card 11, face 12, printer 13, network 14, queue 15, config 16)."""
        return 10 + min(self.code // 100, 9)

    def __str__(self) -> str:
        return f"E{self.code}: {self.message}"


class CardError(KioskError):
    """The card could not be read or is not acceptable."""

    code = 100


class CardRemoved(CardError):
    code = 101


class CardMute(CardError):
    code = 102


class NotSocialSecurityCard(CardError):
    code = 103


class CardDataCorrupt(CardError):
    code = 104


class CardExpired(CardError):
    code = 105


class InvalidCitizenId(CardError):
    code = 106


class ReaderUnavailable(CardError):
    code = 110


class FaceError(KioskError):
    code = 200


class CameraUnavailable(FaceError):
    code = 201


class FaceEngineUnavailable(FaceError):
    code = 202


class FaceAuthRefused(FaceError):
    """The voucher platform did not identify the person by face (PROTOCOL.md section 10). ``reason``, a short
    key the screen translates: mismatch (not the face of this ID number), locked (too many failures: this ID
    number is locked for ``retry_after_s``), no_photo (no usable photo on file: a family account may help),
    rate_limited (this terminal asked too often), unknown_person, liveness_required."""

    code = 206

    def __init__(self, reason: str, message: str, *, retry_after_s: int = 0) -> None:
        super().__init__(message)
        self.reason, self.retry_after_s = reason, retry_after_s


class VoucherInvalid(KioskError):
    """A scanned QR payload is not an electronic medical-insurance voucher."""

    code = 250


class VoucherPasswordRefused(VoucherInvalid):
    """The platform refused the voucher password: ``remaining`` tries left, or ``locked`` (no more today)."""

    code = 251

    def __init__(self, message: str, *, remaining: int, locked: bool) -> None:
        super().__init__(message)
        self.remaining, self.locked = remaining, locked


class FamilyAuthRefused(VoucherInvalid):
    """The platform refused a family member's authorisation: ``reason`` not_bound, unknown_person, expired
    or unknown (the member's code)."""

    code = 252

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PrinterError(KioskError):
    code = 300


class GatewayError(KioskError):
    code = 400


class GatewayUnreachable(GatewayError):
    """Nothing reached the gateway (connection refused, DNS, no route): safe to resend the same msgid."""

    code = 401


class GatewayTlsRefused(GatewayUnreachable):
    """The TLS handshake failed (certificate not trusted, expired, for another host): nothing was sent.

    A configuration or security fault (``gateway.ca_bundle``, the gateway's certificate, or someone in
    between), not an outage; like an unreachable gateway it is safe to resend once mended."""

    code = 404


class GatewayAccessRefused(GatewayError):
    """The gateway's access layer refused the request (section 9 of PROTOCOL.md): our signature or access
    id (a configuration fault), our clock (a time-sync fault) or a replayed nonce. Nothing was processed;
    not a network outage, so nothing is queued for it. ``reason``: signature, paasid, stale or nonce."""

    code = 405

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class GatewayNoAnswer(GatewayError):
    """The request may have been processed but no answer came back: the outcome is ambiguous."""

    code = 402


class GatewayProtocolError(GatewayError):
    """The gateway answered something that is not a valid envelope."""

    code = 403


class GatewayBusinessError(GatewayError):
    """The gateway refused the transaction (``infcode`` -1). Never retried; shown to the patient."""

    code = 410

    def __init__(self, err_msg: str, *, infno: str = "") -> None:
        super().__init__(err_msg or f"transaction {infno} refused without a message")
        self.infno = infno
        self.err_msg = err_msg


class ReversalRefused(GatewayError):
    """A settlement sent without an answer cannot be reversed any more (2601 refused: cross-province
    reversals are limited in time), so the kiosk can neither settle again nor leave it: staff look up the
    settlement with the insured region and record what they found (``kiosk-provision queue resolve``)."""

    code = 404


class BenefitRefused(GatewayError):
    """The benefit check (2001) says the chosen insurance cannot be used for this visit: nothing was
    registered. ``reason``: a kiosk.insurance.BenefitReason value; ``detail``: the insured region's words."""

    code = 420

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"benefit check refused: {reason}" + (f" ({detail})" if detail else ""))
        self.reason, self.detail = reason, detail


class PaymentError(KioskError):
    """The payment provider (or the bank-card terminal) for the patient's own share."""

    code = 460


class PaymentUnknown(PaymentError):
    """The provider could not be reached or did not answer (or answered unsigned): the order's state is
    unknown until a query says otherwise. Never taken as "not paid"."""

    code = 461


class PaymentDeclined(PaymentError):
    """The provider refused (expired or invalid payment code, insufficient balance, order closed).
    ``reason`` is a short key the screen translates; no money moved."""

    code = 462

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PaymentPending(PaymentError):
    """An outbox plan waits on its payment (patient still paying, refund processing, provider away):
    the item stays open and is tried again later."""

    code = 463


class PlanCancelled(KioskError):
    """An outbox plan ended without settling and without money kept (unpaid order closed, registration
    undone). Final, not an error for staff."""

    code = 464


class QueueError(KioskError):
    code = 500


class ConfigError(KioskError):
    code = 600


class LocationError(KioskError):
    code = 700


class LocationUnavailable(LocationError):
    """No location source answers (gpsd not running, receiver unplugged)."""

    code = 701


class RosterError(KioskError):
    """The staff roster cannot be read or written, or a staff entry is refused."""

    code = 800
