"""Claims: each proxy's stats kept apart, and only what the proxies agree on handed on."""

from __future__ import annotations

import random

from controlplane.stats import ClusterCounts
from controlplane.stats._claims import Claims, DisputeRule

A = "web--a"


def counts(requests: int, errors: int = 0, slow: int = 0) -> ClusterCounts:
    """`slow` of the requests took 1-2.5 s, the rest 1-5 ms."""
    latency = [0] * 20
    latency[2] = requests - slow
    latency[10] = slow
    return ClusterCounts(requests, errors, tuple(latency))


def test_proxies_that_agree_are_summed_at_once() -> None:
    claims = Claims(probation_s=0)
    claims.add("p1", {A: counts(100, 2)}, now=0)
    claims.add("p2", {A: counts(300, 5)}, now=0.5)

    assert claims.sums() == {A: counts(400, 7)}
    assert claims.disputes() == {}
    assert claims.published("p1") == {A: counts(100, 2)}


def test_one_proxy_alone_is_never_disputed() -> None:
    claims = Claims(probation_s=0)
    for second in range(10):
        claims.add("p1", {A: counts(100, 90)}, now=second)

    assert claims.sums()[A].errors == 900
    assert claims.disputes() == {}


def test_a_proxy_contradicting_the_others_holds_the_cluster_still() -> None:
    claims = Claims(probation_s=0)
    claims.add("honest", {A: counts(50, 25)}, now=0)
    published = claims.sums()[A]

    # When another proxy claims 5,000 successes of the same instance
    claims.add("liar", {A: counts(5000)}, now=0.2)
    claims.add("honest", {A: counts(50, 25)}, now=1)

    # Then nothing more is handed on about it, and the dispute names the liar
    assert claims.sums()[A] == published
    assert claims.disputes()[A] == (
        "liar claims 5xx 0.0% of 5000 recent requests against 50.0% of 50 from the other "
        "proxies (honest)"
    )
    assert claims.published("liar") == {A: ClusterCounts()}


def test_a_dispute_ends_when_a_party_leaves_and_only_the_leaver_loses_its_claims() -> None:
    claims = Claims(leave_after_s=60, probation_s=0)
    claims.add("honest", {A: counts(50, 25)}, now=0)
    claims.add("liar", {A: counts(5000)}, now=0.2)
    for second in range(1, 70):
        claims.add("honest", {A: counts(50, 25)}, now=second)
        claims.settle(second)
    # The liar last flushed at 0.2 s; the honest proxy's 70 flushes are all handed on
    assert claims.disputes() == {}
    assert claims.sums()[A] == counts(50 * 70, 25 * 70)
    assert [(p, c.requests) for p, _, c in claims.dropped] == [("liar", 5000)]


def test_a_dispute_that_stops_disagreeing_publishes_only_claims_that_agree() -> None:
    claims = Claims(settle_s=10, leave_after_s=1000, probation_s=0)
    claims.add("p1", {A: counts(100, 1)}, now=0)
    claims.add("p2", {A: counts(100, 60)}, now=0)  # a burst of errors p1 did not see
    assert A in claims.disputes()
    # Then both agree for long enough (p2's burst decays out of the recent window)
    for second in range(1, 400):
        claims.add("p1", {A: counts(100, 1)}, now=second)
        claims.add("p2", {A: counts(100, 1)}, now=second)
        claims.settle(second)
        if not claims.disputes():
            break
    assert claims.disputes() == {}
    # what each claimed during the dispute agrees: both are handed on, the burst included
    assert claims.sums()[A].requests == 2 * 100 * (second + 1)
    assert claims.sums()[A].errors == 60 + 1 + 2 * second


def test_held_claims_that_disagree_with_what_the_fleet_agreed_on_are_dropped() -> None:
    claims = Claims(settle_s=5, leave_after_s=1000, rule=DisputeRule(half_life_s=1), probation_s=0)
    claims.add("p1", {A: counts(1000, 0)}, now=0)
    claims.add("p2", {A: counts(1000, 0)}, now=0)
    claims.add("p2", {A: counts(1000, 900)}, now=1)  # p2 turns on the fleet
    claims.add("p1", {A: counts(100, 0)}, now=1.5)
    before = claims.sums()[A]
    assert A in claims.disputes()
    # Only tiny agreeing flushes follow, so the dispute settles
    for second in range(2, 20):
        claims.add("p1", {A: counts(1)}, now=second)
        claims.add("p2", {A: counts(1)}, now=second)
        claims.settle(second)
    assert claims.disputes() == {}
    # p1's claims agree with the 2,000 requests the fleet agreed on: handed on; p2's dropped
    [(dropper, _, dropped)] = claims.dropped
    assert (dropper, dropped.errors) == ("p2", 900)
    assert claims.sums()[A].errors == before.errors == 0
    p2_after = 18 - (dropped.requests - 1000)  # p2's flushes once the dispute was over
    assert claims.sums()[A].requests == before.requests + 100 + 18 + p2_after


def test_slow_requests_are_compared_too() -> None:
    claims = Claims(probation_s=0)
    claims.add("p1", {A: counts(200, slow=0)}, now=0)
    claims.add("p2", {A: counts(200, slow=120)}, now=0.5)

    assert "p2 claims slower than 100 ms 60.0%" in claims.disputes()[A]


def test_small_differences_and_small_samples_are_not_disputes() -> None:
    claims = Claims(probation_s=0)
    claims.add("p1", {A: counts(10_000, 100)}, now=0)  # 1%
    claims.add("p2", {A: counts(10_000, 150)}, now=0)  # 1.5%: less than twice
    claims.add("p3", {A: counts(10, 5)}, now=0)  # 50% of too few
    assert claims.disputes() == {}


def test_series_beyond_the_cap_are_refused_and_counted() -> None:
    claims = Claims(max_series=3, probation_s=0)
    claims.add("p1", {f"web--{n}": counts(1) for n in range(5)}, now=0)
    claims.add("p2", {"web--0": counts(1)}, now=0)

    assert claims.series_count() == 3
    assert claims.refused_series == 3
    assert sorted(claims.sums()) == ["web--0", "web--1", "web--2"]


def test_a_forgotten_proxy_keeps_its_published_counts_in_the_sums() -> None:
    claims = Claims(probation_s=0)
    claims.add("p1", {A: counts(100, 2)}, now=0)
    claims.forget("p1")

    assert claims.sums() == {A: counts(100, 2)}
    assert claims.series_count() == 0
    assert claims.published("p1") == {}


def test_the_sums_never_go_back_whatever_the_proxies_claim() -> None:
    rng = random.Random(15)
    claims = Claims(settle_s=5, leave_after_s=8, probation_s=0)
    seen: dict[str, ClusterCounts] = {}
    for tick in range(600):
        now = tick / 4
        proxy = f"p{rng.randrange(4)}"
        rate = rng.choice((0.0, 0.01, 0.5, 0.9))
        n = rng.randrange(1, 200)
        claims.add(proxy, {A: counts(n, int(n * rate), slow=rng.randrange(n))}, now=now)
        if tick % 7 == 0:
            claims.settle(now)
        if tick % 97 == 0:
            claims.forget(f"p{rng.randrange(4)}")
        for cluster, total in claims.sums().items():
            before = seen.get(cluster, ClusterCounts())
            assert total.requests >= before.requests and total.errors >= before.errors
            assert all(a >= b for a, b in zip(total.latency, before.latency, strict=True))
            seen[cluster] = total


def test_recent_claims_survive_a_rescale_of_the_decay() -> None:
    claims = Claims(rule=DisputeRule(half_life_s=1), probation_s=0)
    claims.add("p1", {A: counts(100)}, now=0)
    claims.add("p1", {A: counts(100)}, now=500)  # far past the rescale point
    claims.add("p2", {A: counts(100, 90)}, now=500.1)

    assert A in claims.disputes()


def test_a_lie_told_before_the_others_have_enough_is_held_and_then_disputed() -> None:
    claims = Claims()  # 5 s of probation for a proxy's first claims about a cluster
    claims.add("honest", {A: counts(5, 2)}, now=0)  # the canary just went live: too few
    claims.add("liar", {A: counts(75, 45)}, now=0.1)  # 60% 5xx, at once
    assert claims.sums()[A] == ClusterCounts()  # nothing handed on yet
    for second in range(1, 6):
        claims.add("honest", {A: counts(40)}, now=second)
    assert "liar" in claims.disputes()[A]
    assert claims.sums()[A].errors == 0  # the lie never reached the evaluator


def test_after_its_probation_a_proxy_is_summed_as_it_reports() -> None:
    claims = Claims()
    claims.add("p1", {A: counts(10, 1)}, now=0)
    assert claims.sums()[A] == ClusterCounts()
    claims.add("p1", {A: counts(10)}, now=5)
    assert claims.sums()[A] == counts(20, 1)


def test_claims_whose_probation_ended_are_handed_on_without_another_flush() -> None:
    claims = Claims()
    claims.add("p1", {A: counts(10, 1)}, now=0)
    claims.settle(4.9)
    assert claims.sums()[A] == ClusterCounts()
    claims.settle(5.0)
    assert claims.sums()[A] == counts(10, 1)
