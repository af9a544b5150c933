"""Each instance's cumulative counts over the last few minutes, a sample every few seconds: what
the dashboard draws as per-instance success rate and p99.

Bounded in memory: the first sample of each resolution step over the window, plus the newest
one (so the last point of a chart is always current), kept only for the keys the evaluator still
names: retired instances are dropped.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from controlplane.stats import ClusterCounts

RESOLUTION_S = 2.0
WINDOW_S = 300.0


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    """Unix time of the scrape, seconds."""
    counts: ClusterCounts
    """Cumulative since the source began counting: subtract two samples for an interval."""


class RecentCounts:
    """Cumulative counts per key (an instance id) over the last `window_s` seconds."""

    def __init__(self, *, resolution_s: float = RESOLUTION_S, window_s: float = WINDOW_S) -> None:
        if not 0 < resolution_s <= window_s:
            raise ValueError("resolution_s must be positive and at most window_s")
        self.resolution_s = resolution_s
        self.window_s = window_s
        self._maxlen = math.ceil(window_s / resolution_s) + 1
        self._steps: dict[str, deque[Sample]] = {}
        """Per key, the first sample of each resolution step."""
        self._latest: dict[str, Sample] = {}

    def add(self, at: float, counts: Mapping[str, ClusterCounts]) -> None:
        """One scrape's counts for every key still tracked; keys left out are forgotten."""
        for key in self._latest.keys() - counts.keys():
            del self._latest[key], self._steps[key]
        for key, value in counts.items():
            sample = Sample(at, value)
            steps = self._steps.setdefault(key, deque(maxlen=self._maxlen))
            if not steps or self._step(steps[-1].at) != self._step(at):
                steps.append(sample)
            self._latest[key] = sample

    def samples(self, key: str, *, since: float | None = None) -> list[Sample]:
        """Oldest first, the newest last; `since` leaves out samples taken before it."""
        kept = list(self._steps.get(key, ()))
        latest = self._latest.get(key)
        if latest is not None and latest is not kept[-1]:
            kept.append(latest)
        return [s for s in kept if since is None or s.at >= since]

    def keys(self) -> set[str]:
        return set(self._latest)

    def _step(self, at: float) -> int:
        return math.floor(at / self.resolution_s)
