"""pull: each connected proxy's admin `/stats/prometheus`, read by weir.

The proxies are those connected over ADS now; each names its admin in `node.metadata.weir_admin`
(`weir bootstrap` sets it). One GET per proxy asks only for the evidence
(`?usedonly&filter=<EVIDENCE_STATS>`), parsed with prometheus-client's text parser. Admin
counters and histograms are cumulative since the proxy started: a reading below the last one
means the proxy restarted, and all of it is new. Envoy merges histograms at each stats flush,
so the latency counts lag the request counts by up to one flush (1 s).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families

from controlplane.defaults import EVIDENCE_STATS
from controlplane.model import ClusterCounts, ProxyReading, Scrape, split_address
from controlplane.stats._counts import OnDecrease, Reading, Totals
from controlplane.stats._errors import SourceUnavailable

log = logging.getLogger(__name__)

STATS_PATH = "/stats/prometheus"
REQUESTS_FAMILY = "envoy_cluster_upstream_rq_xx"
RETRIED_FAMILY = "envoy_cluster_retry_upstream_rq_xx"
RETRIES_FAMILY = "envoy_cluster_upstream_rq_retry"
LATENCY_FAMILY = "envoy_cluster_upstream_rq_time"
CLUSTER_LABEL = "envoy_cluster_name"
CLASS_LABEL = "envoy_response_code_class"

TIMEOUT_S = 2.0
CONCURRENCY = 32
FORGET_AFTER_S = 600.0
_ANY_HOST = {"0.0.0.0", "::", "[::]"}


def read_exposition(text: str) -> dict[str, ClusterCounts]:
    """Cumulative counts per instance cluster from Envoy's Prometheus text exposition (the
    clusters whose samples are no counts left out: see `exposition_reading`)."""
    return exposition_reading(text).counts()


def exposition_reading(text: str) -> Reading:
    """The evidence in Envoy's Prometheus text exposition."""
    reading = Reading()
    for family in text_string_to_metric_families(text):
        if family.name in (REQUESTS_FAMILY, RETRIED_FAMILY):
            retried = family.name == RETRIED_FAMILY
            add = reading.retried_class if retried else reading.response_class
            for sample in family.samples:
                cluster = sample.labels.get(CLUSTER_LABEL)
                klass = sample.labels.get(CLASS_LABEL)
                if cluster and klass:
                    add(cluster, klass, sample.value)
        elif family.name == RETRIES_FAMILY:
            for sample in family.samples:
                if cluster := sample.labels.get(CLUSTER_LABEL):
                    reading.retries(cluster, sample.value)
        elif family.name == LATENCY_FAMILY:
            for sample in family.samples:
                cluster = sample.labels.get(CLUSTER_LABEL)
                if not cluster:
                    continue
                if sample.name.endswith("_bucket") and "le" in sample.labels:
                    reading.bucket(cluster, float(sample.labels["le"]), sample.value)
                elif sample.name.endswith("_count"):
                    reading.histogram_count(cluster, sample.value)
    return reading


def _peer_host(peer: str) -> str | None:
    """The host of a gRPC peer ("ipv4:10.0.0.5:41234", "ipv6:[::1]:41234")."""
    kind, _, address = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return None
    host = address.rpartition(":")[0]
    return host.strip("[]") or None


class ConnectedProxy(Protocol):
    """What the admin source reads of a connected proxy (the xDS server's ProxyStatus)."""

    @property
    def node_id(self) -> str: ...
    @property
    def peer(self) -> str: ...
    @property
    def admin(self) -> str | None:
        """host:port of the proxy's admin, if it says."""


class ConnectedProxies(Protocol):
    """The proxies connected now (the xDS server's ProxyRegistry, which the caller passes)."""

    def proxies(self) -> Sequence[ConnectedProxy]: ...


def admin_url(proxy: ConnectedProxy) -> str | None:
    """http://host:port of the proxy's admin, or None when it does not say. An admin bound to
    every address (0.0.0.0, ::) is reached at the address the proxy connected to weir from."""
    if not proxy.admin:
        return None
    try:
        host, port = split_address(proxy.admin)
    except ValueError:
        return None
    if host in _ANY_HOST:
        host = _peer_host(proxy.peer) or ("127.0.0.1" if host == "0.0.0.0" else "::1")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True, slots=True)
class _Target:
    node_id: str
    url: str


class AdminSource:
    """A StatsSource reading every connected proxy's admin, over the caller's HTTP client."""

    def __init__(
        self,
        registry: ConnectedProxies,
        http: httpx.AsyncClient,
        *,
        timeout_s: float = TIMEOUT_S,
        concurrency: int = CONCURRENCY,
        forget_after_s: float = FORGET_AFTER_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self._http = http
        self._timeout_s = timeout_s
        self._gate = asyncio.Semaphore(concurrency)
        self._forget_after_s = forget_after_s
        self._clock = clock
        self._totals = Totals()
        self._seen: dict[_Target, float] = {}
        self._read_at: dict[_Target, float] = {}
        self._lock = asyncio.Lock()
        self.failures: dict[str, str] = {}
        """Per node id, why its admin could not be read at the last scrape."""

    async def scrape(self) -> Scrape:
        async with self._lock:
            now = self._clock()
            targets = sorted(
                {
                    _Target(proxy.node_id, url)
                    for proxy in self._registry.proxies()
                    if (url := admin_url(proxy)) is not None
                },
                key=lambda t: (t.node_id, t.url),
            )
            if not targets:
                raise SourceUnavailable(
                    "no connected proxy names its admin (node.metadata.weir_admin, "
                    "set by `weir bootstrap`)"
                )
            results = await asyncio.gather(*(self._read(target) for target in targets))
            failures = {}
            for target, result in zip(targets, results, strict=True):
                self._seen[target] = now
                if isinstance(result, str):
                    failures[target.node_id] = result
                else:
                    counts = result.counts()
                    self._totals.advance(
                        target, counts, OnDecrease.RESTARTED, rejected=result.rejected()
                    )
                    self._read_at[target] = now
            self._forget_gone(now)
            self._note(failures)
            reporting = len(targets) - len(failures)
            if not reporting:
                reasons = "; ".join(f"{node}: {why}" for node, why in sorted(failures.items()))
                raise SourceUnavailable(f"no proxy's admin could be read: {reasons}")
            return Scrape(
                at=now,
                clusters=self._totals.clusters(),
                reporting=reporting,
                rejected=self._totals.rejected(),
            )

    def readings(self) -> list[ProxyReading]:
        """Per proxy, its counters as its admin last gave them (call after `scrape`)."""
        return [
            ProxyReading(target.node_id, read_at, self._totals.last(target), own_counters=True)
            for target, read_at in sorted(self._read_at.items(), key=lambda t: t[0].node_id)
        ]

    async def _read(self, target: _Target) -> Reading | str:
        """The proxy's cumulative counts, or why they could not be read."""
        params = {"usedonly": "", "filter": EVIDENCE_STATS}
        try:
            async with self._gate, asyncio.timeout(self._timeout_s):
                response = await self._http.get(target.url + STATS_PATH, params=params)
            response.raise_for_status()
            return exposition_reading(response.text)
        except TimeoutError:
            return f"no answer from {target.url} within {self._timeout_s:g}s"
        except httpx.HTTPError as exc:
            return f"{target.url}: {exc}"
        except ValueError as exc:  # prometheus-client's word for text it cannot parse
            return f"{target.url}: unreadable exposition: {exc}"

    def _forget_gone(self, now: float) -> None:
        for target, seen in list(self._seen.items()):
            if now - seen > self._forget_after_s:
                self._totals.forget(target)
                del self._seen[target]
                self._read_at.pop(target, None)

    def _note(self, failures: dict[str, str]) -> None:
        for node_id, why in failures.items():
            if node_id not in self.failures:
                log.warning("stats from %s: %s", node_id, why)
        self.failures = failures
