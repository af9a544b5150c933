"""Each instance's cumulative counts over the last few minutes, a sample every few seconds: what
the dashboard draws as per-instance success rate and p99.

Bounded in memory: the first sample of each resolution step over the window, plus the newest
one (so the last point of a chart is always current), kept only for the keys the evaluator still
names: retired instances are dropped.

Kept sparse: the step times are shared by every key, and each key keeps only its counts where
they changed (at most two a step). Most of a mesh's instances see no traffic in a given minute,
and a sample per step for each of them cost hundreds of MB and much of the evaluator's tick at
a few thousand instances; `samples()` rebuilds one key's per-step series from its changes when
the dashboard asks for it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from controlplane.model import ClusterCounts

RESOLUTION_S = 2.0
WINDOW_S = 300.0


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    """Unix time of the scrape, seconds."""
    counts: ClusterCounts
    """Cumulative since the source began counting: subtract two samples for an interval."""


@dataclass(slots=True)
class _Track:
    first: Sample
    """The key's first sample (its series starts there, wherever that falls in a step)."""
    changes: list[Sample]
    """The counts each time they changed, oldest first: at most two a step (the one in force
    at the step's first scrape, and the newest), trimmed to the window."""


class RecentCounts:
    """Cumulative counts per key (an instance id) over the last `window_s` seconds."""

    def __init__(self, *, resolution_s: float = RESOLUTION_S, window_s: float = WINDOW_S) -> None:
        if not 0 < resolution_s <= window_s:
            raise ValueError("resolution_s must be positive and at most window_s")
        self.resolution_s = resolution_s
        self.window_s = window_s
        self._steps: deque[float] = deque(maxlen=math.ceil(window_s / resolution_s) + 1)
        """The time of the first scrape of each resolution step, shared by every key."""
        self._latest_at = 0.0
        self._tracks: dict[str, _Track] = {}

    def add(self, at: float, counts: Mapping[str, ClusterCounts]) -> None:
        """One scrape's counts for every key still tracked; keys left out are forgotten."""
        tracks = self._tracks
        if tracks.keys() != counts.keys():
            for key in tracks.keys() - counts.keys():
                del tracks[key]
        self.advance(at, counts)

    def advance(self, at: float, moved: Mapping[str, ClusterCounts]) -> None:
        """One scrape's counts for the keys whose counts moved (or are new); every other key
        keeps its counts. A scrape costs what moved, not every key."""
        tracks = self._tracks
        if not self._steps or self._step(self._steps[-1]) != self._step(at):
            self._steps.append(at)
        self._latest_at = at
        step_start, oldest = self._steps[-1], self._steps[0]
        for key, value in moved.items():
            track = tracks.get(key)
            if track is None:
                first = Sample(at, value)
                tracks[key] = _Track(first, [first])
                continue
            changes = track.changes
            last = changes[-1]
            if value is last.counts or value == last.counts:
                continue  # nothing new: an idle instance costs a comparison
            if last.at > step_start:
                changes[-1] = Sample(at, value)  # within the step: only the newest matters
                continue
            changes.append(Sample(at, value))
            while len(changes) > 1 and changes[1].at <= oldest:
                del changes[0]

    def samples(self, key: str, *, since: float | None = None) -> list[Sample]:
        """Oldest first, the newest last; `since` leaves out samples taken before it."""
        track = self._tracks.get(key)
        if track is None:
            return []
        first_step = self._step(track.first.at)
        kept = [track.first] if first_step >= self._step(self._steps[0]) else []
        changes, i = track.changes, 0
        for at in self._steps:
            if self._step(at) <= first_step:
                continue
            while i + 1 < len(changes) and changes[i + 1].at <= at:
                i += 1
            kept.append(Sample(at, changes[i].counts))
        if kept[-1].at != self._latest_at:
            kept.append(Sample(self._latest_at, changes[-1].counts))
        return [s for s in kept if since is None or s.at >= since]

    def keys(self) -> set[str]:
        return set(self._tracks)

    def _step(self, at: float) -> int:
        return math.floor(at / self.resolution_s)
