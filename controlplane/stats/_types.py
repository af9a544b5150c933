"""What every stats source yields: per-instance-cluster counts, summed over the fleet.

Envoy's per-cluster stats carry the evidence: completed requests by response class
(`upstream_rq_xx`) and the request-time histogram (`upstream_rq_time`, milliseconds). A source
turns whatever it reads (pushed flushes, admin scrapes, PromQL) into cumulative counts per
cluster, so the evaluator only ever subtracts two scrapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

LATENCY_BOUNDS_MS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000, 600000, 1800000, 3600000,
)  # fmt: skip
"""Envoy's default histogram bucket upper bounds (ms). Counts carry one more, open-ended bucket."""


class SourceUnavailable(Exception):
    """The source could not be read (or gave nothing): verdicts become inconclusive."""


def _no_latency() -> tuple[int, ...]:
    return (0,) * (len(LATENCY_BOUNDS_MS) + 1)


@dataclass(frozen=True, slots=True)
class ClusterCounts:
    """Counts for one instance cluster. `latency[i]` counts requests that took at most
    LATENCY_BOUNDS_MS[i] and more than the bound before it; the last slot is beyond them all."""

    requests: int = 0
    """Completed upstream requests (the sum over response classes 1xx-5xx)."""
    errors: int = 0
    """Of those, responses of class 5xx."""
    latency: tuple[int, ...] = field(default_factory=_no_latency)

    def __add__(self, other: ClusterCounts) -> ClusterCounts:
        return ClusterCounts(
            self.requests + other.requests,
            self.errors + other.errors,
            tuple(a + b for a, b in zip(self.latency, other.latency, strict=True)),
        )

    def __sub__(self, other: ClusterCounts) -> ClusterCounts:
        """The counts accrued since `other` (never negative: a reset proxy counts from zero)."""
        return ClusterCounts(
            max(0, self.requests - other.requests),
            max(0, self.errors - other.errors),
            tuple(max(0, a - b) for a, b in zip(self.latency, other.latency, strict=True)),
        )


@dataclass(frozen=True, slots=True)
class Scrape:
    """Cumulative counts per cluster name at one moment, summed over reporting proxies."""

    at: float
    """Unix time, seconds."""
    clusters: Mapping[str, ClusterCounts]
    reporting: int
    """How many proxies contributed; 0 means the source saw none (treated as unavailable)."""
    rejected: Mapping[str, str] = field(default_factory=dict)
    """Cluster name -> why the source refused its latest counts (NaN, negative, going back,
    absurd): its entry in `clusters` is its last good one, and verdicts that read it wait."""


@dataclass(frozen=True, slots=True)
class ProxyReading:
    """What one replica knows of one proxy's counts, for replicas that share their readings
    (controlplane.ha): cumulative per cluster, and whose counters they are."""

    proxy: str
    """The node id."""
    heard: float
    """Unix time of the last flush or admin read from the proxy."""
    clusters: Mapping[str, ClusterCounts]
    own_counters: bool
    """True: the proxy's own counters since it started (admin), the same whichever replica
    reads them. False: what this replica received (pushed deltas summed), which another
    replica's receiving adds to."""
