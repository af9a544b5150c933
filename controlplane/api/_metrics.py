"""/metrics for Prometheus: ledger position, instances by state, connected proxies and, in the
registry the xDS server counts into, pushes, ACKs, NACKs, convergence and stream durations.

Each app gets its own CollectorRegistry, so building several apps (tests, replicas in one
process) never collides in prometheus_client's global registry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client import make_asgi_app as prometheus_asgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from controlplane.api._signals import SignalsCollector
from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.model import ActivationState
from controlplane.xds import ProxyRegistry


class _WeirCollector(Collector):
    """Read at scrape time, on the event loop (prometheus_client's ASGI app is async)."""

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


class _Asgi:
    """Starlette wraps a plain function endpoint as a request handler; an object is served as
    the ASGI app it is, at exactly /metrics (a Mount would redirect /metrics to /metrics/)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def metrics_route(
    controller: Controller,
    registry: ProxyRegistry,
    metrics: CollectorRegistry | None = None,
    evaluator: Evaluator | None = None,
) -> Route:
    """/metrics over `metrics` (where the xDS server counts), or a registry of its own; with
    the rollout, verdict, budget and proxy signals (controlplane.api._signals)."""
    metrics = metrics if metrics is not None else CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=metrics)
    metrics.register(_WeirCollector(controller, registry))
    metrics.register(SignalsCollector(controller, registry, evaluator))
    app: Any = prometheus_asgi_app(metrics)
    return Route("/metrics", endpoint=_Asgi(app), methods=["GET"], include_in_schema=False)
