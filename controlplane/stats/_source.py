"""One small interface over every stats source, and the one place a deployment picks one.

    StatsSource.scrape() -> Scrape        cumulative counts per instance cluster, now
        raises SourceUnavailable          when it cannot read, or sees no proxy at all

    open_source("push", sink=...)                     Envoy's metrics_service sink (PushSource)
    open_source("pull", registry=..., http=...)       each proxy's admin (AdminSource)
    open_source("promql", prometheus_url=..., http=...)   a Prometheus server (PrometheusSource)

An unknown kind, or a kind without what it needs, is an error: never a silent fallback.
"""

from __future__ import annotations

from typing import TypeVar

import httpx

from controlplane.errors import InvalidInput
from controlplane.stats._interface import StatsSource
from controlplane.stats._promql import PrometheusSource
from controlplane.stats._pull import AdminSource, ConnectedProxies
from controlplane.stats._push import PushSource

SOURCE_KINDS = ("push", "pull", "promql")
T = TypeVar("T")


class UnknownSource(InvalidInput):
    """A stats source kind weir does not have."""


def open_source(
    kind: str,
    *,
    sink: PushSource | None = None,
    registry: ConnectedProxies | None = None,
    http: httpx.AsyncClient | None = None,
    prometheus_url: str | None = None,
    prometheus_selector: str = "",
) -> StatsSource:
    """The stats source of `kind`, over what the caller passes (which it also closes)."""
    if kind == "push":
        return _need(sink, kind, "sink (the PushSource registered on the gRPC server)")
    if kind == "pull":
        return AdminSource(
            _need(registry, kind, "registry (the ProxyRegistry of the xDS server)"),
            _need(http, kind, "http (an httpx.AsyncClient)"),
        )
    if kind == "promql":
        return PrometheusSource(
            _need(prometheus_url, kind, "prometheus_url (the Prometheus server's URL)"),
            _need(http, kind, "http (an httpx.AsyncClient)"),
            selector=prometheus_selector,
        )
    raise UnknownSource(
        f"unknown stats source {kind!r}: expected one of {', '.join(SOURCE_KINDS)}",
        field="source",
    )


def _need(value: T | None, kind: str, what: str) -> T:
    if value is None or value == "":
        raise InvalidInput(f"the {kind} stats source needs {what}", field="source")
    return value
