"""push: the sink's flushes, folded into totals per proxy, over a real gRPC stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest

from controlplane.stats import ClusterCounts, PushSource, SourceUnavailable
from controlplane.stats._proto import metrics_service_pb2
from controlplane.stats._proto import prometheus_metrics_pb2 as pm
from controlplane.stats._push import METHOD_PATH, read_flush
from tests.stats._flushes import latency_family, message, requests_family, retries_family


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def slots(*head: int) -> tuple[int, ...]:
    return (*head, *(0,) * (20 - len(head)))


def test_a_flush_gives_each_instance_clusters_deltas() -> None:
    families = [
        requests_family({"web--a": {"2": 138, "5": 62}, "weir_xds": {"2": 3}}),
        latency_family({"web--a": slots(199, 1)}),
        pm.MetricFamily(name="listener_manager.lds.update_rejected", type=pm.COUNTER),
    ]

    assert read_flush(families).counts() == {"web--a": ClusterCounts(200, 62, slots(199, 1))}


def test_retried_responses_and_retries_are_counted_apart_from_final_ones() -> None:
    families = [
        requests_family({"web--a": {"2": 97, "5": 3}}),
        requests_family({"web--a": {"5": 40, "4": 2}}, name="cluster.retry.upstream_rq_xx"),
        retries_family({"web--a": 45, "weir_xds": 1}),
    ]

    [(name, counts)] = read_flush(families).counts().items()

    assert name == "web--a"
    assert counts == ClusterCounts(100, 3, retried=42, retried_errors=40, retries=45)
    # 145 attempts: 100 final, 45 before a retry; 3 final 5xx, 40 retried 5xx, and 3 retried
    # without a response (45 retries, 42 of them after one)
    assert (counts.attempts, counts.attempt_errors) == (145, 46)
    assert counts.per_attempt() == ClusterCounts(145, 46)


def test_samples_beyond_the_last_bound_are_the_overflow_slot() -> None:
    family = latency_family({"web--a": slots(1)})
    family.metric[0].histogram.sample_count = 3  # two took longer than an hour

    counts = read_flush([family]).counts()["web--a"]

    assert counts.latency == (1, *(0,) * 18, 2)


async def test_deltas_add_up_per_proxy_and_over_proxies() -> None:
    clock = Clock()
    source = PushSource(clock=clock)
    source.receive("p1", [requests_family({"web--a": {"2": 10, "5": 1}})])
    source.receive("p1", [requests_family({"web--a": {"2": 5}})])
    source.receive("p2", [requests_family({"web--a": {"5": 4}, "web--b": {"2": 7}})])

    scrape = await source.scrape()

    assert scrape.at == clock.now
    assert scrape.reporting == 2
    assert scrape.clusters == {"web--a": ClusterCounts(20, 5), "web--b": ClusterCounts(7, 0)}


async def test_only_proxies_that_flushed_lately_are_reporting() -> None:
    clock = Clock()
    source = PushSource(clock=clock, fresh_s=5, forget_after_s=60)
    source.receive("p1", [requests_family({"web--a": {"2": 10}})])
    clock.now += 3
    source.receive("p2", [requests_family({"web--a": {"2": 1}})])

    clock.now += 3
    assert (await source.scrape()).reporting == 1

    clock.now += 100  # both silent, p1 long enough to be forgotten: its counts stay
    with pytest.raises(SourceUnavailable, match="no proxy has pushed stats in the last 5s"):
        await source.scrape()
    source.receive("p3", [])
    scrape = await source.scrape()
    assert scrape.clusters == {"web--a": ClusterCounts(11, 0)}
    assert scrape.reporting == 1


async def test_nothing_received_is_unavailable() -> None:
    with pytest.raises(SourceUnavailable):
        await PushSource().scrape()


def test_the_method_is_envoys() -> None:
    assert METHOD_PATH == "/envoy.service.metrics.v3.MetricsService/StreamMetrics"


@asynccontextmanager
async def serving(source: PushSource) -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((source.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(0)


def _stream_metrics(channel: grpc.aio.Channel) -> grpc.aio.StreamUnaryMultiCallable:
    return channel.stream_unary(
        METHOD_PATH,
        request_serializer=metrics_service_pb2.StreamMetricsMessage.SerializeToString,
        response_deserializer=metrics_service_pb2.StreamMetricsResponse.FromString,
    )


async def test_a_stream_names_its_node_once_then_sends_flushes() -> None:
    source = PushSource()
    flushes = [
        message([requests_family({"web--a": {"2": 3}})], node_id="proxy-1"),
        message([requests_family({"web--a": {"2": 2, "5": 1}})]),
    ]
    async with serving(source) as channel:

        async def requests() -> AsyncIterator[metrics_service_pb2.StreamMetricsMessage]:
            for flush in flushes:
                yield flush

        await _stream_metrics(channel)(requests(), timeout=10)

    scrape = await source.scrape()
    assert scrape.clusters == {"web--a": ClusterCounts(6, 1)}
    assert source.flushes == 2


async def test_a_stream_without_a_node_is_refused() -> None:
    source = PushSource()
    async with serving(source) as channel:

        async def requests() -> AsyncIterator[metrics_service_pb2.StreamMetricsMessage]:
            yield message([requests_family({"web--a": {"2": 3}})])

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _stream_metrics(channel)(requests(), timeout=10)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "identifier.node.id" in str(refused.value.details())
    assert source.flushes == 0
