"""What every stats source yields: per-instance-cluster counts, summed over the fleet.

Plain values here, beside the model, so the pure judges read them without loading a source.

Envoy's per-cluster stats carry the evidence: completed requests by response class
(`upstream_rq_xx`) and the request-time histogram (`upstream_rq_time`, milliseconds). A source
turns whatever it reads (pushed flushes, admin scrapes, PromQL) into cumulative counts per
cluster, so the evaluator only ever subtracts two scrapes.

With route retries one request may make several attempts, all on the weighted cluster chosen
for it. Envoy's router (source/common/router/router.cc) charges them apart: the response that
ends a request, the one its caller gets, to `upstream_rq_<class>xx`; a response it retries
instead to `retry.upstream_rq_<class>xx`; and every retry, whether after a response or after an
attempt that failed without one (a reset, a connect failure, a per-try timeout), to
`upstream_rq_retry`, at the moment the retry is decided. So a cluster's attempts are its final
responses plus its retries, and the attempts that failed are its final 5xx, its retried 5xx and
the retries that followed no response (tests/stats measure it exact against a real Envoy).
Other counts were weighed and left: `upstream_rq_total` counts attempts that got a stream from
the connection pool (not those whose connection failed), and virtual-cluster and route stats
count a route's final responses, not an instance's.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field

LATENCY_BOUNDS_MS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000, 600000, 1800000, 3600000,
)  # fmt: skip
"""Envoy's default histogram bucket upper bounds (ms). Counts carry one more, open-ended bucket."""


_NO_LATENCY = (0,) * (len(LATENCY_BOUNDS_MS) + 1)


def _no_latency() -> tuple[int, ...]:
    return _NO_LATENCY  # one shared tuple (immutable): the evaluator makes many empty counts


@dataclass(frozen=True, slots=True)
class ClusterCounts:
    """Counts for one instance cluster. `latency[i]` counts requests that took at most
    LATENCY_BOUNDS_MS[i] and more than the bound before it; the last slot is beyond them all."""

    requests: int = 0
    """Requests completed, by what their callers got (the sum over response classes 1xx-5xx
    of the final responses; a failure without a response counts as Envoy's 503 or 504)."""
    errors: int = 0
    """Of those, responses of class 5xx."""
    latency: tuple[int, ...] = field(default_factory=_no_latency)
    retried: int = 0
    """Responses Envoy retried rather than passed on (`retry.upstream_rq_<class>xx`)."""
    retried_errors: int = 0
    """Of those, class 5xx."""
    retries: int = 0
    """Retries Envoy made (`upstream_rq_retry`): one for each attempt that failed and was
    retried, with a response (one of `retried`) or without one."""

    @property
    def attempts(self) -> int:
        """Every attempt made: each request's last one, and one before each retry."""
        return self.requests + self.retries

    @property
    def attempt_errors(self) -> int:
        """Attempts that failed: final and retried 5xx, and retried attempts without a response."""
        return self.errors + self.retried_errors + max(0, self.retries - self.retried)

    def per_attempt(self) -> ClusterCounts:
        """These counts as evidence against the instance: every attempt it served, each failed
        one a failure, whatever a retry made of it for the caller. The latency stays the
        callers' (Envoy times a request from its first attempt to its final response)."""
        return ClusterCounts(self.attempts, self.attempt_errors, self.latency)

    # Both are on the evaluator's path for every instance and open change each second: a map
    # and a list comprehension, which run faster than generators here.

    def __add__(self, other: ClusterCounts) -> ClusterCounts:
        _same_slots(self, other)
        return ClusterCounts(
            self.requests + other.requests,
            self.errors + other.errors,
            tuple(map(operator.add, self.latency, other.latency)),
            self.retried + other.retried,
            self.retried_errors + other.retried_errors,
            self.retries + other.retries,
        )

    def __sub__(self, other: ClusterCounts) -> ClusterCounts:
        """The counts accrued since `other` (never negative: a reset proxy counts from zero)."""
        return ClusterCounts(
            max(0, self.requests - other.requests),
            max(0, self.errors - other.errors),
            tuple(
                [a - b if a > b else 0 for a, b in zip(self.latency, other.latency, strict=True)]
            ),
            max(0, self.retried - other.retried),
            max(0, self.retried_errors - other.retried_errors),
            max(0, self.retries - other.retries),
        )


def _same_slots(a: ClusterCounts, b: ClusterCounts) -> None:
    """What zip's strict=True checks, for `map`."""
    if len(a.latency) != len(b.latency):
        raise ValueError(f"latency slots differ in number: {len(a.latency)} and {len(b.latency)}")


@dataclass(frozen=True, slots=True)
class Scrape:
    """Cumulative counts per cluster name at one moment, summed over reporting proxies."""

    at: float
    """Unix time, seconds."""
    clusters: Mapping[str, ClusterCounts]
    reporting: int
    """How many proxies contributed; 0 means the source saw none (treated as unavailable)."""
    disputed: Mapping[str, str] = field(default_factory=dict)
    """Cluster → why the proxies' claims about it are disputed: its counts hold still until the
    dispute ends (the push source; see stats/_claims.py)."""
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
