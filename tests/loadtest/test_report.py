"""The report's checks, from numbers alone: who served this run's callers (as the proxy named
each answer's instance), the shadow's share of the proxy's live requests, and what changed."""

from __future__ import annotations

from collections import Counter

from controlplane.loadtest import (
    PROXY,
    Change,
    ClientResult,
    ClusterStats,
    InstanceRole,
    LoadPlan,
    Report,
    Tally,
    build_report,
)

PLAN = LoadPlan(url="http://127.0.0.1:15001/", host="web", rps=200, duration_s=5)
ROLES = [
    InstanceRole("a", "v1", "live", weight=3, live_share=0.75),
    InstanceRole("b", "v1", "live", weight=1, live_share=0.25),
    InstanceRole("c", "v2", "shadow", mirror_percent=50.0),
    InstanceRole("old", "v0", "retired"),
]


def client(served: dict[str, dict[int, int]]) -> ClientResult:
    result = ClientResult(planned=1000, sent=1000)
    for cluster, statuses in served.items():
        result.served[cluster] = Tally(Counter(statuses), [1.0] * sum(statuses.values()))
        result.statuses.update(statuses)
    return result


def report(
    served: dict[str, dict[int, int]],
    *,
    proxy_live: tuple[int, int] = (1500, 500),
    mirrored: int = 1010,
    changes: tuple[Change, ...] = (),
) -> Report:
    """`served`: this run's answers by cluster; `proxy_live`: what the proxy's a and b completed
    meanwhile (this run's and other traffic's); `mirrored`: what c completed."""
    counts = {
        "web--a": ClusterStats({2: proxy_live[0]}),
        "web--b": ClusterStats({2: proxy_live[1]}),
        "web--c": ClusterStats({2: mirrored - 40, 5: 40}),
    }
    return build_report(
        service="web", through="127.0.0.1:15001", admin="127.0.0.1:9901", plan=PLAN,
        client=client(served), counts=counts, roles=ROLES, changes=changes,
    )  # fmt: skip


def test_other_traffic_does_not_count_as_this_runs() -> None:
    # This run's 1000 requests beside 1000 others through the same proxy.
    done = report({"web--a": {200: 750}, "web--b": {200: 250}})

    assert done.ok, done.checks
    rows = {row.id: row for row in done.rows}
    assert set(rows) == {"a", "b", "c"}  # the retired instance got nothing and is left out
    assert (rows["a"].primary, rows["b"].primary, rows["c"].primary) == (750, 250, 0)
    assert rows["c"].mirrored == 1010
    first, shadow, split = (check.what for check in done.checks)
    assert first == "callers got 1000 answers; live instances gave 1000"
    assert "shadow c got 1010 mirrored requests = 50.5% of the proxy's 2000 live requests" in (
        shadow
    )
    assert split == "live split: a 75.0% (asked 75%), b 25.0% (asked 25%)"


def test_a_shadow_far_off_its_share_fails() -> None:
    done = report({"web--a": {200: 750}, "web--b": {200: 250}}, mirrored=200)

    assert not done.ok
    assert [c.ok for c in done.checks] == [True, False, True]


def test_answers_from_a_shadow_or_the_proxy_itself_fail_the_first_check() -> None:
    done = report({"web--a": {200: 700}, "web--c": {200: 100}, PROXY: {404: 200}})

    assert not done.checks[0].ok
    assert done.checks[0].what == (
        "callers got 1000 answers; live instances gave 700; the rest from c (shadow) 100, the "
        "proxy itself 200 (404: 200: no route or no healthy instance for these requests)"
    )


def test_an_activation_changed_during_the_run_is_said_and_left_out_of_the_shares() -> None:
    rollback = Change(
        seq=12, at="2030-01-01 12:00:03Z", actor="evaluator", instance="c",
        what="shadow 50% → inactive",
        reason="rollback: change 9 failed its verdict: 5xx rate 100.0%",
    )  # fmt: skip

    done = report({"web--a": {200: 750}, "web--b": {200: 250}}, mirrored=90, changes=(rollback,))

    assert done.ok, done.checks
    assert done.changed == ("c",)
    assert done.checks[1].what.startswith("shadow c: not checked, its activation changed")
    assert done.to_json()["changes"][0]["reason"].endswith("5xx rate 100.0%")
