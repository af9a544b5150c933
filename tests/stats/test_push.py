"""push: the sink's flushes, folded into totals per proxy, over a real gRPC stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest

from controlplane.stats import ClusterCounts, PushLimits, PushSource, SourceUnavailable
from controlplane.stats._proto import metrics_service_pb2
from controlplane.stats._proto import prometheus_metrics_pb2 as pm
from controlplane.stats._push import METHOD_PATH, read_flush
from controlplane.xds import Connection
from tests.stats._flushes import latency_family, message, requests_family, retries_family


class Sent:
    """What one fake ADS stream was sent."""

    def __init__(self, clusters: set[str]) -> None:
        self.clusters = clusters

    def sent(self, cluster: str) -> bool:
        return cluster in self.clusters

    def sent_count(self) -> int:
        return len(self.clusters)


class Directory:
    """Proxies holding an ADS stream on any connection, with the clusters each was sent."""

    def __init__(self, **sent: set[str]) -> None:
        self._sent = {node: Sent(clusters) for node, clusters in sent.items()}

    def add(self, node_id: str, clusters: set[str]) -> None:
        self._sent[node_id] = Sent(clusters)

    def connection(self, peer: str, node_id: str) -> Connection | None:
        stream = self._sent.get(node_id)
        return Connection((stream,)) if stream is not None else None


NOW = PushLimits(probation_s=0)
"""Claims counted at once: these tests are about what is admitted, not about probation."""


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
    source = PushSource(clock=clock, limits=NOW)
    source.receive("p1", [requests_family({"web--a": {"2": 10, "5": 1}})])
    source.receive("p1", [requests_family({"web--a": {"2": 5}})])
    source.receive("p2", [requests_family({"web--a": {"5": 4}, "web--b": {"2": 7}})])

    scrape = await source.scrape()

    assert scrape.at == clock.now
    assert scrape.reporting == 2
    assert scrape.clusters == {"web--a": ClusterCounts(20, 5), "web--b": ClusterCounts(7, 0)}


async def test_only_proxies_that_flushed_lately_are_reporting() -> None:
    clock = Clock()
    source = PushSource(clock=clock, fresh_s=5, forget_after_s=60, limits=NOW)
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
    source = PushSource(directory=Directory(**{"proxy-1": {"web--a"}}), limits=NOW)
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
    source = PushSource(directory=Directory(**{"proxy-1": {"web--a"}}), limits=NOW)
    async with serving(source) as channel:

        async def requests() -> AsyncIterator[metrics_service_pb2.StreamMetricsMessage]:
            yield message([requests_family({"web--a": {"2": 3}})])

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _stream_metrics(channel)(requests(), timeout=10)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "identifier.node.id" in str(refused.value.details())
    assert source.flushes == 0


# What the sink admits: who, about what, how much.


async def _push(
    source: PushSource, flushes: list[metrics_service_pb2.StreamMetricsMessage], gap_s: float = 0
) -> grpc.aio.AioRpcError | None:
    """Send the flushes on one stream; the error that ended it, if one did."""
    async with serving(source) as channel:

        async def requests() -> AsyncIterator[metrics_service_pb2.StreamMetricsMessage]:
            for flush in flushes:
                yield flush
                if gap_s:
                    await asyncio.sleep(gap_s)

        try:
            await _stream_metrics(channel)(requests(), timeout=20)
        except grpc.aio.AioRpcError as exc:
            return exc
    return None


async def test_only_clusters_weir_sent_the_proxy_are_counted() -> None:
    source = PushSource(directory=Directory(p1={"web--a"}), limits=NOW)
    flush = message([requests_family({"web--a": {"2": 3}, "web--ghost": {"5": 900}})], "p1")

    assert await _push(source, [flush]) is None
    assert (await source.scrape()).clusters == {"web--a": ClusterCounts(3, 0)}


async def test_a_stream_of_a_proxy_without_an_ads_stream_is_refused_after_a_wait() -> None:
    source = PushSource(directory=Directory(), limits=PushLimits(bind_wait_s=0.3))
    refused = await _push(source, [message([requests_family({"web--a": {"5": 9}})], "p1")])

    assert refused is not None and refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "no ADS stream of node 'p1' on this connection" in str(refused.details())
    assert source.flushes == 0


async def test_a_stream_waits_for_its_proxys_ads_stream() -> None:
    directory = Directory()
    source = PushSource(directory=directory, limits=NOW)

    async def ads_comes_late() -> None:
        await asyncio.sleep(0.5)
        directory.add("p1", {"web--a"})

    late = asyncio.create_task(ads_comes_late())
    assert await _push(source, [message([requests_family({"web--a": {"2": 4}})], "p1")]) is None
    await late
    assert (await source.scrape()).clusters == {"web--a": ClusterCounts(4, 0)}


async def test_without_a_directory_every_stream_is_refused() -> None:
    source = PushSource(limits=PushLimits(bind_wait_s=0.1))
    refused = await _push(source, [message([requests_family({"web--a": {"2": 1}})], "p1")])
    assert refused is not None and refused.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_stream_that_names_another_node_later_is_ended() -> None:
    source = PushSource(directory=Directory(p1={"web--a"}, p2={"web--a"}), limits=NOW)
    relabelled = message([requests_family({"web--a": {"5": 50}})], "p2")
    refused = await _push(
        source, [message([requests_family({"web--a": {"2": 1}})], "p1"), relabelled]
    )

    assert refused is not None and refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "it named 'p1', then 'p2'" in str(refused.details())
    assert (await source.scrape()).clusters == {"web--a": ClusterCounts(1, 0)}


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
async def test_a_count_no_envoy_sends_ends_the_stream(value: float) -> None:
    source = PushSource(directory=Directory(p1={"web--a"}), limits=NOW)
    family = requests_family({"web--a": {"5": 1}})
    family.metric[0].counter.value = value
    refused = await _push(source, [message([family], "p1")])

    assert refused is not None and refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "never below zero" in str(refused.details())
    assert source.flushes == 0


def test_a_flush_beyond_the_proxys_rate_is_refused_at_its_edge() -> None:
    clock = Clock()
    source = PushSource(limits=PushLimits(max_rps=1000, probation_s=0), clock=clock)
    source.receive("p1", [requests_family({"web--a": {"2": 1000}})])  # the first: 1 s of it
    clock.now += 2
    source.receive("p1", [requests_family({"web--a": {"2": 2000}})])  # exactly 2 s of it
    clock.now += 1
    source.receive("p1", [requests_family({"web--a": {"2": 1001}})])  # one too many

    assert source.flushes == 2
    assert source.refusals["rate"] == 1
    assert source._claims.sums() == {"web--a": ClusterCounts(3000, 0)}


async def test_more_metrics_than_the_proxys_clusters_could_carry_end_the_stream() -> None:
    limits = PushLimits(metrics_per_cluster=8, spare_metrics=64)
    source = PushSource(directory=Directory(p1={"web--a", "web--b"}), limits=limits)
    fits = requests_family({f"web--{n}": {"2": 1} for n in range(80)})  # 8 x 2 + 64 = 80
    too_many = requests_family({f"web--{n}": {"2": 1} for n in range(81)})

    assert await _push(source, [message([fits], "p1")]) is None
    refused = await _push(source, [message([too_many], "p1")])
    assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # the metrics counted are those of weir's families: the others are never read
    assert "81 metrics in weir's families of one message, more than the 80" in str(
        refused.details()
    )
    assert source.flushes == 1


async def test_more_bytes_than_a_batch_of_metrics_takes_end_the_stream() -> None:
    limits = PushLimits(metrics_per_cluster=8, spare_metrics=64, max_metric_bytes=100)
    source = PushSource(directory=Directory(p1={"web--a", "web--b"}), limits=limits)
    # 80 metrics at most (8 x 2 + 64), 8,000 bytes: Envoy's own families count, though unread
    padding = pm.MetricFamily(name="server.padding", help="x" * 7700)
    flush = [requests_family({"web--a": {"2": 1}}), padding]
    fits = message(flush, "p1")
    assert fits.ByteSize() - fits.identifier.ByteSize() <= 8000
    padding.help += "x" * 200

    assert await _push(source, [fits]) is None
    refused = await _push(source, [message(flush, "p1")])
    assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "bytes of metrics in one message, more than the 8000" in str(refused.details())
    assert source.flushes == 1


async def test_more_families_than_a_batch_end_the_stream() -> None:
    source = PushSource(directory=Directory(p1={"web--a"}), limits=PushLimits(max_families=3))
    four = [pm.MetricFamily(name=f"server.stat_{n}") for n in range(4)]

    assert await _push(source, [message(four[:3], "p1")]) is None
    refused = await _push(source, [message(four, "p1")])
    assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "4 metric families in one message, more than 3" in str(refused.details())
    assert source.flushes == 1


async def test_more_messages_than_flushes_end_the_stream() -> None:
    source = PushSource(
        directory=Directory(p1={"web--a"}), limits=PushLimits(messages_per_s=1, message_burst=3)
    )
    four = [
        message([requests_family({"web--a": {"2": 1}})], "p1" if n == 0 else None) for n in range(4)
    ]

    refused = await _push(source, four)
    assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert source.flushes == 3


async def test_bytes_that_are_no_message_end_the_stream_and_nothing_counts() -> None:
    source = PushSource(directory=Directory(p1={"web--a"}), limits=NOW)
    first = message([requests_family({"web--a": {"2": 3}})], "p1").SerializeToString()
    truncated = message([requests_family({"web--a": {"5": 7}})]).SerializeToString()[:-2]
    async with serving(source) as channel:

        async def requests() -> AsyncIterator[bytes]:
            yield first
            yield truncated

        call = channel.stream_unary(
            METHOD_PATH,
            request_serializer=lambda raw: raw,
            response_deserializer=metrics_service_pb2.StreamMetricsResponse.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(requests(), timeout=10)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a StreamMetricsMessage" in str(refused.value.details())
    assert (await source.scrape()).clusters == {"web--a": ClusterCounts(3, 0)}
    assert source.flushes == 1
