"""push: Envoy's metrics_service sink streams each stats flush to weir's gRPC port.

`weir bootstrap` configures the sink (`envoy.stat_sinks.metrics_service`, 1 s flush, counters
as deltas, tags as labels, histograms as histograms) and a stats matcher that keeps only the
evidence, so one flush of one proxy is a few hundred bytes per instance cluster. Seen with
Envoy 1.40:

- a stream's first message carries `identifier.node` (about 60 KB: the node lists every
  extension Envoy has); later messages carry only metrics;
- `cluster.upstream_rq_xx` is a COUNTER family labelled `envoy.cluster_name` and
  `envoy.response_code_class` ("2", "5"), its value the change since the previous flush;
- `cluster.upstream_rq_time` is a HISTOGRAM family labelled `envoy.cluster_name` whose
  buckets (cumulative over bounds, no +Inf bucket) and sample_count cover only the interval
  since the previous flush, not the proxy's lifetime.

So every flush is a delta, added to that proxy's totals. A proxy counts as reporting while
its flushes keep coming; one silent for `forget_after_s` leaves its counts in the sums.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc

from controlplane.stats._counts import Reading, Totals
from controlplane.stats._proto import metrics_service_pb2, prometheus_metrics_pb2
from controlplane.stats._types import ProxyReading, Scrape, SourceUnavailable
from controlplane.xds import require_identity

log = logging.getLogger(__name__)

SERVICE = metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"]
STREAM_METRICS = SERVICE.methods_by_name["StreamMetrics"]
METHOD_PATH = f"/{SERVICE.full_name}/{STREAM_METRICS.name}"
"""/envoy.service.metrics.v3.MetricsService/StreamMetrics"""

REQUESTS_FAMILY = "cluster.upstream_rq_xx"
LATENCY_FAMILY = "cluster.upstream_rq_time"
CLUSTER_LABEL = "envoy.cluster_name"
CLASS_LABEL = "envoy.response_code_class"

FRESH_S = 5.0
"""A proxy whose last flush is older than this (five 1 s flushes) is not reporting."""
FORGET_AFTER_S = 600.0

StreamMetricsMessage = metrics_service_pb2.StreamMetricsMessage
MetricFamily = prometheus_metrics_pb2.MetricFamily


def read_flush(families: Iterable[MetricFamily]) -> Reading:
    """The evidence in one flush (deltas, as the sink sends them)."""
    reading = Reading()
    for family in families:
        name = family.name
        if name == REQUESTS_FAMILY:
            for metric in family.metric:
                if not metric.counter.value:
                    continue  # most clusters of a big config see nothing in a second
                cluster = klass = ""
                for label in metric.label:
                    if label.name == CLUSTER_LABEL:
                        cluster = label.value
                    elif label.name == CLASS_LABEL:
                        klass = label.value
                reading.response_class(cluster, klass, metric.counter.value)
        elif name == LATENCY_FAMILY:
            for metric in family.metric:
                histogram = metric.histogram
                if not histogram.sample_count:
                    continue
                cluster = next((lb.value for lb in metric.label if lb.name == CLUSTER_LABEL), "")
                reading.histogram(cluster, _buckets(histogram), histogram.sample_count)
    return reading


def _buckets(histogram: prometheus_metrics_pb2.Histogram) -> list[tuple[float, float]]:
    return [(bucket.upper_bound, bucket.cumulative_count) for bucket in histogram.bucket]


class PushSource:
    """The receiving end of the sink, and a StatsSource over what it received.

    Register `handler()` on the gRPC server that serves ADS; the streams and `scrape()` run on
    that server's event loop.
    """

    def __init__(
        self,
        *,
        fresh_s: float = FRESH_S,
        forget_after_s: float = FORGET_AFTER_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fresh_s = fresh_s
        self._forget_after_s = forget_after_s
        self._clock = clock
        self._totals = Totals()
        self._heard: dict[str, float] = {}
        self.flushes = 0

    def receive(self, node_id: str, families: Iterable[MetricFamily]) -> None:
        """Fold one flush from proxy `node_id` into its totals."""
        reading = read_flush(families)
        self._totals.add(node_id, reading.counts(), reading.rejected())
        self._heard[node_id] = self._clock()
        self.flushes += 1

    async def scrape(self) -> Scrape:
        now = self._clock()
        for node_id, heard in list(self._heard.items()):
            if now - heard > self._forget_after_s:
                self._totals.forget(node_id)
                del self._heard[node_id]
        reporting = sum(1 for heard in self._heard.values() if now - heard <= self._fresh_s)
        if not reporting:
            raise SourceUnavailable(
                f"no proxy has pushed stats in the last {self._fresh_s:g}s "
                "(the metrics_service sink of `weir bootstrap` streams them)"
            )
        return Scrape(
            at=now,
            clusters=self._totals.clusters(),
            reporting=reporting,
            rejected=self._totals.rejected(),
        )

    def readings(self) -> list[ProxyReading]:
        """Per proxy, the counts this process received from it (each flush a delta)."""
        return [
            ProxyReading(node_id, heard, self._totals.of(node_id), own_counters=False)
            for node_id, heard in sorted(self._heard.items())
        ]

    # The gRPC side.

    def handler(self) -> Any:
        """A grpc.GenericRpcHandler serving MetricsService/StreamMetrics."""
        return grpc.method_handlers_generic_handler(
            SERVICE.full_name,
            {
                STREAM_METRICS.name: grpc.stream_unary_rpc_method_handler(
                    self._stream,
                    request_deserializer=StreamMetricsMessage.FromString,
                    response_serializer=metrics_service_pb2.StreamMetricsResponse.SerializeToString,
                )
            },
        )

    async def _stream(
        self, messages: AsyncIterator[StreamMetricsMessage], context: grpc.aio.ServicerContext
    ) -> metrics_service_pb2.StreamMetricsResponse:
        node_id = ""
        try:
            async for message in messages:
                if message.HasField("identifier") and message.identifier.node.id:
                    if not node_id:
                        # Over mTLS a proxy reports only as the node its certificate names.
                        await require_identity(context, message.identifier.node.id)
                        log.info("metrics stream from %s", message.identifier.node.id)
                    node_id = message.identifier.node.id
                if not node_id:
                    await context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        "the first message of a metrics stream must carry identifier.node.id",
                    )
                self.receive(node_id, message.envoy_metrics)
        finally:
            if node_id:
                log.info("metrics stream from %s closed", node_id)
        return metrics_service_pb2.StreamMetricsResponse()
