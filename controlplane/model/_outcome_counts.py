"""What an objective's source yields per instance: cumulative counts the evaluator subtracts.

For a ratio objective `total` counts requests with the event; for a mean objective it sums the
value. `squares` and `units` carry the spread: the sum of squares over `units` independent units
(each request, when requests are seen one by one; each evaluator interval, when a source gives
only totals -- batch means, which also absorb outcomes that come in clumps).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutcomeCounts:
    requests: int = 0
    """Requests whose outcome was seen (a sample of them, for the header source)."""
    total: float = 0.0
    squares: float = 0.0
    units: int = 0

    def __add__(self, other: OutcomeCounts) -> OutcomeCounts:
        return OutcomeCounts(
            self.requests + other.requests,
            self.total + other.total,
            self.squares + other.squares,
            self.units + other.units,
        )

    def __sub__(self, other: OutcomeCounts) -> OutcomeCounts:
        """What accrued since `other` (never negative: a restarted source counts from zero)."""
        return OutcomeCounts(
            max(0, self.requests - other.requests),
            max(0.0, self.total - other.total),
            max(0.0, self.squares - other.squares),
            max(0, self.units - other.units),
        )

    @property
    def mean(self) -> float | None:
        return self.total / self.requests if self.requests else None

    def variance(self) -> float | None:
        """Per-request variance of the value (None before two units)."""
        if self.units < 2 or self.requests <= 0:
            return None
        spread = max(0.0, self.squares - self.total * self.total / self.requests)
        # Each unit's n_i (x_i - mean)^2 estimates the per-request variance, whether a unit is
        # one request (n_i = 1) or one interval's batch of them.
        return spread / (self.units - 1)


Outcomes = dict[str, dict[str, OutcomeCounts]]
"""Instance cluster name -> objective name -> cumulative counts."""
