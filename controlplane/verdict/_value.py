"""value_of(): what a change is worth in money per hour at its current traffic, with an interval.

    objectives   sum over objectives of (candidate's rate - baseline's rate) per request
                 x value_per_unit, signed so that better is +, x the candidate's requests
    requests     value_per_request x (baseline's 5xx rate - candidate's): the value of each
                 request it serves that the baseline would have failed (negative: lost)
    failures     - cost_per_failed_request x (candidate's 5xx rate - baseline's)

all per request, times the candidate's requests per hour. The interval takes each objective's
effect interval (its anytime-valid confidence sequence) at its ends and the 5xx rates at their
estimates; an objective open on one side leaves the value open on that side. `realized` is the
same sum over the requests the candidate actually served in the judged window.
"""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.model import Better, ClusterCounts, ObjectiveEvidence, Risk, ValueEstimate


def value_of(
    risk: Risk,
    value_per_unit: dict[str, float],
    objectives: Sequence[ObjectiveEvidence],
    candidate: ClusterCounts,
    baseline: ClusterCounts | None,
    elapsed_s: float,
) -> ValueEstimate | None:
    """None before the candidate served a request or without a baseline."""
    if candidate.requests <= 0 or elapsed_s <= 0 or baseline is None or baseline.requests <= 0:
        return None
    rate_c = min(candidate.errors, candidate.requests) / candidate.requests
    rate_b = min(baseline.errors, baseline.requests) / baseline.requests
    per_request = (rate_b - rate_c) * (risk.value_per_request + risk.cost_per_failed_request)
    low: float | None = per_request
    high: float | None = per_request
    for evidence in objectives:
        worth = value_per_unit.get(evidence.name, 0.0)
        base = evidence.baseline.per_request if evidence.baseline else None
        if evidence.effect is None or base is None or worth == 0:
            continue
        sign = 1.0 if evidence.better is Better.HIGHER else -1.0
        per_request += sign * evidence.effect * base * worth
        ends = [evidence.low, evidence.high]
        if sign < 0:
            ends = [evidence.high, evidence.low]
        low = (
            low + sign * ends[0] * base * worth if low is not None and ends[0] is not None else None
        )
        high = (
            high + sign * ends[1] * base * worth
            if high is not None and ends[1] is not None
            else None
        )
    rate = candidate.requests / elapsed_s
    hourly = 3600.0 * rate
    return ValueEstimate(
        per_hour=per_request * hourly,
        low=low * hourly if low is not None else None,
        high=high * hourly if high is not None else None,
        requests_per_s=rate,
        realized=per_request * candidate.requests,
    )
