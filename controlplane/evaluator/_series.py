"""Cumulative request and error counts of one service over time, kept at coarser resolution as
they age, so that windows from five minutes to the SLO's thirty days cost bounded memory."""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass, field

# (resolution in seconds, how long points at that resolution are kept)
TIERS: tuple[tuple[float, float], ...] = (
    (1.0, 2 * 3600.0),
    (60.0, 4 * 86400.0),
    (600.0, 400 * 86400.0),
)


@dataclass(slots=True)
class _Tier:
    resolution: float
    keep: float
    times: array[float] = field(default_factory=lambda: array("d"))
    requests: array[float] = field(default_factory=lambda: array("d"))
    errors: array[float] = field(default_factory=lambda: array("d"))

    def add(self, at: float, requests: float, errors: float) -> None:
        if self.times and at - self.times[-1] < self.resolution:
            return
        self.times.append(at)
        self.requests.append(requests)
        self.errors.append(errors)
        cut = bisect.bisect_left(self.times, at - self.keep)
        if cut > 64:  # trim in batches: deleting from the front of an array copies it
            del self.times[:cut], self.requests[:cut], self.errors[:cut]


@dataclass(frozen=True, slots=True)
class Increase:
    requests: float
    errors: float
    seconds: float
    """The span actually covered (shorter than asked while history is shorter)."""

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


class CounterSeries:
    """Cumulative (requests, errors) samples; `increase(window)` over the last `window` seconds."""

    def __init__(self) -> None:
        self._tiers = [_Tier(resolution, keep) for resolution, keep in TIERS]

    def add(self, at: float, requests: float, errors: float) -> None:
        for tier in self._tiers:
            tier.add(at, requests, errors)

    def increase(self, window: float, *, now: float | None = None) -> Increase:
        finest = self._tiers[0]
        if not finest.times:
            return Increase(0.0, 0.0, 0.0)
        end = len(finest.times) - 1
        now = finest.times[end] if now is None else now
        start_at = now - window
        for tier in self._tiers:
            # the finest tier whose history reaches back far enough (else the coarsest one)
            if tier.times and (tier.times[0] <= start_at or tier is self._tiers[-1]):
                i = max(0, bisect.bisect_right(tier.times, start_at) - 1)
                return Increase(
                    max(0.0, finest.requests[end] - tier.requests[i]),
                    max(0.0, finest.errors[end] - tier.errors[i]),
                    finest.times[end] - tier.times[i],
                )
        raise AssertionError("unreachable: the coarsest tier always answers")
