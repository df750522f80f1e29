"""Honest figures for the face decision: identity-disjoint splits, the kiosk's visit, intervals.

Pure (numpy and the standard library). Used by ``kiosk-provision calibrate-face`` and ``bench/face.py``:

* ``identity_folds``: people, never images, are split, so nobody scored was seen by the cohort or the
  threshold being scored;
* ``threshold_for_far``: the lowest score threshold at which each set's impostor attempts vouch for
  ``far`` at 95 % confidence (every set must hold the target, not only the pool), raised by
  ``threshold_for_pairs`` so that a new pair of look-alike people is unlikely to pass;
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
from statistics import NormalDist

import numpy as np

from kiosk.face_score import OperatingPoint, Verdict


def identity_folds(identities: Iterable[str], k: int, *, salt: str = "") -> list[list[str]]:
    """``k`` disjoint groups of people, assigned by a hash of the name (stable across runs and machines)."""
    ordered = sorted(set(identities), key=lambda name: hashlib.sha256((salt + name).encode()).hexdigest())
    return [ordered[i::k] for i in range(k)]


def threshold_for_far(impostor_scores: Mapping[str, Sequence[float]], far: float) -> float:
    """Lowest threshold at which every set's impostor attempts vouch for ``far``.

    The attempts let through must keep the exact 95 % upper bound of the rate at or below ``far``, not
    only the observed rate: with 2,400 attempts the observed rule lets the two highest impostors pass
    (2 / 2,400 < 0.001), though two false accepts in 2,400 bound the rate only below 0.0026. Below
    2,995 attempts (where zero false accepts first vouch for 0.001) every impostor seen is blocked.
    """
    worst = -np.inf
    for scores in impostor_scores.values():
        ordered = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
        if len(ordered) == 0:
            continue
        allowed = _errors_vouched(len(ordered), far)  # this many may pass: the next one must not
        blocked = float(ordered[min(allowed, len(ordered) - 1)])
        worst = max(worst, float(np.nextafter(blocked, np.inf)))
    if worst == -np.inf:
        raise ValueError("no impostor attempts to calibrate on")
    return worst


def _errors_vouched(trials: int, rate: float) -> int:
    """The most errors in ``trials`` whose 95 % upper bound still lies at or below ``rate``."""
    allowed = 0
    while allowed < trials and upper_bound(allowed + 1, trials) <= rate:
        allowed += 1
    return allowed


PAIR_QUANTILE = 0.9  # a pair's typical high score: the 0.9 quantile of its attempts


def threshold_for_pairs(pair_scores: Mapping[str, Mapping[tuple[str, str], Sequence[float]]],
                        pair_share: float) -> float:
    """Threshold above all but ``pair_share`` of the pairs of different people, extrapolated.

    False accepts come in pairs of people, not in attempts: two people who look alike pass nearly every
    attempt, and with a few dozen people in a calibration set the worst pair of a new population is
    rarely among those seen. Per set, each pair's 0.9 quantile of attempt scores is taken; the threshold
    is where a normal fitted to the upper half of those pair values (the median, and the half-normal
    spread of the values above it: the lower tail of clearly different people says nothing about
    look-alikes) leaves ``pair_share`` above it. (Compared on the development people with a normal
    fitted to all pair values and with no pair rule: without it one development fold let 0.7 % of
    impostor attempts through; both pair rules held 0; the full normal, fitted on all development
    people, lands far above the genuine scores of nuaa_client's webcam faces.)

    ``band_point`` asks for the far target itself as the share: a pair that looks alike passes most of its
    attempts, so a far of 1 in 1,000 allows no more than 1 pair in 1,000 to look alike. (Until session 15
    the share was 0.01 for every target. On the development people the target's share held far 0 and
    frr_visit 0 on nuaa_client and pointing04 as 0.01 did, moved glint_celeb's frr_visit from 0.010 to
    0.030, and fitted without East Asian webcam faces let 0.016 of their impostor attempts through
    instead of 0.069 (bench/face_scores.py); bench/face.py publishes the figures on people never seen.)
    """
    worst = -np.inf
    for pairs in pair_scores.values():
        values = np.asarray([np.quantile(np.asarray(v, dtype=np.float64), PAIR_QUANTILE)
                             for v in pairs.values() if len(v)])
        if len(values) >= 3:
            median = float(np.median(values))
            upper = values[values > median] - median
            upper_sd = float(np.sqrt(np.mean(upper ** 2))) if len(upper) else 0.0  # half-normal spread
            worst = max(worst, median + round(NormalDist().inv_cdf(1.0 - pair_share), 3) * upper_sd)
    return worst


def band_point(impostor_scores: Mapping[str, Sequence[float]], target_far: float, *,
               grey_far: float = 0.01,
               pair_scores: Mapping[str, Mapping[tuple[str, str], Sequence[float]]] | None = None,
               ) -> tuple[float, float]:
    """(threshold, grey floor) of one band: the threshold for ``target_far`` (rounded up to 0.001),
    raised to the pair rule (the same share of look-alike pairs) when pair scores are given; the grey zone from where ``grey_far`` starts."""
    threshold = threshold_for_far(impostor_scores, target_far)
    if pair_scores:
        threshold = max(threshold, threshold_for_pairs(pair_scores, target_far))
    threshold = math.ceil(threshold * 1000) / 1000
    return threshold, min(threshold, round(threshold_for_far(impostor_scores, grey_far), 3))


def operating_point(impostor_scores: Mapping[str, Sequence[float]], target_far: float, *,
                    grey_far: float = 0.01,
                    pair_scores: Mapping[str, Mapping[tuple[str, str], Sequence[float]]] | None = None,
                    small_impostor_scores: Mapping[str, Sequence[float]] | None = None,
                    small_pair_scores: Mapping[str, Mapping[tuple[str, str], Sequence[float]]] | None = None,
                    small_face_px: int = 100) -> OperatingPoint:
    """The operating point: the normal band from ``impostor_scores``, the small-face band from
    ``small_impostor_scores`` (never below the normal band; absent: none)."""
    if not any(len(v) for v in impostor_scores.values()) and small_impostor_scores:
        impostor_scores, pair_scores = small_impostor_scores, small_pair_scores  # only small faces given
    threshold, grey = band_point(impostor_scores, target_far, grey_far=grey_far, pair_scores=pair_scores)
    if not small_impostor_scores or not any(len(v) for v in small_impostor_scores.values()):
        return OperatingPoint(threshold=threshold, grey_floor=grey, small_face_px=small_face_px)
    small, small_grey = band_point(small_impostor_scores, target_far, grey_far=grey_far, pair_scores=small_pair_scores)
    return OperatingPoint(threshold=threshold, grey_floor=grey, small_threshold=max(small, threshold),
                          small_grey_floor=max(small_grey, grey), small_face_px=small_face_px)


def visit_outcome(attempt_scores: Sequence[Sequence[float]], point: OperatingPoint,
                  face_px: Sequence[int | None] = ()) -> bool:
    """Whether a visit is accepted: each attempt is a burst of frame scores, tried in order.

    MATCH accepts; GREY tries the next attempt (up to the attempts given); MISMATCH ends the check.
    ``face_px``: each burst's smallest face height (the point's small-face band), when known.
    """
    for index, frames in enumerate(attempt_scores):
        verdict, _ = point.decide(frames, face_px[index] if index < len(face_px) else None)
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


def attempts_needed(target_far: float, confidence: float = 0.95) -> int:
    """Impostor attempts needed so that zero false accepts bound the rate below ``target_far``."""
    return math.ceil(math.log(1.0 - confidence) / math.log1p(-target_far))
