"""The report's checks, from numbers alone: who served the callers, and the shadow's share."""

from __future__ import annotations

from collections import Counter

from controlplane.loadtest import ClientResult, ClusterStats, LoadPlan, Report, Role, build_report

PLAN = LoadPlan(url="http://127.0.0.1:15001/", host="web", rps=200, duration_s=5)
ROLES = [
    Role("a", "v1", "live", weight=3, live_share=0.75),
    Role("b", "v1", "live", weight=1, live_share=0.25),
    Role("c", "v2", "shadow", mirror_percent=50.0),
    Role("old", "v0", "retired"),
]


def client(answered: int = 1000) -> ClientResult:
    return ClientResult(planned=1000, sent=1000, statuses=Counter({200: answered}))


def report(a: int, b: int, c: int, *, answered: int = 1000, c_5xx: int = 0) -> Report:
    counts = {
        "web--a": ClusterStats({2: a}),
        "web--b": ClusterStats({2: b}),
        "web--c": ClusterStats({2: c - c_5xx, 5: c_5xx}),
    }
    return build_report(
        service="web", through="127.0.0.1:15001", admin="127.0.0.1:9901", plan=PLAN,
        client=client(answered), counts=counts, roles=ROLES,
    )  # fmt: skip


def test_a_shadow_at_its_share_and_callers_served_by_live_instances_pass() -> None:
    done = report(750, 250, 510, c_5xx=40)

    assert done.ok, done.checks
    rows = {row.id: row for row in done.rows}
    assert set(rows) == {"a", "b", "c"}  # the retired instance got nothing and is left out
    assert (rows["a"].primary, rows["a"].mirrored) == (750, 0)
    assert (rows["c"].primary, rows["c"].mirrored) == (0, 510)
    first, shadow, split = (check.what for check in done.checks)
    assert first.startswith("callers got 1000 answers; the live instances answered 1000")
    assert "40 of them 5xx, were discarded" in first
    assert "shadow c got 510 mirrored requests = 51.0% of 1000 live requests (asked 50%" in shadow
    assert split == "live split: a 75.0% (asked 75%), b 25.0% (asked 25%)"


def test_a_shadow_far_off_its_share_fails() -> None:
    done = report(750, 250, 100)

    assert not done.ok
    assert [c.ok for c in done.checks] == [True, False, True]


def test_answers_the_live_instances_did_not_give_fail() -> None:
    done = report(600, 200, 400)  # 200 answers came from elsewhere (Envoy's own 503s)

    assert not done.checks[0].ok
    assert "fewer than the callers got" in done.checks[0].what


def test_a_split_off_its_weights_fails() -> None:
    done = report(500, 500, 500)

    assert not done.checks[-1].ok


def test_no_answer_at_all_is_one_failed_check() -> None:
    done = report(0, 0, 0, answered=0)

    assert [(c.ok, c.what) for c in done.checks] == [
        (False, "no request got an answer through the proxy")
    ]
    assert done.to_json()["ok"] is False


def test_the_public_names_are_pinned() -> None:
    import controlplane.loadtest

    assert sorted(controlplane.loadtest.__all__) == sorted(
        [
            "MAX_REQUESTS", "AdminUnavailable", "Check", "ClientResult", "ClusterStats",
            "InstanceRow", "LoadError", "LoadPlan", "Report", "Role", "build_report", "measure",
            "parse_stats", "quantiles_ms", "read_stats", "run_load", "settled", "since",
        ]
    )  # fmt: skip
