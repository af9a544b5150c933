"""PromQL: per-cluster sums from a Prometheus HTTP API, through an injected client."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from controlplane.stats import ClusterCounts, PrometheusSource, SourceUnavailable
from controlplane.stats._promql import queries

REQUESTS, LATENCY, PROXIES, RETRIED, RETRIES = queries()


def test_the_queries_sum_per_instance_cluster() -> None:
    matcher = 'envoy_cluster_name=~".+--.+"'
    requests = f"envoy_cluster_upstream_rq_xx{{{matcher}}}"
    buckets = f"envoy_cluster_upstream_rq_time_bucket{{{matcher}}}"
    retried = f"envoy_cluster_retry_upstream_rq_xx{{{matcher}}}"
    retries = f"envoy_cluster_upstream_rq_retry{{{matcher}}}"
    expected = (
        f"sum by (envoy_cluster_name, envoy_response_code_class) ({requests})",
        f"sum by (envoy_cluster_name, le) ({buckets})",
        f"count(count by (job, instance) ({requests}))",
        f"sum by (envoy_cluster_name, envoy_response_code_class) ({retried})",
        f"sum by (envoy_cluster_name) ({retries})",
    )

    assert expected == (REQUESTS, LATENCY, PROXIES, RETRIED, RETRIES)
    assert queries('job="mesh"')[0].endswith(f'{{{matcher},job="mesh"}})')


def vector(*series: tuple[dict[str, str], float]) -> dict[str, Any]:
    result = [{"metric": labels, "value": [1700000000.0, str(value)]} for labels, value in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class Prometheus:
    """A fake /api/v1/query answering each of the queries from its fields."""

    def __init__(self) -> None:
        self.requests = vector(
            ({"envoy_cluster_name": "web--a", "envoy_response_code_class": "2"}, 90),
            ({"envoy_cluster_name": "web--a", "envoy_response_code_class": "5"}, 10),
            ({"envoy_cluster_name": "web--b", "envoy_response_code_class": "2"}, 4),
        )
        self.latency = vector(
            ({"envoy_cluster_name": "web--a", "le": "0.5"}, 60),
            ({"envoy_cluster_name": "web--a", "le": "1"}, 100),
            ({"envoy_cluster_name": "web--a", "le": "+Inf"}, 100),
        )
        self.proxies = vector(({}, 2))
        self.retried = vector(
            ({"envoy_cluster_name": "web--a", "envoy_response_code_class": "5"}, 7),
            ({"envoy_cluster_name": "web--a", "envoy_response_code_class": "4"}, 1),
        )
        self.retries = vector(({"envoy_cluster_name": "web--a"}, 9))
        self.times: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query"
        self.times.append(request.url.params["time"])
        answer = {
            REQUESTS: self.requests,
            LATENCY: self.latency,
            PROXIES: self.proxies,
            RETRIED: self.retried,
            RETRIES: self.retries,
        }
        return httpx.Response(200, json=answer[request.url.params["query"]])


def source(prometheus: Any) -> PrometheusSource:
    http = httpx.AsyncClient(transport=httpx.MockTransport(prometheus))
    return PrometheusSource("http://prometheus:9090/", http, clock=lambda: 1700000000.25)


async def test_the_sums_become_a_scrape() -> None:
    prometheus = Prometheus()

    scrape = await source(prometheus).scrape()

    assert scrape.at == 1700000000.25
    assert scrape.reporting == 2
    assert scrape.clusters == {
        "web--a": ClusterCounts(100, 10, (60, 40, *(0,) * 18), retried=8, retried_errors=7,
                                retries=9),
        "web--b": ClusterCounts(4, 0),
    }  # fmt: skip
    assert prometheus.times == ["1700000000.250"] * 5  # all at one evaluation time


async def test_a_sum_that_falls_back_adds_nothing_and_totals_never_go_back() -> None:
    prometheus = Prometheus()
    stats = source(prometheus)
    await stats.scrape()
    prometheus.requests = vector(  # a proxy restarted: the sum fell
        ({"envoy_cluster_name": "web--a", "envoy_response_code_class": "2"}, 30),
    )
    prometheus.latency = prometheus.retried = prometheus.retries = vector()
    assert (await stats.scrape()).clusters["web--a"] == ClusterCounts(
        100, 10, (60, 40, *(0,) * 18), retried=8, retried_errors=7, retries=9
    )

    prometheus.requests = vector(
        ({"envoy_cluster_name": "web--a", "envoy_response_code_class": "2"}, 35),
    )
    assert (await stats.scrape()).clusters["web--a"].requests == 105


async def test_no_series_is_unavailable() -> None:
    prometheus = Prometheus()
    prometheus.requests = prometheus.latency = prometheus.proxies = vector()

    with pytest.raises(SourceUnavailable, match="no envoy_cluster_upstream_rq_xx series"):
        await source(prometheus).scrape()


async def test_a_refused_query_is_unavailable_with_prometheus_own_words() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}
        return httpx.Response(400, json=body)

    with pytest.raises(SourceUnavailable, match="parse error at char 5"):
        await source(refuse).scrape()


async def test_an_unreachable_prometheus_is_unavailable() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(SourceUnavailable, match="connection refused"):
        await source(unreachable).scrape()


async def test_an_answer_that_is_not_json_is_unavailable() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>")

    with pytest.raises(SourceUnavailable, match="502 without JSON"):
        await source(html).scrape()
