"""Stats sources: Envoy's metrics sink (push), Envoy admin (pull), Prometheus (PromQL).

Each yields the same Scrape (cumulative counts per instance cluster, summed over the fleet)
behind the one-method StatsSource interface; `open_source(kind, ...)` picks one per deployment.
The sources (httpx, grpc) load when first named; the interface is light, and the counts they
yield live in the model.
"""

from typing import TYPE_CHECKING

from controlplane._lazy import lazy_exports
from controlplane.model import LATENCY_BOUNDS_MS, ClusterCounts, ProxyReading, Scrape
from controlplane.stats._counts import OnDecrease, Totals
from controlplane.stats._errors import SourceUnavailable
from controlplane.stats._interface import SharesReadings, StatsSource
from controlplane.stats._push_limits import PushLimits

if TYPE_CHECKING:
    from controlplane.stats._promql import PrometheusSource
    from controlplane.stats._pull import AdminSource
    from controlplane.stats._push import PushSource
    from controlplane.stats._source import SOURCE_KINDS, UnknownSource, open_source
else:  # the type checker sees the imports above, so a misspelt name stays an error
    __getattr__ = lazy_exports(
        __name__,
        {
            "PrometheusSource": "_promql",
            "AdminSource": "_pull",
            "PushSource": "_push",
            "SOURCE_KINDS": "_source",
            "UnknownSource": "_source",
            "open_source": "_source",
        },
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
