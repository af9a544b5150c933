"""Metrics-sink messages shaped as Envoy 1.40 sends them (emit_tags_as_labels, histograms as
histograms, counters as deltas), for tests that need no Envoy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controlplane.stats import LATENCY_BOUNDS_MS
from controlplane.stats._proto import metrics_service_pb2
from controlplane.stats._proto import prometheus_metrics_pb2 as pm


def label(name: str, value: str) -> pm.LabelPair:
    return pm.LabelPair(name=name, value=value)


def requests_family(
    by_cluster: Mapping[str, Mapping[str, int]], name: str = "cluster.upstream_rq_xx"
) -> pm.MetricFamily:
    """`cluster.upstream_rq_xx` with one counter per (cluster, class): {"web--a": {"2": 9}}
    (or another family labelled the same way: `cluster.retry.upstream_rq_xx`)."""
    family = pm.MetricFamily(name=name, type=pm.COUNTER)
    for cluster, classes in by_cluster.items():
        for klass, delta in classes.items():
            family.metric.add(
                label=[
                    label("envoy.response_code_class", klass),
                    label("envoy.cluster_name", cluster),
                ],
                counter=pm.Counter(value=float(delta)),
                timestamp_ms=1_795_671_865_124,
            )
    return family


def retries_family(by_cluster: Mapping[str, int]) -> pm.MetricFamily:
    """`cluster.upstream_rq_retry`: retries made per cluster since the last flush."""
    family = pm.MetricFamily(name="cluster.upstream_rq_retry", type=pm.COUNTER)
    for cluster, delta in by_cluster.items():
        family.metric.add(
            label=[label("envoy.cluster_name", cluster)], counter=pm.Counter(value=float(delta))
        )
    return family


def latency_family(by_cluster: Mapping[str, Sequence[int]]) -> pm.MetricFamily:
    """`cluster.upstream_rq_time` with the interval's samples per slot of LATENCY_BOUNDS_MS
    (the last slot beyond them): buckets cumulative over bounds, no +Inf bucket."""
    family = pm.MetricFamily(name="cluster.upstream_rq_time", type=pm.HISTOGRAM)
    for cluster, per_slot in by_cluster.items():
        histogram = pm.Histogram(sample_count=sum(per_slot), sample_sum=1.5)
        running = 0
        for bound, count in zip(LATENCY_BOUNDS_MS, per_slot, strict=False):
            running += count
            histogram.bucket.add(cumulative_count=running, upper_bound=bound)
        family.metric.add(label=[label("envoy.cluster_name", cluster)], histogram=histogram)
    return family


def message(
    families: Sequence[pm.MetricFamily], node_id: str | None = None
) -> metrics_service_pb2.StreamMetricsMessage:
    """A stream message; Envoy names its node on a stream's first message only."""
    msg = metrics_service_pb2.StreamMetricsMessage(envoy_metrics=families)
    if node_id is not None:
        msg.identifier.node.id = node_id
    return msg
