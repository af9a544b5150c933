"""Reading per-instance counts from an Envoy admin's `/stats?format=json` document."""

from __future__ import annotations

from typing import Any

from controlplane.loadtest import ClusterStats, parse_stats, settled, since
from controlplane.stats import LATENCY_BOUNDS_MS
from controlplane.verdict import quantile_ms


def histogram(name: str, cumulative: list[int]) -> dict[str, Any]:
    return {
        "name": name,
        "buckets": [
            {"upper_bound": bound, "interval": 0, "cumulative": count}
            for bound, count in zip(LATENCY_BOUNDS_MS, cumulative, strict=True)
        ],
    }


def document(a_2xx: int, c_2xx: int, c_5xx: int, a_timed: int) -> dict[str, Any]:
    """As Envoy 1.40 answers with histogram_buckets=cumulative (other services' too)."""
    rest = len(LATENCY_BOUNDS_MS) - 2
    return {
        "stats": [
            {"name": "cluster.web--a.upstream_rq_2xx", "value": a_2xx},
            {"name": "cluster.web--c.upstream_rq_2xx", "value": c_2xx},
            {"name": "cluster.web--c.upstream_rq_5xx", "value": c_5xx},
            {"name": "cluster.webshop--x.upstream_rq_2xx", "value": 999},
            {"name": "cluster.weir_xds.upstream_rq_2xx", "value": 5},
            {"name": "cluster_manager.cds.version_text", "value": "abc"},
            {
                "histograms": [
                    histogram("cluster.web--a.upstream_rq_time", [a_timed // 2, *[a_timed] * 18]),
                    histogram(
                        "cluster.web--c.upstream_rq_time",
                        [0, c_2xx + c_5xx, *[c_2xx + c_5xx] * rest],
                    ),
                ]
            },
        ]
    }


def test_the_service_instance_clusters_are_read_and_nothing_else() -> None:
    clusters = parse_stats(document(200, 90, 10, 200), "web")

    assert set(clusters) == {"web--a", "web--c"}
    assert clusters["web--a"].classes == {2: 200}
    assert clusters["web--c"].classes == {2: 90, 5: 10}
    assert clusters["web--c"].requests == 100
    assert clusters["web--a"].timed == 200
    assert clusters["web--a"].bounds == LATENCY_BOUNDS_MS


def test_the_window_is_the_difference_and_its_quantiles_come_from_the_buckets() -> None:
    before = parse_stats(document(200, 90, 10, 200), "web")
    after = parse_stats(document(1200, 590, 10, 1200), "web")

    window = since(after, before)

    assert window["web--a"].requests == 1000 and window["web--c"].classes == {2: 500, 5: 0}
    assert window["web--a"].timed == 1000
    # a: half of the new requests within 0.5 ms, the other half within 1 ms
    p50 = quantile_ms(window["web--a"].slots(), 0.5, window["web--a"].bounds)
    assert p50 is not None and 0.45 <= p50 <= 0.55
    assert settled(window)


def test_counters_ahead_of_the_histograms_are_not_settled() -> None:
    before = parse_stats(document(200, 90, 10, 200), "web")
    after = parse_stats(document(1200, 590, 10, 200), "web")  # no flush since the load

    assert not settled(since(after, before))


def test_a_restarted_proxy_counts_from_zero() -> None:
    before = ClusterStats({2: 500})
    assert (ClusterStats({2: 40}) - before).classes == {2: 0}
