"""push, against the real thing: Envoy's metrics_service sink streaming to weir's gRPC port."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pytest

from controlplane.stats._proto import metrics_service_pb2, prometheus_metrics_pb2
from controlplane.stats._push import (
    LATENCY_FAMILY,
    REQUESTS_FAMILY,
    RETRIED_FAMILY,
    RETRIES_FAMILY,
    read_flush,
)
from tests.stats._mesh import StatsMesh, matches, read_until

FLUSH_S = 1.0


@pytest.mark.timeout(90)
async def test_the_sink_counts_what_envoy_served_within_a_flush(
    mesh: StatsMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = mesh.plane.metrics_sink
    flushes: list[list[prometheus_metrics_pb2.MetricFamily]] = []
    receive = sink.receive

    def spy(
        node_id: str,
        families: Iterable[prometheus_metrics_pb2.MetricFamily],
        sent: Callable[[str], bool] | None = None,
    ) -> None:
        kept = list(families)
        flushes.append(kept)
        receive(node_id, kept, sent)

    monkeypatch.setattr(sink, "receive", spy)

    # Given the proxy's first counts of each cluster handed on (they wait out a 5 s probation,
    # stats/_claims.py: what is timed here is a flush, not that)
    await mesh.send(web=1, api=1, retry=1)
    await read_until(sink.scrape, matches(mesh.expected()), timeout=20)

    # When 200 requests go to web (mirrored to web--mirror), 300 to api (about 30% 500s) and
    # 300 to retry (Envoy retrying about 30% of attempts)
    await mesh.send(web=200, api=300, retry=300)
    sent_at = time.monotonic()
    expected = mesh.expected()
    assert 40 < expected["api--flaky"][1] < 140, expected

    # Then the sink's counts reach exactly what the client saw, each request also in its
    # latency histogram, and every attempt the retried instance served, within a flush or two
    attempts = mesh.attempts()
    assert attempts[0] > expected["retry--r"][0] + 50 and attempts[1] > 50, (attempts, expected)
    scrape = await read_until(sink.scrape, matches(expected, attempts, mesh.untimed()), timeout=10)
    waited = time.monotonic() - sent_at
    assert waited < 3 * FLUSH_S, f"counts matched only {waited:.1f}s after the traffic"
    assert scrape.reporting == 1
    assert mesh.upstreams["api--flaky"].counts().primary == expected["api--flaky"][0]

    # And a flush carries Envoy's own stats too (the bootstrap keeps them all), which weir
    # passes over
    names = {family.name for flush in flushes for family in flush}
    evidence = {REQUESTS_FAMILY, RETRIED_FAMILY, RETRIES_FAMILY, LATENCY_FAMILY}
    assert evidence | {"http.downstream_rq_xx", "server.uptime"} <= names, names
    # and Envoy's admin page shows them, as an operator's dashboard reads them
    shown = mesh.envoy.stats()
    assert shown["http.weir.downstream_rq_2xx"] > 0 and shown["server.live"] == 1
    assert shown["cluster.api--flaky.upstream_cx_total"] > 0
    size, parse_us = _measure(flushes[-1])
    print(f"\none steady flush: {size} bytes, {parse_us:.0f} µs to parse and fold")
    assert parse_us < 5000


def _measure(families: list[prometheus_metrics_pb2.MetricFamily]) -> tuple[int, float]:
    """A flush's size on the wire, and the time to decode it and fold it into counts."""
    raw = metrics_service_pb2.StreamMetricsMessage(envoy_metrics=families).SerializeToString()
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        message = metrics_service_pb2.StreamMetricsMessage.FromString(raw)
        read_flush(message.envoy_metrics).counts()
    return len(raw), (time.perf_counter() - started) / rounds * 1e6
