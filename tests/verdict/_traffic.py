"""Counts for verdict tests: exact expected histograms, and seeded random traffic."""

from __future__ import annotations

import bisect
import itertools
import math
import random

from controlplane.stats import LATENCY_BOUNDS_MS, ClusterCounts

Z99 = 2.3263478740408408


def lognormal_shares(median_ms: float, p99_ms: float) -> tuple[float, ...]:
    """Each Envoy latency bucket's share of a log-normal latency."""
    sigma = math.log(p99_ms / median_ms) / Z99
    cdf = [
        0.5 * math.erfc(-math.log(b / median_ms) / sigma / math.sqrt(2)) for b in LATENCY_BOUNDS_MS
    ]
    edges = [0.0, *cdf, 1.0]
    return tuple(hi - lo for lo, hi in itertools.pairwise(edges))


HEALTHY = lognormal_shares(40.0, 150.0)
"""Median 40 ms, p99 150 ms."""
SLOWER = lognormal_shares(60.0, 225.0)
"""Every request 1.5 times slower: p99 +50%."""


def counts(requests: int, errors: int, shares: tuple[float, ...] = HEALTHY) -> ClusterCounts:
    """`requests` with `errors` 5xx, their latencies split exactly (rounded) by `shares`."""
    latency = [round(requests * s) for s in shares]
    latency[max(range(len(latency)), key=lambda i: latency[i])] += requests - sum(latency)
    return ClusterCounts(requests, errors, tuple(latency))


def scaled(c: ClusterCounts, factor: float) -> ClusterCounts:
    return ClusterCounts(
        round(c.requests * factor),
        round(c.errors * factor),
        tuple(round(n * factor) for n in c.latency),
    )


def _poisson_cdf(mean: float) -> list[float]:
    cdf: list[float] = []
    total, term, k = 0.0, math.exp(-mean), 0
    while total < 1 - 1e-12:
        total += term
        cdf.append(total)
        k += 1
        term *= mean / k
    cdf[-1] = 1.0
    return cdf


class Traffic:
    """One arm's Poisson traffic, second by second: each latency bucket's count is Poisson, the
    5xx among them binomial. `counts` is cumulative."""

    def __init__(self, rps: float, error_rate: float, shares: tuple[float, ...] = HEALTHY) -> None:
        self.error_rate = error_rate
        self.tables = [(i, _poisson_cdf(rps * s)) for i, s in enumerate(shares) if rps * s > 1e-4]
        self.counts = ClusterCounts()

    def second(self, rng: random.Random) -> None:
        latency = list(self.counts.latency)
        served = 0
        for i, cdf in self.tables:
            n = bisect.bisect_left(cdf, rng.random())
            latency[i] += n
            served += n
        errors = sum(rng.random() < self.error_rate for _ in range(served))
        self.counts = ClusterCounts(
            self.counts.requests + served, self.counts.errors + errors, tuple(latency)
        )


class Binomial:
    """Binomial(n, p) draws by inversion over a precomputed table: one uniform each."""

    def __init__(self, n: int, p: float) -> None:
        self.cdf: list[float] = []
        total = 0.0
        for k in range(n + 1):
            total += math.comb(n, k) * p**k * (1 - p) ** (n - k)
            self.cdf.append(total)
        self.cdf[-1] = 1.0

    def __call__(self, rng: random.Random) -> int:
        return bisect.bisect_left(self.cdf, rng.random())
