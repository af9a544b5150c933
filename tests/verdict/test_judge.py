"""judge(): the verdict on one change, table-tested like argo-rollouts' assessMetricStatus."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from controlplane.model import Outcome, Slo
from controlplane.stats import ClusterCounts
from controlplane.verdict import VerdictPolicy, extra_failures, judge
from tests.verdict._traffic import SLOWER, Traffic, counts, scaled

SLO = Slo(success_rate=99.9, latency_p99_ms=300)


@dataclass(frozen=True)
class Case:
    name: str
    candidate: ClusterCounts
    baseline: ClusterCounts | None
    outcome: Outcome
    says: tuple[str, ...] = ()
    """Words the reason must contain."""
    slo: Slo = SLO
    elapsed_s: float = 60.0


def slow_tail(requests: int, share_over_500_ms: float) -> ClusterCounts:
    """Healthy latencies except a share of requests in the 500 ms - 1 s bucket."""
    c = counts(requests, 0)
    latency = list(c.latency)
    slow = round(requests * share_over_500_ms)
    latency[5] -= slow  # from the 25-50 ms bucket
    latency[9] += slow
    return ClusterCounts(requests, 0, tuple(latency))


CASES = [
    Case(
        "20% against 0.1% after a few hundred requests fails",
        counts(300, 60),
        counts(2_700, 3),
        Outcome.FAIL,
        ("fail: 5xx rate 20% (60 of 300)", "e-value"),
    ),
    Case(
        "equal healthy rates after enough requests pass",
        counts(200_000, 100),
        counts(1_800_000, 900),
        Outcome.PASS,
        ("pass: with 99% confidence the 5xx rate 0.05% (100 of 200,000)", "the baseline's 0.05%"),
        elapsed_s=2_000,
    ),
    Case(
        "a few seconds of low traffic is inconclusive, not failure",
        counts(30, 0),
        counts(270, 0),
        Outcome.INCONCLUSIVE,
        ("inconclusive", "more to a decision at 10 requests/s"),
        elapsed_s=3,
    ),
    Case(
        "a breach of the SLO fails even when the baseline is as bad",
        counts(2_000, 40),
        counts(18_000, 360),
        Outcome.FAIL,
        ("5xx rate 2% (40 of 2,000) against the SLO's allowed 0.1% (success rate 99.9%)",),
    ),
    Case(
        "without a baseline, a breach of the SLO fails",
        counts(500, 25),
        None,
        Outcome.FAIL,
        ("the SLO's allowed 0.1%",),
    ),
    Case(
        "without a baseline, a candidate well within the SLO passes",
        counts(50_000, 10),
        None,
        Outcome.PASS,
        ("under 0.15% (the SLO's allowed 0.1%, plus a tolerance of 0.05 percentage points)",),
    ),
    Case(
        "a baseline that served nothing counts as none: judged against the SLO",
        counts(500, 25),
        ClusterCounts(),
        Outcome.FAIL,
        ("the SLO's allowed 0.1%",),
    ),
    Case(
        "p99 50% slower than the baseline's fails",
        counts(1_000, 1, SLOWER),
        counts(9_000, 9),
        Outcome.FAIL,
        ("of requests slower than", "against the baseline's"),
    ),
    Case(
        "p99 above the SLO fails without a baseline",
        slow_tail(2_000, 0.05),
        None,
        Outcome.FAIL,
        ("5% (100 of 2,000) of requests slower than 500 ms", "the SLO's p99 of 300 ms"),
    ),
    Case(
        "no requests at all is inconclusive",
        ClusterCounts(),
        counts(900, 1),
        Outcome.INCONCLUSIVE,
        ("no request has reached the candidate in 60 s",),
    ),
    Case(
        "a candidate far better than a baseline in breach passes against the SLO",
        counts(10_000, 0),
        counts(90_000, 900),
        Outcome.PASS,
        ("the SLO's allowed 0.1%",),
    ),
    Case(
        "too few requests to pass: inconclusive however clean",
        counts(60, 0),
        counts(540_000, 0),
        Outcome.INCONCLUSIVE,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verdict(case: Case) -> None:
    verdict = judge(case.candidate, case.baseline, slo=case.slo, elapsed_s=case.elapsed_s)
    assert verdict.outcome is case.outcome, verdict.reason
    for words in case.says:
        assert words in verdict.reason
    assert "\n" not in verdict.reason and verdict.reason.count(". ") == 0
    assert verdict.threshold == 100
    assert verdict.elapsed_s == case.elapsed_s
    assert verdict.candidate.requests == case.candidate.requests
    assert (verdict.baseline is None) == (case.baseline is None)
    if case.outcome is Outcome.FAIL:
        assert max(verdict.error_e_value or 0, verdict.latency_e_value or 0) >= 100 or (
            "SLO" in verdict.reason
        )
    if case.outcome is not Outcome.INCONCLUSIVE:
        assert verdict.expected_s_to_decision is None
    assert (verdict.extra_failures, verdict.cost) == (0, 0)


def test_low_traffic_states_a_finite_time_to_a_decision_and_no_traffic_none() -> None:
    low = judge(counts(30, 0), counts(270, 0), slo=SLO, elapsed_s=3)
    idle = judge(ClusterCounts(), counts(270, 0), slo=SLO, elapsed_s=3)
    assert low.outcome is idle.outcome is Outcome.INCONCLUSIVE
    assert low.expected_s_to_decision is not None and 0 < low.expected_s_to_decision < 86400
    assert idle.expected_s_to_decision is None


def test_evidence_holds_counts_rates_and_interpolated_quantiles() -> None:
    verdict = judge(counts(1_000, 2), counts(9_000, 9), slo=SLO, elapsed_s=100)
    assert verdict.candidate.error_rate == pytest.approx(0.002)
    assert verdict.baseline is not None and verdict.baseline.error_rate == pytest.approx(0.001)
    # log-normal, median 40 ms: interpolated within the 25-50 ms bucket
    assert verdict.candidate.p50_ms is not None and 25 < verdict.candidate.p50_ms < 50
    assert verdict.candidate.p99_ms is not None and 100 < verdict.candidate.p99_ms < 250
    assert verdict.error_e_value is not None and verdict.latency_e_value is not None


def test_the_e_values_are_the_baselines_tests_or_without_one_the_slos() -> None:
    with_baseline = judge(counts(2_000, 40), counts(18_000, 360), slo=SLO, elapsed_s=60)
    alone = judge(counts(2_000, 40), None, slo=SLO, elapsed_s=60)
    # against an equally bad baseline there is no evidence; against the SLO, overwhelming
    assert with_baseline.error_e_value is not None and with_baseline.error_e_value < 1
    assert alone.error_e_value is not None and alone.error_e_value > 1e6


def test_a_failing_candidate_is_caught_near_the_projected_time() -> None:
    """At 10 s a 1% candidate against a 0.1% baseline is inconclusive; the projection says
    how long until a decision, and the traffic of twice that long decides it."""
    candidate, baseline = counts(100, 1), counts(900, 1)
    early = judge(candidate, baseline, slo=Slo(success_rate=99.0), elapsed_s=10)
    assert early.outcome is Outcome.INCONCLUSIVE
    assert early.expected_s_to_decision is not None
    factor = 1 + 2 * early.expected_s_to_decision / 10
    later = judge(
        scaled(counts(100, 1), factor),
        scaled(baseline, factor),
        slo=Slo(success_rate=99.0),
        elapsed_s=10 * factor,
    )
    assert later.outcome is Outcome.FAIL, later.reason


def test_alpha_sets_the_threshold() -> None:
    verdict = judge(counts(300, 9), counts(2_700, 3), slo=SLO, elapsed_s=30)
    strict = judge(
        counts(300, 9), counts(2_700, 3), slo=SLO, elapsed_s=30, policy=VerdictPolicy(alpha=1e-9)
    )
    assert verdict.outcome is Outcome.FAIL and verdict.threshold == 100
    assert strict.outcome is Outcome.INCONCLUSIVE and strict.threshold == pytest.approx(1e9)


def test_min_requests_and_tolerance_are_the_policys() -> None:
    candidate, baseline = counts(50_000, 10), counts(450_000, 90)
    assert judge(candidate, baseline, slo=SLO, elapsed_s=600).outcome is Outcome.PASS
    for policy in (VerdictPolicy(min_requests=100_000), VerdictPolicy(error_tolerance=0.0)):
        verdict = judge(candidate, baseline, slo=SLO, elapsed_s=600, policy=policy)
        assert verdict.outcome is Outcome.INCONCLUSIVE


@pytest.mark.parametrize(
    "field", [{"alpha": 0.0}, {"alpha": 1.0}, {"min_requests": -1}, {"error_tolerance": 1.5}]
)
def test_policy_refuses_nonsense(field: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(field))):
        VerdictPolicy(**field)  # type: ignore[arg-type]


def test_extra_failures_are_those_beyond_the_baselines_rate() -> None:
    assert extra_failures(counts(1_000, 30), counts(9_000, 90)) == pytest.approx(20)
    assert extra_failures(counts(1_000, 5), counts(9_000, 90)) == 0
    assert extra_failures(counts(1_000, 30), None) == 0
    assert extra_failures(counts(1_000, 30), ClusterCounts()) == 0


def test_a_harmless_candidate_checked_every_second_is_rarely_failed() -> None:
    """Under H0 -- the candidate exactly like its baseline, both at the SLO's edge -- judged
    every second for five minutes, the verdict fails no more than alpha of the runs (the bound
    for any one test; the four together are conservative). Seeded, so it is deterministic."""
    alpha, runs, seconds = 0.05, 120, 300
    policy = VerdictPolicy(alpha=alpha)
    rng = random.Random(20260601)
    failed = 0
    for _ in range(runs):
        candidate, baseline = Traffic(10, 0.001), Traffic(90, 0.001)
        for second in range(1, seconds + 1):
            candidate.second(rng)
            baseline.second(rng)
            verdict = judge(
                candidate.counts, baseline.counts, slo=SLO, elapsed_s=second, policy=policy
            )
            if verdict.outcome is not Outcome.INCONCLUSIVE:
                failed += verdict.outcome is Outcome.FAIL
                break
    assert failed <= math.floor(alpha * runs), failed
