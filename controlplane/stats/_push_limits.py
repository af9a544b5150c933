"""What one proxy may claim through the metrics sink: light, so a server's configuration can
name it without loading the sink (grpc)."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane import defaults
from controlplane.stats._claims import MAX_SERIES, PROBATION_S


@dataclass(frozen=True, slots=True)
class PushLimits:
    """What one proxy may claim through the sink (README, "Limits")."""

    max_rps: float = defaults.STATS_MAX_RPS
    """Requests a proxy may claim per second between two of its flushes."""
    max_series: int = MAX_SERIES
    """(proxy, cluster) series kept in all."""
    probation_s: float = PROBATION_S
    """A proxy's first claims about a cluster wait this long before they count (_claims)."""
    bind_wait_s: float = 5.0
    """How long a metrics stream may wait for its proxy's ADS stream on the same connection."""
    messages_per_s: float = 4.0
    """Flushes a stream may send per second on average (Envoy flushes every 5 s by default,
    every second in `weir bootstrap`'s); a flush may take several messages, as many as its
    metrics fill (`batch_size`)."""
    message_burst: int = 16
    max_families: int = defaults.SINK_BATCH_SIZE
    """In one message: Envoy's sink sends each metric as a family, `batch_size` at most."""
    max_metric_bytes: int = 2048
    """What one metric may take on the wire, on average over a message: Envoy's biggest, a
    histogram with its buckets and labels, takes a fraction of it."""
    metrics_per_cluster: int = 160
    """A flush may carry every stat Envoy keeps for each cluster sent (the bootstrap keeps them
    all; `--lean-stats` keeps a handful)."""
    spare_metrics: int = 2000
    """Metrics beyond those of the clusters sent: the proxy's own (server, listeners, HTTP,
    xDS health)."""

    def metrics_a_flush(self, clusters: int) -> int:
        return self.metrics_per_cluster * clusters + self.spare_metrics

    def messages_a_flush(self, clusters: int) -> int:
        """How many messages a whole flush of a proxy holding `clusters` may take."""
        return -(-self.metrics_a_flush(clusters) // defaults.SINK_BATCH_SIZE)
