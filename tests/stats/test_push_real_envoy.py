"""push, against the real thing: Envoy's metrics_service sink streaming to weir's gRPC port."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pytest

from controlplane.bootstrap import XDS_HEALTH_STATS
from controlplane.stats._proto import metrics_service_pb2, prometheus_metrics_pb2
from controlplane.stats._push import LATENCY_FAMILY, REQUESTS_FAMILY, read_flush
from tests.stats._mesh import StatsMesh, matches, until

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
        flushes.append(list(families))
        receive(node_id, families, sent)

    monkeypatch.setattr(sink, "receive", spy)

    # Given the proxy's first counts of each cluster handed on (they wait out a 5 s probation,
    # stats/_claims.py: what is timed here is a flush, not that)
    await mesh.send(web=1, api=1)
    await until(sink.scrape, matches(mesh.expected()), timeout=20)

    # When 200 requests go to web (mirrored to web--mirror) and 300 to api (about 30% 500s)
    await mesh.send(web=200, api=300)
    sent_at = time.monotonic()
    expected = mesh.expected()
    assert 40 < expected["api--flaky"][1] < 140, expected

    # Then the sink's counts reach exactly what the client saw, each request also in its
    # latency histogram, within a flush or two
    scrape = await until(sink.scrape, matches(expected), timeout=10)
    waited = time.monotonic() - sent_at
    assert waited < 3 * FLUSH_S, f"counts matched only {waited:.1f}s after the traffic"
    assert scrape.reporting == 1
    assert mesh.upstreams["api--flaky"].counts().primary == expected["api--flaky"][0]

    # And a flush carries only what the bootstrap's stats matcher keeps: small and quick
    names = {family.name for flush in flushes for family in flush}
    evidence = {REQUESTS_FAMILY, LATENCY_FAMILY}
    assert evidence <= names
    assert names <= evidence | set(XDS_HEALTH_STATS), names
    size, parse_us = _measure(flushes[-1])
    print(f"\none steady flush: {size} bytes, {parse_us:.0f} µs to parse and fold")
    assert size < 4096
    assert parse_us < 2000


def _measure(families: list[prometheus_metrics_pb2.MetricFamily]) -> tuple[int, float]:
    """A flush's size on the wire, and the time to decode it and fold it into counts."""
    raw = metrics_service_pb2.StreamMetricsMessage(envoy_metrics=families).SerializeToString()
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        message = metrics_service_pb2.StreamMetricsMessage.FromString(raw)
        read_flush(message.envoy_metrics).counts()
    return len(raw), (time.perf_counter() - started) / rounds * 1e6
