"""The streams of events a verdict watches, and their dependence per service.

Stream 0 is the 5xx among completed requests; the others are the requests slower than each
latency bound the judge looks at (the bounds near the SLO's p99, and the first bound at or above
it), among the requests timed by the histogram.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from controlplane.model import LATENCY_BOUNDS_MS, ClusterCounts, Slo
from controlplane.verdict._dependence import Dispersion

LATENCY_SPAN = (0.05, 4.0)
"""The latency comparison looks at the bucket bounds from 1/20 to 4 times the SLO's p99 (with
Envoy's default buckets and a 300 ms SLO: 25, 50, 100, 250, 500 and 1000 ms)."""


@lru_cache(maxsize=64)
def comparison_bounds(slo_ms: float) -> tuple[int, ...]:
    """Indices of the bucket bounds the latency comparison looks at (never empty)."""
    lo, hi = slo_ms * LATENCY_SPAN[0], slo_ms * LATENCY_SPAN[1]
    inside = tuple(i for i, b in enumerate(LATENCY_BOUNDS_MS) if lo <= b <= hi)
    if inside:
        return inside
    nearest = min(range(len(LATENCY_BOUNDS_MS)), key=lambda i: abs(LATENCY_BOUNDS_MS[i] - slo_ms))
    return (nearest,)


@lru_cache(maxsize=64)
def slo_bound(slo_ms: float) -> int | None:
    """The first bucket bound at or above the SLO's p99: more than 1% slower than it means a
    p99 above the SLO for certain (None when the SLO lies beyond the last bound)."""
    for i, bound in enumerate(LATENCY_BOUNDS_MS):
        if bound >= slo_ms:
            return i
    return None


@lru_cache(maxsize=64)
def stream_bounds(slo_ms: float) -> tuple[int, ...]:
    """The latency bounds with a stream of their own: the comparison's and the SLO's."""
    bounds = set(comparison_bounds(slo_ms))
    if (at := slo_bound(slo_ms)) is not None:
        bounds.add(at)
    return tuple(sorted(bounds))


def slow_counts(latency: tuple[int, ...], bounds: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """(requests timed, requests slower than each bound) from histogram slot counts."""
    total = sum(latency)
    below, at, slow = 0, 0, []
    for i in bounds:
        while at <= i:
            below += latency[at]
            at += 1
        slow.append(total - below)
    return total, tuple(slow)


@dataclass(frozen=True, slots=True)
class Dispersions:
    """A service's dispersion per stream (`controlplane.verdict._dependence`), for the latency
    bounds of `slo_ms`: what a new change's verdict starts from."""

    slo_ms: float
    streams: tuple[Dispersion, ...]

    @classmethod
    def of(cls, slo: Slo) -> Dispersions:
        return cls(
            slo.latency_p99_ms, (Dispersion(),) * (1 + len(stream_bounds(slo.latency_p99_ms)))
        )

    def add(self, counts: ClusterCounts, seconds: float) -> Dispersions:
        """One interval's counts of every instance that served the service."""
        timed, slow = slow_counts(counts.latency, stream_bounds(self.slo_ms))
        events = (counts.errors, *slow)
        trials = (counts.requests, *(timed,) * len(slow))
        return Dispersions(
            self.slo_ms,
            tuple(
                d.add(e, n, seconds) for d, e, n in zip(self.streams, events, trials, strict=True)
            ),
        )
