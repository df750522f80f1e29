"""How a visit ended, in a few fixed words: for the metrics (``kiosk_visits_total``), never with personal
data. ``outcome``: settled, queued (committed, the gateway to confirm), refunded (the paid share returned),
refused (the insured region's benefit check), failed (an error ended it), abandoned (the patient left or
chose the counter before anything was settled), recovered (after a restart, the outcome of the visit the
kiosk stopped in, shown to the patient), served (an information errand answered, nothing settled),
printed (an electronic invoice printed on A4), registered (a registration with a doctor confirmed: queue
number).
``errand``: what the visit was for (pay_fees once fees were listed, else the last information errand
shown: records, balance, filings, invoice; registration once a doctor's slot was held; identify when it ended
before any)."""

from __future__ import annotations

from kiosk.domain import VisitContext

OUTCOMES = ("settled", "queued", "refunded", "refused", "failed", "abandoned", "recovered", "served", "printed",
            "registered")
ERRANDS = ("pay_fees", "identify", "records", "balance", "filings", "invoice", "registration")


def visit_outcome(ctx: VisitContext) -> str:
    if ctx.interrupted is not None:
        return "recovered"  # shown after a restart: its settlement was counted by the process that made it
    if ctx.registered is not None:
        return "registered"
    if ctx.settlement is not None:
        return "settled"
    if ctx.queued is not None:
        return "queued"
    if ctx.refunded is not None:
        return "refunded"
    if ctx.error_message.startswith("benefit."):
        return "refused"
    if ctx.error_code:
        return "failed"
    if ctx.extra.get("invoice_job"):
        return "printed"
    if ctx.extra.get("errands_shown"):
        return "served"  # an information errand answered, nothing to settle
    return "abandoned"


def note_errand_shown(ctx: VisitContext, errand: str) -> None:
    """Remember that the visit served ``errand`` (read by :func:`visit_outcome` and :func:`visit_errand`)."""
    shown = ctx.extra.get("errands_shown", "")
    ctx.extra["errands_shown"] = ",".join(filter(None, [shown, errand]))


def visit_errand(ctx: VisitContext) -> str:
    if ctx.slot_lock is not None:
        return "registration"
    if ctx.fees or ctx.pre_settlement is not None:
        return "pay_fees"
    shown = ctx.extra.get("errands_shown", "")
    return shown.rsplit(",", 1)[-1] if shown else "identify"
