"""Bad stats refuse their own cluster, whatever the source, and nothing else: NaN, infinite,
negative, absurd, a histogram going down, counts going back while requests rise."""

from __future__ import annotations

import logging
import math
from typing import Any

import httpx
import pytest

from controlplane.stats import ClusterCounts, PrometheusSource, PushSource
from controlplane.stats._counts import MAX_STEP, OnDecrease, Reading, Totals
from controlplane.stats._promql import queries
from controlplane.stats._proto import prometheus_metrics_pb2 as pm
from controlplane.stats._pull import exposition_reading
from controlplane.stats._push import BadFlush
from tests.stats._flushes import latency_family, requests_family

REQUESTS, LATENCY, PROXIES, RETRIED, RETRIES = queries()

BAD_VALUES = [
    ("NaN", math.nan, "is NaN"),
    ("infinite", math.inf, "(infinite)"),
    ("negative", -3.0, "(negative)"),
    ("absurd", 1e17, "(absurd"),
]


@pytest.mark.parametrize(("name", "value", "says"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_a_reading_refuses_the_cluster_of_a_sample_that_is_no_count(
    name: str, value: float, says: str
) -> None:
    reading = Reading()
    reading.response_class("web--a", "2", 90)
    reading.response_class("web--a", "5", value)
    reading.response_class("web--b", "2", 7)

    assert reading.counts() == {"web--b": ClusterCounts(7, 0)}
    assert (
        says in reading.rejected()["web--a"] and "upstream_rq_5xx" in reading.rejected()["web--a"]
    )


def test_a_histogram_whose_buckets_go_down_is_refused() -> None:
    reading = Reading()
    reading.response_class("web--a", "2", 10)
    reading.bucket("web--a", 1.0, 8)
    reading.bucket("web--a", 5.0, 3)  # cumulative: at most 5 ms can't be fewer than at most 1 ms
    reading.response_class("web--b", "2", 1)

    assert list(reading.counts()) == ["web--b"]
    assert reading.rejected() == {"web--a": "upstream_rq_time's cumulative buckets go down"}


def test_totals_refuse_counts_that_go_back_while_requests_rise() -> None:
    totals = Totals()
    totals.advance("p1", {"web--a": ClusterCounts(100, 10)}, OnDecrease.RESTARTED)
    totals.advance("p1", {"web--a": ClusterCounts(150, 4)}, OnDecrease.RESTARTED)  # 5xx went back
    assert totals.clusters() == {"web--a": ClusterCounts(100, 10)}
    assert "counts went back while its requests rose (100 -> 150)" in totals.rejected()["web--a"]
    # the last good reading stays the zero: the next good one counts from there
    totals.advance("p1", {"web--a": ClusterCounts(160, 11)}, OnDecrease.RESTARTED)
    assert totals.clusters() == {"web--a": ClusterCounts(160, 11)}
    assert totals.rejected() == {}


def test_a_restart_still_counts_from_zero() -> None:
    totals = Totals()
    totals.advance("p1", {"web--a": ClusterCounts(100, 10)}, OnDecrease.RESTARTED)
    totals.advance("p1", {"web--a": ClusterCounts(3, 1)}, OnDecrease.RESTARTED)
    assert totals.clusters() == {"web--a": ClusterCounts(103, 11)}
    assert totals.rejected() == {}


def test_an_absurd_step_is_refused() -> None:
    totals = Totals()
    totals.add("p1", {"web--a": ClusterCounts(MAX_STEP + 1, 0), "web--b": ClusterCounts(5, 0)})
    assert totals.clusters() == {"web--b": ClusterCounts(5, 0)}
    assert "absurd" in totals.rejected()["web--a"]


def test_a_refusal_is_logged_once_naming_the_reporter(caplog: pytest.LogCaptureFixture) -> None:
    totals = Totals()
    with caplog.at_level(logging.WARNING, "controlplane.stats._counts"):
        for _ in range(3):
            totals.add("proxy-7", {}, {"web--a": "upstream_rq_5xx is NaN"})
    assert [r.getMessage() for r in caplog.records] == [
        "stats from proxy-7: web--a refused: upstream_rq_5xx is NaN"
    ]
    assert totals.rejected() == {"web--a": "from proxy-7: upstream_rq_5xx is NaN"}


def _vector(*series: tuple[dict[str, str], Any]) -> dict[str, Any]:
    result = [{"metric": labels, "value": [1700000000.0, value]} for labels, value in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


async def test_promql_a_nan_series_refuses_its_cluster_and_the_rest_are_counted() -> None:
    requests = _vector(
        ({"envoy_cluster_name": "web--a", "envoy_response_code_class": "2"}, "NaN"),
        ({"envoy_cluster_name": "api--b", "envoy_response_code_class": "2"}, "90"),
        ({"envoy_cluster_name": "api--b", "envoy_response_code_class": "5"}, "10"),
        ({"envoy_cluster_name": "api--c", "envoy_response_code_class": "2"}, "not a number"),
    )
    answers = {REQUESTS: requests, LATENCY: _vector(), PROXIES: _vector(({}, "1"))}
    answers |= {RETRIED: _vector(), RETRIES: _vector()}

    def prometheus(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers[request.url.params["query"]])

    http = httpx.AsyncClient(transport=httpx.MockTransport(prometheus))
    scrape = await PrometheusSource("http://p:9090", http).scrape()

    assert scrape.clusters == {"api--b": ClusterCounts(100, 10)}
    assert scrape.rejected == {
        "api--c": "from prometheus: a series' value is [1700000000.0, 'not a number']",
        "web--a": "from prometheus: upstream_rq_2xx is NaN",
    }


def test_pull_a_negative_sample_refuses_its_cluster() -> None:
    sample = 'envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name='
    text = (
        "# TYPE envoy_cluster_upstream_rq_xx counter\n"
        f'{sample}"web--a"}} -5\n'
        f'{sample}"web--b"}} 5\n'
    )
    reading = exposition_reading(text)
    assert reading.counts() == {"web--b": ClusterCounts(5, 0)}
    assert reading.rejected() == {"web--a": "upstream_rq_2xx is -5 (negative)"}


async def test_push_a_nan_flush_is_refused_whole_and_other_proxies_still_count() -> None:
    # No Envoy sends a NaN count: a proxy that does is lying or broken, so its flush is refused
    # whole (the stream ends with INVALID_ARGUMENT, see tests/safety); the others count on.
    sink = PushSource(clock=lambda: 1000.0)
    sink.receive("proxy-2", [requests_family({"web--a": {"2": 5}})])
    flush = requests_family({"web--a": {"2": 9}, "web--b": {"2": 4}})
    flush.metric[0].counter.value = math.nan

    with pytest.raises(BadFlush, match="is nan"):
        sink.receive("proxy-1", [flush, latency_family({}), pm.MetricFamily(name="x")])

    assert (await sink.scrape()).reporting == 1  # proxy-2 alone
