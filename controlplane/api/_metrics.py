"""/metrics for Prometheus: ledger position, instances by state, connected proxies and, in the
registry the xDS server counts into, pushes, ACKs, NACKs, convergence and stream durations.

Each app gets its own CollectorRegistry, so building several apps (tests, replicas in one
process) never collides in prometheus_client's global registry.
"""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from controlplane.control import Controller
from controlplane.model import ActivationState
from controlplane.xds import ProxyRegistry


class _WeirCollector(Collector):
    """Read at scrape time, in the exposition's worker thread (the state is immutable; the
    registry of proxies is read as it stands)."""

    def __init__(self, controller: Controller, registry: ProxyRegistry) -> None:
        self._controller = controller
        self._registry = registry

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self._controller.state
        yield GaugeMetricFamily(
            "weir_ledger_seq", "Sequence number of the last ledger entry", value=state.seq
        )
        instances = GaugeMetricFamily(
            "weir_instances",
            "Instances by service and activation state",
            labels=["service", "state"],
        )
        counts = Counter((r.instance.service, r.state.value) for r in state.instances.values())
        for service in sorted(state.services):
            for activation in ActivationState:
                instances.add_metric([service, activation.value], counts[service, activation.value])
        yield instances
        proxies = GaugeMetricFamily(
            "weir_proxies_connected", "Connected xDS streams by protocol", labels=["protocol"]
        )
        by_protocol = Counter(p.protocol for p in self._registry.proxies())
        for protocol in ("sotw", "delta"):
            proxies.add_metric([protocol], by_protocol[protocol])
        yield proxies


class _Exposition:
    """The registry's exposition, as Prometheus asks for it (text or OpenMetrics, gzipped if
    accepted), made in a worker thread: at a thousand services it is thousands of samples,
    tens of milliseconds that would otherwise hold the event loop the API and xDS share.

    An object, not a function: Starlette serves it as the ASGI app it is, at exactly /metrics
    (a Mount would redirect /metrics to /metrics/)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        gzipped = "gzip" in headers.get("accept-encoding", "")

        def expose() -> bytes:
            body: bytes = encoder(self._registry)
            return gzip.compress(body) if gzipped else body

        body = await asyncio.to_thread(expose)
        extra = {"Content-Encoding": "gzip"} if gzipped else {}
        response = Response(body, media_type=content_type, headers=extra)
        await response(scope, receive, send)


def metrics_route(
    controller: Controller, registry: ProxyRegistry, metrics: CollectorRegistry | None = None
) -> Route:
    """/metrics over `metrics` (where the xDS server counts), or a registry of its own."""
    metrics = metrics if metrics is not None else CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=metrics)
    metrics.register(_WeirCollector(controller, registry))
    return Route(
        "/metrics", endpoint=_Exposition(metrics), methods=["GET"], include_in_schema=False
    )
