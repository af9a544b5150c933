"""Stats sources: Envoy's metrics sink (push), Envoy admin (pull), Prometheus (PromQL).

Each yields the same Scrape (cumulative counts per instance cluster, summed over the fleet)
behind the one-method StatsSource interface; `open_source(kind, ...)` picks one per deployment.
"""

from controlplane.model import LATENCY_BOUNDS_MS, ClusterCounts, ProxyReading, Scrape
from controlplane.stats._counts import OnDecrease, Totals
from controlplane.stats._errors import SourceUnavailable
from controlplane.stats._promql import PrometheusSource
from controlplane.stats._pull import AdminSource
from controlplane.stats._push import PushLimits, PushSource
from controlplane.stats._source import (
    SOURCE_KINDS,
    SharesReadings,
    StatsSource,
    UnknownSource,
    open_source,
)

__all__ = [
    "LATENCY_BOUNDS_MS",
    "SOURCE_KINDS",
    "AdminSource",
    "ClusterCounts",
    "OnDecrease",
    "PrometheusSource",
    "ProxyReading",
    "PushLimits",
    "PushSource",
    "Scrape",
    "SharesReadings",
    "SourceUnavailable",
    "StatsSource",
    "Totals",
    "UnknownSource",
    "open_source",
]
