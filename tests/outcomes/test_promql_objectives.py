"""Objectives from PromQL, against the real thing: a Prometheus server scraping the
application's own order counters, one expression per objective with `{instance}`."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from controlplane.harness import serve_in_thread, stop_serving
from controlplane.model import (
    Activation,
    Instance,
    InstanceState,
    ObjectiveOutcome,
    ServiceSpec,
    State,
)
from controlplane.outcomes._promql import PromqlOutcomes
from controlplane.stats import ClusterCounts, Scrape
from controlplane.verdict import judge_objective
from tests.stats._prometheus import PrometheusServer

SPEC = ServiceSpec.model_validate(
    {
        "name": "shop",
        "objectives": [
            {
                "name": "orders",
                "kind": "ratio",
                "tolerance": "10%",
                "source": {"promql": 'sum(shop_orders_total{pod="{instance}"})'},
            }
        ],
    }
)


class Counters:
    """The application's /stats/prometheus (the path the test Prometheus scrapes)."""

    def __init__(self) -> None:
        self.orders = {"a": 0, "b": 0}
        self.lock = threading.Lock()
        counters = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with counters.lock:
                    body = "".join(
                        f'shop_orders_total{{pod="{pod}"}} {n}\n'
                        for pod, n in counters.orders.items()
                    ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Counters:
        self.thread = serve_in_thread(self.server)
        return self

    def __exit__(self, *exc: object) -> None:
        stop_serving(self.server, self.thread)


@pytest.fixture
def counters() -> Iterator[Counters]:
    with Counters() as served:
        yield served


def state() -> State:
    instances = {
        i: InstanceState(
            Instance(id=i, service="shop", version=i, address="127.0.0.1:1"), Activation.live(1), n
        )
        for n, i in enumerate(("a", "b"), start=1)
    }
    return State(services={"shop": SPEC}, instances=instances)


@pytest.mark.timeout(120)
async def test_orders_per_request_from_the_applications_counters(
    counters: Counters, tmp_path: Path
) -> None:
    prometheus = PrometheusServer(tmp_path, targets=[counters.address])
    await asyncio.to_thread(prometheus.start)
    try:
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
            source = PromqlOutcomes(prometheus.url, http)
            world = state()
            assert [q for _, _, q in source.queries(world)] == [
                'sum(shop_orders_total{pod="a"})',
                'sum(shop_orders_total{pod="b"})',
            ]
            requests = 0
            outcomes = {}
            # Given each instance serving 1,000 requests a tick, a taking orders on half of
            # them and b on a quarter, as its own counter says
            for _ in range(12):
                requests += 1000
                with counters.lock:
                    counters.orders["a"] += 500
                    counters.orders["b"] += 250
                await asyncio.sleep(1.1)  # one scrape of the counters
                scrape = Scrape(
                    at=time.time(),
                    clusters={
                        "shop--a": ClusterCounts(requests=requests),
                        "shop--b": ClusterCounts(requests=requests),
                    },
                    reporting=1,
                )
                outcomes = await source.read(world, scrape)
            assert source.error is None
            a, b = outcomes["shop--a"]["orders"], outcomes["shop--b"]["orders"]
            # Then the counts are Prometheus's increases over Envoy's requests, a unit a tick
            assert a.units >= 5 and b.units >= 5  # Prometheus scrapes its first counters late
            assert a.requests == b.requests and a.requests >= 5000
            assert a.total / a.requests == pytest.approx(0.5, abs=0.1)
            assert b.total / b.requests == pytest.approx(0.25, abs=0.1)
            # and b, taking half the orders, is judged harmful against a
            judged = judge_objective(SPEC.objectives[0], b, a, elapsed_s=12)
            assert judged.outcome is ObjectiveOutcome.HARM, judged.reason
            assert judged.effect is not None and -0.7 < judged.effect < -0.3
    finally:
        await asyncio.to_thread(prometheus.stop)
