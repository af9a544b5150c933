"""Reading Envoy's latency histogram: quantiles interpolated within a bucket, and tail counts."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from controlplane.model import LATENCY_BOUNDS_MS


@dataclass(frozen=True, slots=True)
class Histogram:
    """Bucket counts over `bounds` (ms), the last bucket open-ended, read as running totals."""

    cumulative: tuple[int, ...]
    """cumulative[i]: requests that took at most bounds[i]; the last entry counts them all."""
    bounds: Sequence[float] = LATENCY_BOUNDS_MS

    @classmethod
    def of(cls, latency: Sequence[int], bounds: Sequence[float] = LATENCY_BOUNDS_MS) -> Histogram:
        return cls(tuple(accumulate(latency)), bounds)

    @property
    def total(self) -> int:
        return self.cumulative[-1] if self.cumulative else 0

    def slower_than(self, i: int) -> int:
        """Requests that took longer than bounds[i]."""
        return self.total - self.cumulative[i]

    def quantile_ms(self, q: float) -> float | None:
        """The q-quantile (0 < q < 1) in ms; None when the histogram is empty.

        Linear within the bucket that holds it, as Prometheus' histogram_quantile does: the first
        bucket starts at 0, and a quantile in the open-ended last bucket is reported as the last
        bound (a floor: the histogram cannot say how far beyond it lies).
        """
        total = self.total
        if total <= 0:
            return None
        rank = q * total
        i = bisect_left(self.cumulative, rank)
        bounds = self.bounds
        if i >= len(bounds):
            return float(bounds[-1])
        lower, below = (bounds[i - 1], self.cumulative[i - 1]) if i > 0 else (0.0, 0)
        return lower + (bounds[i] - lower) * (rank - below) / (self.cumulative[i] - below)


def quantile_ms(
    latency: Sequence[int], q: float, bounds: Sequence[float] = LATENCY_BOUNDS_MS
) -> float | None:
    """The q-quantile of bucket counts `latency` over `bounds`, in ms (see Histogram)."""
    return Histogram.of(latency, bounds).quantile_ms(q)
