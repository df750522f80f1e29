"""Honest figures for the face decision: identity-disjoint splits, the kiosk's visit, intervals.

Pure (numpy and the standard library). Used by ``kiosk-provision calibrate-face`` and ``bench/face.py``:

* ``identity_folds``: people, never images, are split, so nobody scored was seen by the cohort or the
  threshold being scored;
* ``threshold_for_far``: the lowest score threshold that lets at most ``far`` of each set's impostor
  attempts through (every set must hold the target, not only the pool);
* ``visit_outcome``: what the kiosk does with a patient's attempts (kiosk/face_score.py decides each
  attempt from the median of its frames; a grey attempt is tried again, up to the visit's limit; a clear
  mismatch ends the face check);
* ``upper_bound``: the exact (Clopper-Pearson) one-sided 95 % upper bound of a rate, so "0 false accepts
  in 2,000 attempts" reads as "at most 0.0015".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from kiosk.face_score import OperatingPoint, Verdict


def identity_folds(identities: Iterable[str], k: int, *, salt: str = "") -> list[list[str]]:
    """``k`` disjoint groups of people, assigned by a hash of the name (stable across runs and machines)."""
    ordered = sorted(set(identities), key=lambda name: hashlib.sha256((salt + name).encode()).hexdigest())
    return [ordered[i::k] for i in range(k)]


def threshold_for_far(impostor_scores: Mapping[str, Sequence[float]], far: float) -> float:
    """Lowest threshold with at most ``far`` of each set's impostor scores at or above it."""
    worst = -np.inf
    for scores in impostor_scores.values():
        ordered = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
        if len(ordered) == 0:
            continue
        allowed = int(np.floor(far * len(ordered)))  # this many may pass: the next one must not
        blocked = float(ordered[min(allowed, len(ordered) - 1)])
        worst = max(worst, float(np.nextafter(blocked, np.inf)))
    if worst == -np.inf:
        raise ValueError("no impostor attempts to calibrate on")
    return worst


def operating_point(impostor_scores: Mapping[str, Sequence[float]], target_far: float, *,
                    grey_far: float = 0.01) -> OperatingPoint:
    """The threshold for ``target_far`` (rounded up to 0.001); the grey zone from where ``grey_far`` starts."""
    threshold = math.ceil(threshold_for_far(impostor_scores, target_far) * 1000) / 1000
    grey = min(threshold, round(threshold_for_far(impostor_scores, grey_far), 3))
    return OperatingPoint(threshold=threshold, grey_floor=grey)


def visit_outcome(attempt_scores: Sequence[Sequence[float]], point: OperatingPoint) -> bool:
    """Whether a visit is accepted: each attempt is a burst of frame scores, tried in order.

    MATCH accepts; GREY tries the next attempt (up to the attempts given); MISMATCH ends the check.
    """
    for frames in attempt_scores:
        verdict, _ = point.decide(frames)
        if verdict is Verdict.MATCH:
            return True
        if verdict is Verdict.MISMATCH:
            return False
    return False


def upper_bound(errors: int, trials: int, confidence: float = 0.95) -> float:
    """Exact one-sided upper confidence bound of a binomial rate (Clopper-Pearson)."""
    if trials <= 0:
        return 1.0
    if errors >= trials:
        return 1.0
    alpha = 1.0 - confidence
    low, high = errors / trials, 1.0
    for _ in range(60):  # bisection on P(X <= errors | p) = alpha
        mid = (low + high) / 2
        if _binomial_cdf(errors, trials, mid) > alpha:
            low = mid
        else:
            high = mid
    return high


def _binomial_cdf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0 if k < n else 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
             for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def rate(errors: int, trials: int) -> dict[str, float | int]:
    """A rate with its count and its 95 % upper bound."""
    return {"rate": round(errors / trials, 5) if trials else 0.0, "errors": errors, "trials": trials,
            "upper95": round(upper_bound(errors, trials), 5)}


def people_needed(target_far: float, confidence: float = 0.95) -> int:
    """Impostor attempts needed so that zero false accepts bound the rate below ``target_far``."""
    return math.ceil(math.log(1.0 - confidence) / math.log1p(-target_far))
