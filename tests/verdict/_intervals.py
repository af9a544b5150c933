"""Evidence for verdict tests, interval by interval as the evaluator gathers it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from controlplane.model import Slo, Verdict
from controlplane.stats import ClusterCounts
from controlplane.verdict import Dispersions, Evidence, VerdictPolicy, judge
from tests.verdict._traffic import counts

SLO = Slo(success_rate=99.9, latency_p99_ms=300)
NO_WARMUP = VerdictPolicy(warmup_s=0)

Second = Callable[[int], ClusterCounts | None]
"""Second t (from 1) -> what one side served in it."""


def steady(requests: int, errors: int = 0, shares: tuple[float, ...] | None = None) -> Second:
    """The same counts every second (latencies split exactly, see tests.verdict._traffic)."""
    c = counts(requests, errors) if shares is None else counts(requests, errors, shares)
    return lambda t: c


def times(side: Second, k: int) -> Second:
    """`k` instances like `side` (the same latencies, exactly k times the counts)."""

    def second(t: int) -> ClusterCounts | None:
        c = side(t)
        if c is None:
            return None
        return ClusterCounts(k * c.requests, k * c.errors, tuple(k * n for n in c.latency))

    return second


def with_errors_at(base: Second, errors: dict[int, int]) -> Second:
    """`base`, with as many of its requests failing in the given seconds."""

    def second(t: int) -> ClusterCounts | None:
        c = base(t)
        if c is None or t not in errors:
            return c
        return ClusterCounts(c.requests, min(c.requests, c.errors + errors[t]), c.latency)

    return second


def history(
    seconds: int, requests: int, errors_at: Callable[[int], int], slo: Slo = SLO
) -> Dispersions:
    """A service's dispersions after `seconds` of `requests` a second, errors_at(t) failing."""
    dispersions = Dispersions.of(slo)
    for t in range(seconds):
        dispersions = dispersions.add(counts(requests, errors_at(t)), 1.0)
    return dispersions


def independent_history(slo: Slo = SLO) -> Dispersions:
    """Ten minutes of 100 requests/s failing one in a thousand, one by one."""
    return history(600, 100, lambda t: 1 if t % 10 == 0 else 0, slo)


def clumped_history(slo: Slo = SLO) -> Dispersions:
    """Ten minutes of 100 requests/s failing one in a thousand, in clumps of 12."""
    return history(600, 100, lambda t: 12 if t % 120 == 0 else 0, slo)


def run(
    candidate: Second,
    baseline: Second | None,
    seconds: int,
    *,
    slo: Slo = SLO,
    policy: VerdictPolicy = NO_WARMUP,
    prior: Dispersions | None = None,
    reference: ClusterCounts | None = None,
    warmup: bool = True,
    stop: bool = True,
) -> tuple[Verdict, Evidence]:
    """Judge every second, as the evaluator does, until a pass or fail (with `stop`) or the
    end; the last verdict and the evidence then."""
    evidence = Evidence.start(slo, policy, prior=prior, reference=reference, warmup=warmup)
    verdict = judge(evidence, elapsed_s=0)
    for t in range(1, seconds + 1):
        c = candidate(t) or ClusterCounts()
        b = baseline(t) if baseline is not None else None
        evidence = evidence.add(c, b, 1.0)
        verdict = judge(evidence, elapsed_s=t)
        if stop and verdict.outcome.value != "inconclusive":
            break
    return verdict, evidence


def first(outcomes: Sequence[Verdict], outcome: str) -> int | None:
    return next((i for i, v in enumerate(outcomes) if v.outcome.value == outcome), None)
