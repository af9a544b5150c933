"""Cumulative request and error counts of one service over time, kept at coarser resolution as
they age, so that windows from five minutes to the SLO's thirty days cost bounded memory; and
the same counts in minute buckets, for the store that keeps them across restarts."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from controlplane.ledger import BUCKET_S, Bucket

# (resolution in seconds, how long points at that resolution are kept)
TIERS: tuple[tuple[float, float], ...] = (
    (1.0, 2 * 3600.0),
    (60.0, 4 * 86400.0),
    (600.0, 400 * 86400.0),
)
LONGEST_WINDOW_S = TIERS[-1][1]
"""Counts older than this are gone: an SLO window longer than it is counted over this much."""


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


class AnsweredSeries:
    """A service's requests answered to callers and failed, over time: at fine resolution for
    the budget's windows (a CounterSeries of running totals), and in minute buckets for the
    store, which keeps them across restarts and leaders (controlplane.ledger.BudgetStore).

    Buckets are kept here until saved whole: an open one (this minute's) is written again each
    time it grows, a closed one once more after its last request.
    """

    def __init__(self, *, buckets: bool = True) -> None:
        """Without `buckets` (no store to save them in) only the windows are kept."""
        self.windows = CounterSeries()
        self._requests = 0
        self._errors = 0
        self._keeps_buckets = buckets
        self._buckets: dict[int, tuple[int, int]] = {}
        """Minute start → (requests, errors) of minutes not yet saved as they are now."""
        self._saved: dict[int, tuple[int, int]] = {}
        self.dirty = False
        """Whether a bucket may have changed since it was last saved (a clean series has
        nothing `unsaved`: the leader's save passes over it without looking)."""

    @property
    def totals(self) -> tuple[int, int]:
        """(requests, errors) since the series began, restored buckets included."""
        return self._requests, self._errors

    def add(self, at: float, requests: int, errors: int) -> None:
        """`requests` answered by `at` since the last add, `errors` of them failed."""
        self._requests += requests
        self._errors += errors
        self.windows.add(at, self._requests, self._errors)
        if self._keeps_buckets and (requests or errors):
            start = int(at // BUCKET_S) * BUCKET_S
            before = self._buckets.get(start, (0, 0))
            self._buckets[start] = (before[0] + requests, before[1] + errors)
            self.dirty = True

    def unsaved(self) -> list[Bucket]:
        """The minute buckets that changed since they were last saved, oldest first."""
        return [
            Bucket(start, BUCKET_S, *counts)
            for start, counts in sorted(self._buckets.items())
            if self._saved.get(start) != counts
        ]

    def saved(self, buckets: Iterable[Bucket], now: float) -> None:
        """`buckets` (from `unsaved`) are in the store: closed minutes saved as they stand
        are let go."""
        for bucket in buckets:
            self._saved[bucket.start] = (bucket.requests, bucket.errors)
        current = int(now // BUCKET_S) * BUCKET_S
        for start in [s for s in self._buckets if s < current]:
            if self._saved.get(start) == self._buckets[start]:
                del self._buckets[start], self._saved[start]
        self.dirty = any(self._saved.get(s) != c for s, c in self._buckets.items())

    def restore(self, buckets: Sequence[Bucket], now: float) -> None:
        """Start again from stored buckets (oldest first, none overlapping): their counts
        make the windows' history, and this minute's bucket is carried on."""
        self.windows = CounterSeries()
        self._requests = self._errors = 0
        if buckets:
            self.windows.add(buckets[0].start, 0, 0)
        for bucket in buckets:
            self._requests += bucket.requests
            self._errors += bucket.errors
            self.windows.add(min(bucket.end, now), self._requests, self._errors)
        self._buckets = {
            b.start: (b.requests, b.errors) for b in buckets if b.span == BUCKET_S and b.end > now
        }
        self._saved = dict(self._buckets)
        self.dirty = False
