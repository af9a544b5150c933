"""Stats sources: Envoy's metrics sink (push), Envoy admin (pull), Prometheus (PromQL)."""

from controlplane.stats._types import LATENCY_BOUNDS_MS, ClusterCounts, Scrape, SourceUnavailable

__all__ = ["LATENCY_BOUNDS_MS", "ClusterCounts", "Scrape", "SourceUnavailable"]
