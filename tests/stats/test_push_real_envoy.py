"""push, against the real thing: Envoy's metrics_service sink streaming to weir's gRPC port."""

from __future__ import annotations

import time

import pytest

from controlplane.stats._proto import metrics_service_pb2
from controlplane.stats._push import (
    EVIDENCE,
    LATENCY_FAMILY,
    REQUESTS_FAMILY,
    RETRIED_FAMILY,
    RETRIES_FAMILY,
    read_flush,
)
from controlplane.stats._wire import Frame
from tests.stats._mesh import StatsMesh, matches, read_until

FLUSH_S = 1.0


@pytest.mark.timeout(90)
async def test_the_sink_counts_what_envoy_served_within_a_flush(
    mesh: StatsMesh, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = mesh.plane.metrics_sink
    pushed: list[bytes] = []
    read = sink.read

    def spy(raw: bytes) -> Frame:
        pushed.append(raw)
        return read(raw)

    monkeypatch.setattr(sink, "read", spy)

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
    # passes over: what it finds in each message's bytes is what decoding it all would give
    flushes = [metrics_service_pb2.StreamMetricsMessage.FromString(raw) for raw in pushed]
    names = {family.name for flush in flushes for family in flush.envoy_metrics}
    evidence = {REQUESTS_FAMILY, RETRIED_FAMILY, RETRIES_FAMILY, LATENCY_FAMILY}
    assert evidence | {"http.downstream_rq_xx", "server.uptime"} <= names, names
    assert flushes[0].identifier.node.id and not flushes[-1].HasField("identifier")
    for raw, flush in zip(pushed, flushes, strict=True):
        weirs = tuple(family for family in flush.envoy_metrics if family.name in evidence)
        found = EVIDENCE.families(Frame.decode(raw))
        assert found == weirs
        before, after = read_flush(weirs), read_flush(found)
        assert (after.counts(), after.rejected()) == (before.counts(), before.rejected())
    assert sum(bool(read_flush(flush.envoy_metrics).counts()) for flush in flushes) > 2
    # and Envoy's admin page shows them, as an operator's dashboard reads them
    shown = mesh.envoy.stats()
    assert shown["http.weir.downstream_rq_2xx"] > 0 and shown["server.live"] == 1
    assert shown["cluster.api--flaky.upstream_cx_total"] > 0
    wire_us, full_us = _measure(pushed[-1])
    print(
        f"\none steady flush: {len(pushed[-1])} bytes, {wire_us:.0f} µs to read and fold "
        f"({full_us:.0f} µs decoding it all)"
    )
    assert wire_us < 5000


def _measure(raw: bytes) -> tuple[float, float]:
    """Microseconds to read a pushed message and fold it into counts, as the sink does and
    decoding every family."""
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        read_flush(EVIDENCE.families(Frame.decode(raw))).counts()
    wire = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(rounds):
        message = metrics_service_pb2.StreamMetricsMessage.FromString(raw)
        read_flush(message.envoy_metrics).counts()
    return wire / rounds * 1e6, (time.perf_counter() - started) / rounds * 1e6
