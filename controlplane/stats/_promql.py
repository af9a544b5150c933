"""PromQL: per-cluster sums from a Prometheus server that scrapes the proxies' admin.

Prometheus scrapes each proxy's `/stats/prometheus` (the stats matcher of `weir bootstrap`
keeps those small); weir asks its HTTP API (`/api/v1/query`) for fleet-wide sums per instance
cluster, every query at one evaluation time:

    sum by (envoy_cluster_name, envoy_response_code_class) (envoy_cluster_upstream_rq_xx{...})
    sum by (envoy_cluster_name, le) (envoy_cluster_upstream_rq_time_bucket{...})
    count(count by (job, instance) (envoy_cluster_upstream_rq_xx{...}))     # reporting proxies
    sum by (envoy_cluster_name, envoy_response_code_class)
        (envoy_cluster_retry_upstream_rq_xx{...})                           # responses retried
    sum by (envoy_cluster_name) (envoy_cluster_upstream_rq_retry{...})      # retries made

A sum falls back when a proxy restarts or leaves; that step adds nothing rather than a
negative count, so a restart costs at most one scrape of evidence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from controlplane.defaults import CLUSTER_SEPARATOR
from controlplane.model import Scrape
from controlplane.stats._counts import OnDecrease, Reading, Totals
from controlplane.stats._errors import SourceUnavailable

QUERY_PATH = "/api/v1/query"
TIMEOUT_S = 5.0


def queries(selector: str = "") -> tuple[str, str, str, str, str]:
    """The requests, latency, reporting, retried and retries queries; `selector` adds label
    matchers (e.g. `job="envoy"`) for a Prometheus that scrapes more than this mesh."""
    matchers = f'envoy_cluster_name=~".+{CLUSTER_SEPARATOR}.+"'
    if selector.strip():
        matchers += f",{selector.strip()}"
    requests = f"envoy_cluster_upstream_rq_xx{{{matchers}}}"
    buckets = f"envoy_cluster_upstream_rq_time_bucket{{{matchers}}}"
    retried = f"envoy_cluster_retry_upstream_rq_xx{{{matchers}}}"
    retries = f"envoy_cluster_upstream_rq_retry{{{matchers}}}"
    return (
        f"sum by (envoy_cluster_name, envoy_response_code_class) ({requests})",
        f"sum by (envoy_cluster_name, le) ({buckets})",
        f"count(count by (job, instance) ({requests}))",
        f"sum by (envoy_cluster_name, envoy_response_code_class) ({retried})",
        f"sum by (envoy_cluster_name) ({retries})",
    )


def read_vectors(
    requests: list[Any],
    latency: list[Any],
    retried: list[Any],
    retries: list[Any],
) -> Reading:
    """The evidence in the `result` lists of the requests, latency, retried and retries
    queries. A series that is no count (NaN, negative, not a number) refuses its cluster only
    (`Reading.rejected`)."""
    reading = Reading()
    for results, add in ((requests, reading.response_class), (retried, reading.retried_class)):
        for series in results:
            labels = series["metric"]
            cluster = labels.get("envoy_cluster_name", "")
            value = _value(reading, cluster, series)
            if value is not None:
                add(cluster, labels.get("envoy_response_code_class", ""), value)
    for series in latency:
        labels = series["metric"]
        cluster = labels.get("envoy_cluster_name", "")
        value = _value(reading, cluster, series)
        try:
            le = float(labels["le"])
        except (KeyError, TypeError, ValueError):
            reading.refuse(cluster, f"a bucket's le is {labels.get('le')!r}")
            continue
        if value is not None:
            reading.bucket(cluster, le, value)
    for series in retries:
        cluster = series["metric"].get("envoy_cluster_name", "")
        value = _value(reading, cluster, series)
        if value is not None:
            reading.retries(cluster, value)
    return reading


def _value(reading: Reading, cluster: str, series: Any) -> float | None:
    """A series' value as a float, or None (its cluster refused) when it is none."""
    try:
        return float(series["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        reading.refuse(cluster, f"a series' value is {series.get('value')!r:.60}")
        return None


class PrometheusSource:
    """A StatsSource over a Prometheus server's HTTP API, through the caller's HTTP client."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        selector: str = "",
        timeout_s: float = TIMEOUT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = http
        self._queries = queries(selector)
        self._timeout_s = timeout_s
        self._clock = clock
        self._totals = Totals()
        self._lock = asyncio.Lock()

    async def scrape(self) -> Scrape:
        async with self._lock:
            at = self._clock()
            try:
                async with asyncio.timeout(self._timeout_s):
                    requests, latency, proxies, retried, retries = await asyncio.gather(
                        *(self._query(query, at) for query in self._queries)
                    )
            except TimeoutError as exc:
                raise SourceUnavailable(
                    f"Prometheus at {self.url} did not answer within {self._timeout_s:g}s"
                ) from exc
            try:
                reading = read_vectors(requests, latency, retried, retries)
                reporting = int(float(proxies[0]["value"][1])) if proxies else 0
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise SourceUnavailable(
                    f"Prometheus at {self.url} gave an unexpected answer: {exc!r}"
                ) from exc
            if not reporting:
                raise SourceUnavailable(
                    f"Prometheus at {self.url} has no envoy_cluster_upstream_rq_xx series for "
                    "instance clusters (does it scrape the proxies' /stats/prometheus?)"
                )
            counts = reading.counts()
            self._totals.advance(
                "prometheus", counts, OnDecrease.REBASE, rejected=reading.rejected()
            )
            return Scrape(
                at=at,
                clusters=self._totals.clusters(),
                reporting=reporting,
                rejected=self._totals.rejected(),
            )

    async def _query(self, query: str, at: float) -> list[Any]:
        """The `result` vector of one instant query at time `at`."""
        try:
            response = await self._http.get(
                self.url + QUERY_PATH, params={"query": query, "time": f"{at:.3f}"}
            )
            body = response.json()
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"Prometheus at {self.url}: {exc}") from exc
        except ValueError as exc:
            raise SourceUnavailable(
                f"Prometheus at {self.url} answered {response.status_code} without JSON"
            ) from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", body) if isinstance(body, dict) else body
            raise SourceUnavailable(
                f"Prometheus at {self.url} refused {query!r} ({response.status_code}): {error}"
            )
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise SourceUnavailable(f"Prometheus at {self.url} gave no vector for {query!r}")
        result = data.get("result")
        if not isinstance(result, list):
            raise SourceUnavailable(f"Prometheus at {self.url} gave no vector for {query!r}")
        return result
