"""judge(): the verdict on one change from its evidence, table-tested like argo-rollouts'
assessMetricStatus. Each case feeds one interval a second, as the evaluator does."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from controlplane.model import Outcome, Slo
from controlplane.stats import ClusterCounts
from controlplane.verdict import (
    Dispersions,
    Evidence,
    InvalidCounts,
    VerdictPolicy,
    extra_failures,
    judge,
)
from tests.verdict._intervals import (
    NO_WARMUP,
    SLO,
    Second,
    clumped_history,
    independent_history,
    run,
    steady,
    times,
    with_errors_at,
)
from tests.verdict._traffic import SLOWER, counts, lognormal_shares

TWICE = lognormal_shares(80.0, 300.0)


@dataclass(frozen=True)
class Case:
    name: str
    candidate: Second
    baseline: Second | None
    seconds: int
    outcome: Outcome
    says: tuple[str, ...] = ()
    """Words the reason must contain."""
    within_s: int | None = None
    """The outcome comes no later than this many seconds in."""
    slo: Slo = SLO
    policy: VerdictPolicy = NO_WARMUP
    prior: str = "independent"
    reference: ClusterCounts | None = None
    warmup: bool = True
    not_before_s: int = 0


def _prior(kind: str, slo: Slo) -> Dispersions | None:
    if kind == "independent":
        return independent_history(slo)
    if kind == "clumped":
        return clumped_history(slo)
    return None


HEALTHY_10 = steady(10, 0)
BASE_90 = with_errors_at(times(HEALTHY_10, 9), {t: 1 for t in range(1, 10_000, 11)})
"""Nine instances like the candidate: 90 requests/s, about 0.1% failing, one at a time."""

CASES = [
    Case(
        "20% against 0.1%, errors shown to come one by one: failed in seconds",
        steady(10, 2),
        BASE_90,
        30,
        Outcome.FAIL,
        ("fail: 5xx rate 20%", "against the baseline's", "e-value"),
        within_s=3,
    ),
    Case(
        "one clump of 15 errors on the candidate, in a service whose errors come in clumps: "
        "one piece of evidence, not fifteen",
        with_errors_at(HEALTHY_10, {20: 10, 21: 5}),
        BASE_90,
        120,
        Outcome.INCONCLUSIVE,
        prior="clumped",
    ),
    Case(
        "the same clump where errors were shown to come one by one: still one surge a second",
        with_errors_at(HEALTHY_10, {20: 10, 21: 5}),
        BASE_90,
        120,
        Outcome.INCONCLUSIVE,
    ),
    Case(
        "where errors were shown to come one by one, a slow burst (4 a second for 4 s) counts "
        "error by error: the assumption the judge makes",
        with_errors_at(HEALTHY_10, {20: 4, 21: 4, 22: 4, 23: 4}),
        BASE_90,
        120,
        Outcome.FAIL,
        ("fail: 5xx rate",),
    ),
    Case(
        "20% against 0.1% in a clumpy service: failed per burst, a few bursts in",
        steady(10, 2),
        BASE_90,
        60,
        Outcome.FAIL,
        ("errors weighed per burst",),
        within_s=20,
        prior="clumped",
    ),
    Case(
        "a shared outage (both sides at 50% for 30 s) is no evidence against the candidate",
        lambda t: counts(10, 5 if 5 <= t < 35 else 0),
        times(lambda t: counts(10, 5 if 5 <= t < 35 else 0), 9),
        60,
        Outcome.INCONCLUSIVE,
    ),
    Case(
        "the whole service over its SLO, the candidate no worse: not failed, and said why",
        steady(100, 1),
        times(steady(100, 1), 9),
        300,
        Outcome.INCONCLUSIVE,
        ("both are over the SLO", "the error budget's freeze guards the service"),
    ),
    Case(
        "without a baseline, a breach of the SLO fails",
        steady(50, 3),
        None,
        60,
        Outcome.FAIL,
        ("against the SLO's allowed 0.1%",),
    ),
    Case(
        "a last rollout step without a baseline: a breach of the SLO no worse than the replaced "
        "version's record passes, within the tolerance",
        steady(100, 1),
        None,
        120,
        Outcome.PASS,
        ("under 4.5%, from the replaced version's 1% (600 of 60,000)",),
        reference=counts(60_000, 600),
    ),
    Case(
        "a last rollout step without a baseline: worse than the SLO and the replaced version",
        steady(100, 5),
        None,
        120,
        Outcome.FAIL,
        ("and the replaced version's 1% (600 of 60,000) before this step",),
        reference=counts(60_000, 600),
    ),
    Case(
        "a last rollout step: as good as the replaced version passes",
        with_errors_at(steady(100), {t: 1 for t in range(1, 10_000, 10)}),
        None,
        900,
        Outcome.PASS,
        ("the replaced version's 0.1% (60 of 60,000)",),
        reference=counts(60_000, 60),
    ),
    Case(
        "the candidate as good as its baseline passes against the tolerance",
        with_errors_at(steady(50), {t: 1 for t in range(1, 10_000, 20)}),
        times(with_errors_at(steady(50), {t: 1 for t in range(1, 10_000, 20)}), 1),
        900,
        Outcome.PASS,
        ("less than 5 times the baseline's", "the service's tolerance"),
    ),
    Case(
        "a clean candidate beside a clean baseline passes once shown under half the SLO",
        steady(100, 0),
        steady(100, 0),
        900,
        Outcome.PASS,
        ("under 0.05% (half the SLO's allowed 0.1%)",),
        not_before_s=60,
    ),
    Case(
        "twice as slow as the baseline fails on latency",
        steady(10, 0, TWICE),
        times(HEALTHY_10, 9),
        60,
        Outcome.FAIL,
        ("of requests slower than", "against the baseline's"),
        within_s=10,
    ),
    Case(
        "p99 50% slower than the baseline's fails",
        steady(20, 0, SLOWER),
        times(steady(20, 0), 9),
        120,
        Outcome.FAIL,
        ("of requests slower than",),
    ),
    Case(
        "a few seconds of low traffic is inconclusive, not failure",
        steady(1, 0),
        times(steady(1, 0), 9),
        5,
        Outcome.INCONCLUSIVE,
        ("inconclusive", "to a decision at 1 requests/s"),
    ),
    Case(
        "no requests at all is inconclusive",
        lambda t: ClusterCounts(),
        steady(90, 0),
        20,
        Outcome.INCONCLUSIVE,
        ("no request has reached the candidate in 20 s",),
    ),
    Case(
        "warming up, twice as slow: only gross failure fails, so inconclusive",
        steady(10, 0, TWICE),
        times(HEALTHY_10, 9),
        8,
        Outcome.INCONCLUSIVE,
        ("warming up (8 s of 10 s", "only a 5xx rate above 50% fails until then"),
        policy=VerdictPolicy(warmup_s=10),
    ),
    Case(
        "warming up, failing 80% of its requests: gross failure fails at once",
        steady(10, 8),
        BASE_90,
        10,
        Outcome.FAIL,
        ("fail during the warm-up: 5xx rate 80%", "above the 50% that fails a warming instance"),
        within_s=6,
        policy=VerdictPolicy(warmup_s=10),
    ),
    Case(
        "a weight change of an instance already serving has no warm-up",
        steady(10, 2),
        BASE_90,
        10,
        Outcome.FAIL,
        ("fail: 5xx rate 20%",),
        within_s=3,
        policy=VerdictPolicy(warmup_s=10),
        warmup=False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verdict(case: Case) -> None:
    verdict, evidence = run(
        case.candidate,
        case.baseline,
        case.seconds,
        slo=case.slo,
        policy=case.policy,
        prior=_prior(case.prior, case.slo),
        reference=case.reference,
        warmup=case.warmup,
    )
    assert verdict.outcome is case.outcome, verdict.reason
    for words in case.says:
        assert words in verdict.reason, verdict.reason
    if case.within_s is not None:
        assert verdict.elapsed_s <= case.within_s, verdict.reason
    assert verdict.elapsed_s >= case.not_before_s, verdict.reason
    assert "\n" not in verdict.reason
    assert verdict.threshold == 100
    if case.outcome is not Outcome.INCONCLUSIVE:
        assert verdict.expected_s_to_decision is None
    assert (verdict.extra_failures, verdict.cost) == (0, 0)
    assert evidence.served.requests >= evidence.candidate.requests


def test_a_harmless_shared_outage_gives_no_pass_either() -> None:
    """During an incident the candidate's share of the errors says nothing about it: the
    passing test leaves those intervals out (so a regression that starts then is still
    caught once the incident ends)."""

    def outage(t: int) -> bool:
        return 5 <= t < 65

    _, evidence = run(
        lambda t: counts(10, 5 if outage(t) else 0),
        lambda t: counts(90, 45 if outage(t) else 0),
        65,
        prior=independent_history(),
        stop=False,
    )
    assert evidence.errors_pass.e_value < 2
    assert evidence.errors.e_value < 2


def test_a_regression_starting_in_a_shared_outage_is_caught_after_it() -> None:
    base = with_errors_at(steady(90), {t: 1 for t in range(1, 10_000, 11)})

    def candidate(t: int) -> ClusterCounts:
        if 10 <= t < 40:
            return counts(10, 5)
        return counts(10, 1 if t >= 20 and t % 10 == 0 else 0)  # 1% from second 20 on

    def baseline(t: int) -> ClusterCounts | None:
        return counts(90, 45) if 10 <= t < 40 else base(t)

    verdict, _ = run(candidate, baseline, 600, prior=independent_history())
    assert verdict.outcome is Outcome.FAIL, verdict.reason
    assert verdict.elapsed_s > 40


def test_low_traffic_states_a_finite_time_to_a_decision_and_no_traffic_none() -> None:
    low, _ = run(steady(1, 0), times(steady(1, 0), 9), 30)
    idle, _ = run(lambda t: ClusterCounts(), times(steady(1, 0), 9), 30)
    assert low.outcome is idle.outcome is Outcome.INCONCLUSIVE
    assert low.expected_s_to_decision is not None and 0 < low.expected_s_to_decision < 86400
    assert idle.expected_s_to_decision is None


def test_evidence_holds_counts_rates_and_interpolated_quantiles() -> None:
    verdict, _ = run(steady(10, 0), BASE_90, 100)
    assert verdict.candidate.requests == 1_000 and verdict.candidate.error_rate == 0
    assert verdict.baseline is not None and verdict.baseline.requests == 9_000
    # log-normal, median 40 ms: interpolated within the 25-50 ms bucket
    assert verdict.candidate.p50_ms is not None and 25 < verdict.candidate.p50_ms < 50
    assert verdict.candidate.p99_ms is not None and 100 < verdict.candidate.p99_ms < 250
    assert verdict.error_e_value is not None and verdict.latency_e_value is not None


def test_the_warm_up_is_judged_apart_and_the_tests_start_after_it() -> None:
    policy = VerdictPolicy(warmup_s=30)
    verdict, evidence = run(
        lambda t: counts(10, 0, TWICE) if t <= 30 else counts(10, 0),
        times(HEALTHY_10, 9),
        60,
        policy=policy,
        stop=False,
    )
    assert verdict.outcome is Outcome.INCONCLUSIVE, verdict.reason
    assert evidence.served.requests == 600 and evidence.candidate.requests == 300
    assert all(test.e_value <= 1 + 1e-9 for test in evidence.latency)


def test_the_warm_up_starts_with_the_candidates_first_requests() -> None:
    """A proxy may hold an instance's first counts back for seconds (stats/_claims.py): the
    seconds before its first request are no warm-up, so its gross failure is still judged as
    one when its counts arrive."""
    policy = VerdictPolicy(warmup_s=6)
    verdict, evidence = run(
        lambda t: counts(10, 9) if t > 5 else ClusterCounts(),
        times(HEALTHY_10, 9),
        20,
        policy=policy,
    )
    assert verdict.outcome is Outcome.FAIL, verdict.reason
    assert "fail during the warm-up" in verdict.reason
    assert evidence.candidate.requests == 0 and evidence.age_s < 6


def test_alpha_sets_the_threshold() -> None:
    strict = VerdictPolicy(alpha=1e-9, warmup_s=0)
    verdict, _ = run(steady(10, 2), BASE_90, 3, prior=independent_history())
    held, _ = run(steady(10, 2), BASE_90, 3, prior=independent_history(), policy=strict)
    assert verdict.outcome is Outcome.FAIL and verdict.threshold == 100
    assert held.outcome is Outcome.INCONCLUSIVE and held.threshold == pytest.approx(1e9)


def test_min_requests_and_tolerance_are_the_policys() -> None:
    same = with_errors_at(steady(50), {t: 1 for t in range(1, 10_000, 20)})
    passed, _ = run(same, same, 900)
    assert passed.outcome is Outcome.PASS
    for policy in (
        VerdictPolicy(min_requests=100_000, warmup_s=0),
        VerdictPolicy(tolerance=1.2, warmup_s=0),
    ):
        held, _ = run(same, same, 900, policy=policy)
        assert held.outcome is Outcome.INCONCLUSIVE, held.reason


@pytest.mark.parametrize(
    "field",
    [
        {"alpha": 0.0},
        {"alpha": 1.0},
        {"min_requests": -1},
        {"tolerance": 1.0},
        {"tolerance": 5000},
        {"warmup_s": -1},
        {"warmup_s": 7200},
    ],
)
def test_policy_refuses_nonsense(field: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(field))):
        VerdictPolicy(**field)  # type: ignore[arg-type]


BAD_COUNTS = [
    ("negative requests", ClusterCounts(-1, 0), "candidate.requests is -1: a count cannot be"),
    ("NaN errors", ClusterCounts(10, math.nan), "candidate.errors is nan, not a whole number"),  # type: ignore[arg-type]
    ("fractional", ClusterCounts(10.5, 0), "candidate.requests is 10.5, not a whole number"),  # type: ignore[arg-type]
    ("more 5xx than requests", ClusterCounts(3, 4), "more 5xx than requests"),
    ("absurd", ClusterCounts(2**60, 0), "more than any fleet serves"),
    ("short histogram", ClusterCounts(1, 0, (1,)), "latency must hold 20 bucket counts"),
    ("negative bucket", ClusterCounts(1, 0, (-1,) + (0,) * 19), "latency[0] is -1"),
    ("a string", ClusterCounts("7", 0), "candidate.requests is '7', not a count"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "counts_", "says"), BAD_COUNTS, ids=[b[0] for b in BAD_COUNTS])
def test_malformed_counts_are_refused_with_a_typed_error(
    name: str, counts_: ClusterCounts, says: str
) -> None:
    evidence = Evidence.start(SLO)
    with pytest.raises(InvalidCounts, match=None) as refused:
        evidence.add(counts_, ClusterCounts(), 1.0)
    assert says in refused.value.message
    assert refused.value.status == 422


@pytest.mark.parametrize("seconds", [math.nan, -1.0, math.inf])
def test_malformed_times_are_refused_with_a_typed_error(seconds: float) -> None:
    evidence = Evidence.start(SLO)
    with pytest.raises(InvalidCounts):
        evidence.add(ClusterCounts(), None, seconds)
    with pytest.raises(InvalidCounts):
        judge(evidence, elapsed_s=seconds)


def test_a_bad_baseline_or_reference_is_named() -> None:
    with pytest.raises(InvalidCounts, match=r"baseline\.errors"):
        Evidence.start(SLO).add(ClusterCounts(), ClusterCounts(1, 2), 1.0)
    with pytest.raises(InvalidCounts, match=r"reference\.requests"):
        Evidence.start(SLO, reference=ClusterCounts(-5, 0))


def test_extra_failures_are_those_beyond_the_baselines_rate() -> None:
    assert extra_failures(counts(1_000, 30), counts(9_000, 90)) == pytest.approx(20)
    assert extra_failures(counts(1_000, 5), counts(9_000, 90)) == 0
    assert extra_failures(counts(1_000, 30), None) == 0
    assert extra_failures(counts(1_000, 30), ClusterCounts()) == 0
