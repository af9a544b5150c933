"""How long a candidate that is exactly as good as its baseline needs to pass, at given traffic.

The passing tests are betting e-processes (`_betting`); if the candidate is as good as its
baseline, each unit of evidence grows the best stake's log-wealth by an expected g, and the
mixture of STAKES reaches log(1/alpha) about (log(1/alpha) + log(len(STAKES))) / g units in (the
average is at least the best stake's wealth over the number of stakes). `seconds_to_pass` takes
the faster of the two routes `judge` passes by, and is what `weir rollout start` prints for each
step; bench/evaluator_sim.py prints it beside the simulated median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controlplane.model import Slo
from controlplane.verdict._betting import ODDS_BELOW, STAKES
from controlplane.verdict._judge import (
    ABSOLUTE_TOLERANCE,
    VerdictPolicy,
    allowed_error_rate,
    rate_bound,
)

DEFAULT_POLICY = VerdictPolicy()


@dataclass(frozen=True, slots=True)
class Traffic:
    """A service's traffic as the evaluator saw it lately."""

    requests_per_s: float
    error_rate: float


def seconds_to_pass(
    traffic: Traffic,
    share: float,
    slo: Slo,
    policy: VerdictPolicy = DEFAULT_POLICY,
    *,
    baseline: bool = True,
    reference_requests: float | None = None,
) -> float | None:
    """Expected seconds (after any warm-up) until a candidate with `share` of the traffic and
    the same 5xx rate as the rest passes; None when it would not (a rate at or over what it is
    judged against, or no traffic). `baseline`: other live instances share the traffic;
    without one, `reference_requests` is how many requests of the replaced version the step is
    judged against (at the same rate; None: the SLO applies)."""
    rate = min(max(traffic.error_rate, 0.0), 1.0)
    candidate_rps = traffic.requests_per_s * share
    if candidate_rps <= 0:
        return None
    need = policy.min_requests / candidate_rps
    allowed = allowed_error_rate(slo)
    floor = allowed * ABSOLUTE_TOLERANCE
    log_target = math.log(policy.threshold) + math.log(len(STAKES))
    routes: list[float] = []
    if baseline and 0 < share < 1:
        harm = policy.tolerance * share / (policy.tolerance * share + 1 - share)
        growth = max(
            (1 - share) * math.log1p(c * harm / (1 - harm)) + share * math.log1p(-c) for c in STAKES
        )
        events_per_s = rate * traffic.requests_per_s
        if growth > 0 and events_per_s > 0:
            routes.append(log_target / (growth * events_per_s))
        bound = floor
    elif reference_requests:
        low = rate_bound(
            round(rate * reference_requests), round(reference_requests), policy.alpha, upper=False
        )
        bound = max(policy.tolerance * low, floor)
    else:
        bound = allowed + floor
    if rate < bound < 1:
        # per request, the expected log of Rate's bet on odds r against "at least bound"
        growth = max(rate * math.log(r) - math.log1p((r - 1) * bound) for r in ODDS_BELOW)
        if growth > 0:
            routes.append(log_target / (growth * candidate_rps))
    if not routes:
        return None
    return max(min(routes), need)
