"""judge_objective(): does a change harm or improve what the business measures?

A pure function of cumulative counts, checked every second like the 5xx tests and with the same
error control: each one-sided test is an e-process read against 1/alpha (Ville's inequality),
and the effect's interval is the set of effects neither test rejects, so it is a confidence
sequence, valid at every check. Four outcomes, with the effect signed so that + is better:

  harm          the whole interval lies below -tolerance          -> the change fails
  improvement   the whole interval lies above 0                   -> recorded, never rolled back
  pass          the interval lies above -tolerance, and either within (-tolerance, +tolerance)
                or the estimate is below +tolerance and the test for improvement is not even
                halfway (on the log scale) to its threshold -- a change that looks better is
                watched until its improvement shows, rather than passed early
  inconclusive  anything else, with the time a decision should take at the current traffic

Ratio objectives (orders per request) use the test the 5xx comparison uses (`share_e_value`,
Lindon & Malek's conditional test): of the K requests with the event on the candidate and its
baseline together, each is the candidate's with probability pi(r) = s r / (s r + 1 - s), s the
candidate's share of requests and r the ratio of its rate to the baseline's. Whatever the traffic
and the common rate do over time, that holds for every r, so testing "r >= r0" and "r <= r0" at
each r0 gives exact e-processes; a request counts once (at most one event per request), so a
request with many events is not many pieces of evidence.

Mean objectives (revenue per request) have no such exact test for unbounded values; they use
the normal-mixture confidence sequence of Howard et al. (2021) on the difference of the means
with the variances estimated as it goes (asymptotically valid, as Waudby-Smith et al. 2021 show
for plug-in variances), and no decision before `min_units` units of spread on each side.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from controlplane.model import (
    Better,
    Objective,
    ObjectiveArm,
    ObjectiveEvidence,
    ObjectiveKind,
    ObjectiveOutcome,
    OutcomeCounts,
    say_duration,  # one way to say a duration
)
from controlplane.model._business import effect_text
from controlplane.verdict._evidence import ABOVE, BELOW, MAX_E_VALUE, rate_e_value, share_e_value

RATIO_SPAN = (1e-4, 1e4)
"""Ratios of the candidate's rate to the baseline's searched for the interval's ends."""
MIX_REQUESTS = 500.0
"""The normal mixture is tightest around this many requests' worth of information."""
MAX_PROJECTION_S = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class ObjectivePolicy:
    alpha: float = 0.01
    """As the 5xx tests: each one-sided test errs with probability at most alpha."""
    min_requests: int = 100
    """Requests the candidate must have shown before a pass or an improvement."""
    min_units: int = 30
    """Mean objectives: units of spread on each side before any decision."""
    min_expected_events: float = 10.0
    """Ratio objectives: a harm needs room for this many events on the candidate at the
    baseline's rate (its requests times that rate): a handful of requests without an order
    is what low conversion looks like, not harm, and the share of requests the conditional
    test leans on is noisiest then."""


@dataclass(frozen=True, slots=True)
class _Tests:
    """One objective's one-sided tests on the relative effect (candidate against baseline;
    + means a higher value)."""

    effect: float
    e_at: Callable[[float, bool], float]
    """e_at(effect0, above): evidence that the effect is above (or below) effect0."""
    bounds: Callable[[], tuple[float | None, float | None]]
    """The interval: every effect0 neither test rejects (None: open on that side)."""


@dataclass(frozen=True, slots=True)
class _Signed:
    """The tests seen with + meaning better."""

    tests: _Tests
    sign: float

    def e(self, effect0: float, above: bool) -> float:
        if self.sign > 0:
            return self.tests.e_at(effect0, above)
        return self.tests.e_at(-effect0, not above)


def decide(
    objective: Objective,
    candidate: OutcomeCounts,
    baseline: OutcomeCounts | None,
    policy: ObjectivePolicy = ObjectivePolicy(),
) -> ObjectiveOutcome:
    """The outcome alone, without the interval's ends (what the simulator calls)."""
    if baseline is None or baseline.requests == 0 or candidate.requests == 0:
        return ObjectiveOutcome.INCONCLUSIVE
    tests = _tests(objective, candidate, baseline, policy)
    if tests is None:
        return ObjectiveOutcome.INCONCLUSIVE
    return _outcome(_Signed(tests, _sign(objective)), objective, candidate, baseline, policy)


def judge_objective(
    objective: Objective,
    candidate: OutcomeCounts,
    baseline: OutcomeCounts | None,
    *,
    elapsed_s: float,
    policy: ObjectivePolicy = ObjectivePolicy(),
) -> ObjectiveEvidence:
    """The comparison of the candidate's counts since its change with its baseline's (the
    service's other live instances summed), with the effect's interval and the reason."""
    tolerance = objective.tolerance / 100.0
    threshold = 1.0 / policy.alpha
    base = ObjectiveArm(requests=baseline.requests, total=baseline.total) if baseline else None
    fields: dict[str, object] = {
        "name": objective.name,
        "label": objective.label,
        "better": objective.better,
        "candidate": ObjectiveArm(requests=candidate.requests, total=candidate.total),
        "baseline": base,
        "tolerance": tolerance,
    }

    def evidence(outcome: ObjectiveOutcome, reason: str, **more: object) -> ObjectiveEvidence:
        return ObjectiveEvidence.model_validate(
            {**fields, "outcome": outcome, "reason": reason, **more}
        )

    if baseline is None or baseline.requests == 0:
        return evidence(
            ObjectiveOutcome.INCONCLUSIVE,
            f"{objective.label}: no baseline to compare with (no other live instance has "
            "reported it)",
        )
    if candidate.requests == 0:
        return evidence(
            ObjectiveOutcome.INCONCLUSIVE, f"{objective.label}: no outcome of the candidate yet"
        )
    tests = _tests(objective, candidate, baseline, policy)
    if tests is None:
        return evidence(
            ObjectiveOutcome.INCONCLUSIVE,
            f"{objective.label}: too few outcomes yet to measure their spread",
        )
    signed = _Signed(tests, _sign(objective))
    outcome = _outcome(signed, objective, candidate, baseline, policy)
    low, high = tests.bounds()
    harm_e = signed.e(-tolerance, False)
    shown = {"effect": tests.effect, "low": low, "high": high, "harm_e_value": harm_e}
    described = effect_text(objective.label, tests.effect, low, high)
    if outcome is ObjectiveOutcome.HARM:
        return evidence(
            outcome,
            f"{described}: worse than the baseline beyond the tolerance of "
            f"{100 * tolerance:g}% (e-value {_e(harm_e)} >= {threshold:g})",
            **shown,
        )
    if outcome is ObjectiveOutcome.IMPROVEMENT:
        return evidence(
            outcome,
            f"{described}: better than the baseline (e-value {_e(signed.e(0.0, True))} >= "
            f"{threshold:g})",
            **shown,
        )
    if outcome is ObjectiveOutcome.PASS:
        return evidence(
            outcome, f"{described}: no harm beyond the tolerance of {100 * tolerance:g}%", **shown
        )
    if signed.sign > 0:
        good_low, good_high = low, high
    else:
        good_low = -high if high is not None else None
        good_high = -low if low is not None else None
    expected = _expected_s(signed.sign * tests.effect, good_low, good_high, tolerance, elapsed_s)
    when = (
        f"about {say_duration(expected)} more to a decision"
        if expected is not None
        else "no decision in sight at the current traffic"
    )
    return evidence(
        outcome, f"{described}: inconclusive; {when}", expected_s_to_decision=expected, **shown
    )


def _sign(objective: Objective) -> float:
    return 1.0 if objective.better is Better.HIGHER else -1.0


def _tests(
    objective: Objective,
    candidate: OutcomeCounts,
    baseline: OutcomeCounts,
    policy: ObjectivePolicy,
) -> _Tests | None:
    if objective.kind is ObjectiveKind.RATIO:
        return _ratio_tests(candidate, baseline, policy.alpha)
    return _mean_tests(candidate, baseline, policy)


def _room(
    objective: Objective, candidate: OutcomeCounts, baseline: OutcomeCounts, policy: ObjectivePolicy
) -> bool:
    if objective.kind is not ObjectiveKind.RATIO or baseline.requests <= 0:
        return True  # a mean objective waits for min_units already
    rate = min(baseline.total, baseline.requests) / baseline.requests
    return candidate.requests * rate >= policy.min_expected_events


def _outcome(
    signed: _Signed,
    objective: Objective,
    candidate: OutcomeCounts,
    baseline: OutcomeCounts,
    policy: ObjectivePolicy,
) -> ObjectiveOutcome:
    """harm: the interval's upper end below -tolerance; improvement: its lower end above 0;
    pass: its lower end above -tolerance, and its upper end below +tolerance or (the estimate
    below +tolerance and the test for improvement not halfway to its threshold): a change that
    looks better is watched until the improvement shows, rather than passed early. Each end
    is read as the test at that point, which is the same by monotonicity (and cheaper than
    finding the ends)."""
    tolerance = objective.tolerance / 100.0
    threshold = 1.0 / policy.alpha
    if signed.e(-tolerance, False) >= threshold and _room(objective, candidate, baseline, policy):
        return ObjectiveOutcome.HARM
    if candidate.requests < policy.min_requests:
        return ObjectiveOutcome.INCONCLUSIVE
    improve_e = signed.e(0.0, True)
    if improve_e >= threshold:
        return ObjectiveOutcome.IMPROVEMENT
    looks_better = signed.sign * signed.tests.effect >= tolerance
    quiet = improve_e < math.sqrt(threshold) and not looks_better
    if signed.e(-tolerance, True) >= threshold and (
        quiet or signed.e(tolerance, False) >= threshold
    ):
        return ObjectiveOutcome.PASS
    return ObjectiveOutcome.INCONCLUSIVE


# Ratio objectives: the conditional test on requests with the event.


def _ratio_tests(cand: OutcomeCounts, base: OutcomeCounts, alpha: float) -> _Tests:
    share = cand.requests / (cand.requests + base.requests)
    k = min(cand.total, cand.requests)
    events = k + min(base.total, base.requests)

    def pi(ratio: float) -> float:
        return share * ratio / (share * ratio + 1.0 - share)

    # Each e-value is the average of two mixtures (an average of e-values is one): the grid of
    # odds ratios finds large changes fast, the uniform mixture over the share finds small
    # ones, which the grid's smallest alternative (odds off by a fifth) would miss forever.
    def e_above(ratio: float) -> float:
        p = pi(ratio)
        return (rate_e_value(k, events, p, ABOVE) + share_e_value(k, events, p)) / 2

    def e_below(ratio: float) -> float:
        p = pi(ratio)
        grid = rate_e_value(k, events, p, BELOW)
        return (grid + share_e_value(events - k, events, 1.0 - p)) / 2

    threshold = 1.0 / alpha
    lo_r, hi_r = RATIO_SPAN

    def bounds() -> tuple[float | None, float | None]:
        # e_above falls as the ratio rises, e_below rises: bisect on the log ratio for each end.
        low = None if e_above(lo_r) < threshold else _bisect(e_above, threshold, True)
        high = None if e_below(hi_r) < threshold else _bisect(e_below, threshold, False)
        return (low - 1.0 if low is not None else None, high - 1.0 if high is not None else None)

    base_rate = min(base.total, base.requests) / base.requests
    cand_rate = k / cand.requests
    effect = cand_rate / base_rate - 1.0 if base_rate > 0 else (0.0 if cand_rate == 0 else hi_r)
    return _Tests(
        effect=min(effect, hi_r),
        e_at=lambda e0, above: (e_above if above else e_below)(max(lo_r, 1.0 + e0)),
        bounds=bounds,
    )


def _bisect(e_value: Callable[[float], float], threshold: float, falling: bool) -> float:
    """The ratio at which `e_value` crosses `threshold` (found on the log scale)."""
    a, b = math.log(RATIO_SPAN[0]), math.log(RATIO_SPAN[1])
    for _ in range(36):
        mid = (a + b) / 2
        if (e_value(math.exp(mid)) >= threshold) == falling:
            a = mid
        else:
            b = mid
    return math.exp((a + b) / 2)


# Mean objectives: a normal-mixture confidence sequence on the difference of means.


def _mean_tests(cand: OutcomeCounts, base: OutcomeCounts, policy: ObjectivePolicy) -> _Tests | None:
    var_c, var_b = cand.variance(), base.variance()
    if (
        var_c is None
        or var_b is None
        or min(cand.units, base.units) < policy.min_units
        or cand.mean is None
        or base.mean is None
    ):
        return None
    diff = cand.mean - base.mean
    info = 1.0 / max(var_c / cand.requests + var_b / base.requests, 1e-300)  # intrinsic time
    rho = MIX_REQUESTS / max((var_c + var_b) / 2, 1e-300)
    scale = abs(base.mean)
    log_cap = math.log(MAX_E_VALUE)

    def e_at(effect0: float, above: bool) -> float:
        if scale == 0:
            return 1.0
        gap = (diff - effect0 * scale) * info  # the sum's distance from the null's boundary
        if (gap > 0) != above:
            return 1.0
        log_e = 0.5 * math.log(rho / (info + rho)) + gap * gap / (2 * (info + rho))
        return MAX_E_VALUE if log_e > log_cap else math.exp(log_e)

    # The same boundary solved for the gap at e = 1/alpha.
    half = math.sqrt((info + rho) * (math.log1p(info / rho) + 2 * math.log(1 / policy.alpha)))
    half /= info
    if scale == 0:
        return _Tests(0.0, e_at, lambda: (None, None))
    return _Tests(diff / scale, e_at, lambda: ((diff - half) / scale, (diff + half) / scale))


# Time to a decision, and words.


def _expected_s(
    effect: float, low: float | None, high: float | None, tolerance: float, elapsed_s: float
) -> float | None:
    """If the effect holds (+ is better), the interval narrows about as 1/sqrt(time): how
    long until its nearer end clears the decision point the effect lies beyond."""
    if low is None or high is None or elapsed_s <= 0:
        return None
    half = (high - low) / 2
    # Below -tolerance the next decision is harm (the upper end must clear it); above, a pass
    # (the lower end must clear -tolerance), which an improvement only follows.
    gap = -tolerance - effect if effect < -tolerance else effect + tolerance
    if gap <= 0 or half <= 0:
        return None
    seconds = max(0.0, (half / gap) ** 2 - 1.0) * elapsed_s
    return seconds if seconds <= MAX_PROJECTION_S else None


def _e(value: float) -> str:
    return f"{value:.3g}" if value < 1e6 else f"{value:.2e}"
