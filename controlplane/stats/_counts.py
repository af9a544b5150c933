"""From Envoy's samples to ClusterCounts, and from readings to monotonic totals.

Every source reads the same stats per instance cluster, in one of Envoy's spellings:
`upstream_rq_xx` by response code class and the `upstream_rq_time` histogram (cumulative
buckets), and for attempts Envoy retried, `retry.upstream_rq_xx` by class and
`upstream_rq_retry` (see _types). `Reading` gathers one read's samples and turns them into
ClusterCounts. `Totals` keeps the counts each source reports monotonic, whether a reading is a
delta (the sink), a proxy's counters since it started (admin), or a fleet-wide sum
(Prometheus).

Stats come from the network and are checked here, whatever the source: a sample that is NaN,
infinite, negative or absurd (more than MAX_COUNT), a histogram whose cumulative buckets go
down, a cumulative reading whose counts go back while its requests rose (no restart explains
that), or one step of more than MAX_STEP requests, is refused *for its cluster only*: the
cluster keeps its last good counts, the reason is logged once and reported with the scrape
(`Scrape.rejected`), and the evaluator holds the verdicts that read that cluster. Every other
cluster is counted as usual.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from controlplane.defaults import CLUSTER_SEPARATOR
from controlplane.model import LATENCY_BOUNDS_MS, ClusterCounts

log = logging.getLogger(__name__)

MAX_COUNT = 2**53
"""No count beyond this is real (nor exact in a float)."""
MAX_STEP = 10**10
"""No instance cluster serves more requests than this between two reads."""


def is_instance_cluster(name: str) -> bool:
    return CLUSTER_SEPARATOR in name


def code_class(value: str) -> int | None:
    """1-5 from Envoy's response code class tag ("5", or "5xx" in stat names); None if not."""
    digit = value.removesuffix("xx")
    return int(digit) if len(digit) == 1 and digit in "12345" else None


_SLOTS = len(LATENCY_BOUNDS_MS) + 1


def latency_slots(buckets: Iterable[tuple[float, float]], count: float | None) -> tuple[int, ...]:
    """Per-slot counts aligned with LATENCY_BOUNDS_MS from cumulative (upper bound, count)
    buckets, plus `count` (all samples, when the buckets stop short of +Inf).

    Envoy's default bounds map one to one. A bucket with another bound counts in the first slot
    whose bound is at least as high (latency rounded up, never down).
    """
    given = list(buckets)
    if tuple(bound for bound, _ in given) == LATENCY_BOUNDS_MS:  # Envoy's own, in order
        totals = [round(cumulative) for _, cumulative in given]
        slots = [totals[0], *(max(0, b - a) for a, b in itertools.pairwise(totals)), 0]
        below = max(totals)
    else:
        slots = [0] * _SLOTS
        below = 0
        for bound, cumulative in sorted(given):
            total = round(cumulative)
            slot = _SLOTS - 1 if math.isinf(bound) else bisect.bisect_left(LATENCY_BOUNDS_MS, bound)
            slots[slot] += max(0, total - below)
            below = max(below, total)
    if count is not None:
        slots[-1] += max(0, round(count) - below)
    return tuple(slots)


@dataclass(slots=True)
class _ClusterSamples:
    classes: dict[int, float] = field(default_factory=dict)
    retried_classes: dict[int, float] = field(default_factory=dict)
    retries: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    count: float | None = None
    latency: tuple[int, ...] | None = None
    """Slots of whole histograms given at once (`Reading.histogram`)."""

    def slots(self) -> tuple[int, ...]:
        loose = (
            latency_slots(self.buckets.items(), self.count) if self.buckets or self.count else None
        )
        if self.latency is None:
            return loose if loose is not None else (0,) * _SLOTS
        if loose is None:
            return self.latency
        return tuple(a + b for a, b in zip(self.latency, loose, strict=True))


def bad_value(value: object) -> str | None:
    """Why `value` cannot be a count, or None when it can."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value!r} is not a number"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return f"{value} (infinite)"
    if value < 0:
        return f"{value:g} (negative)"
    if value > MAX_COUNT:
        return f"{value:g} (absurd: more than any fleet serves)"
    return None


class Reading:
    """One read's samples for instance clusters; other clusters are ignored. A cluster with a
    sample that cannot be a count is left out of `counts()` and named in `rejected()`."""

    def __init__(self) -> None:
        self._clusters: defaultdict[str, _ClusterSamples] = defaultdict(_ClusterSamples)
        self._rejected: dict[str, str] = {}

    def refuse(self, cluster: str, why: str) -> None:
        """Leave `cluster` out of this reading, for `why` (a source's own finding)."""
        if is_instance_cluster(cluster):
            self._rejected.setdefault(cluster, why)

    def _refuse(self, cluster: str, what: str, value: object) -> bool:
        """True (and the cluster refused) when `value` is no count."""
        why = bad_value(value)
        if why is not None and cluster not in self._rejected:
            self._rejected[cluster] = f"{what} is {why}"
        return why is not None

    def response_class(self, cluster: str, klass: str, value: float) -> None:
        """`value` requests completed with response class `klass` ("2", "5", "5xx")."""
        number = code_class(klass)
        if number is not None and is_instance_cluster(cluster):
            if self._refuse(cluster, f"upstream_rq_{number}xx", value):
                return
            samples = self._clusters[cluster]
            samples.classes[number] = samples.classes.get(number, 0.0) + value

    def retried_class(self, cluster: str, klass: str, value: float) -> None:
        """`value` responses of class `klass` that Envoy retried rather than passed on."""
        number = code_class(klass)
        if number is not None and is_instance_cluster(cluster):
            if self._refuse(cluster, f"retry.upstream_rq_{number}xx", value):
                return
            samples = self._clusters[cluster]
            samples.retried_classes[number] = samples.retried_classes.get(number, 0.0) + value

    def retries(self, cluster: str, value: float) -> None:
        """`value` retries Envoy made on the cluster (`upstream_rq_retry`)."""
        if is_instance_cluster(cluster) and not self._refuse(cluster, "upstream_rq_retry", value):
            self._clusters[cluster].retries += value

    def histogram(
        self, cluster: str, buckets: Iterable[tuple[float, float]], count: float | None
    ) -> None:
        """One whole histogram: its cumulative (upper bound, count) buckets and sample count."""
        if is_instance_cluster(cluster):
            given = list(buckets)
            if any(self._refuse(cluster, f"upstream_rq_time bucket le={b:g}", n) for b, n in given):
                return
            if count is not None and self._refuse(cluster, "upstream_rq_time count", count):
                return
            if _goes_down(given):
                self._rejected.setdefault(cluster, "upstream_rq_time's cumulative buckets go down")
                return
            samples = self._clusters[cluster]
            slots = latency_slots(given, count)
            if samples.latency is not None:
                slots = tuple(a + b for a, b in zip(samples.latency, slots, strict=True))
            samples.latency = slots

    def bucket(self, cluster: str, upper_bound: float, cumulative: float) -> None:
        """One bucket of a histogram given sample by sample (text exposition, PromQL)."""
        if is_instance_cluster(cluster):
            if self._refuse(cluster, f"upstream_rq_time bucket le={upper_bound:g}", cumulative):
                return
            buckets = self._clusters[cluster].buckets
            buckets[upper_bound] = buckets.get(upper_bound, 0.0) + cumulative

    def histogram_count(self, cluster: str, count: float) -> None:
        if is_instance_cluster(cluster):
            if self._refuse(cluster, "upstream_rq_time count", count):
                return
            samples = self._clusters[cluster]
            samples.count = (samples.count or 0.0) + count

    def counts(self) -> dict[str, ClusterCounts]:
        counts = {}
        for cluster, samples in sorted(self._clusters.items()):
            if cluster in self._rejected:
                continue
            if samples.buckets and _goes_down(list(samples.buckets.items())):
                self._rejected[cluster] = "upstream_rq_time's cumulative buckets go down"
                continue
            counts[cluster] = ClusterCounts(
                requests=round(sum(samples.classes.values())),
                errors=round(samples.classes.get(5, 0.0)),
                latency=samples.slots(),
                retried=round(sum(samples.retried_classes.values())),
                retried_errors=round(samples.retried_classes.get(5, 0.0)),
                retries=round(samples.retries),
            )
        return counts

    def rejected(self) -> dict[str, str]:
        """Cluster -> why this read of it was refused (call after `counts()`)."""
        return dict(sorted(self._rejected.items()))


def _goes_down(buckets: list[tuple[float, float]]) -> bool:
    """Whether cumulative (upper bound, count) buckets fall as the bound rises."""
    ordered = [count for _, count in sorted(buckets)]
    return any(b < a for a, b in itertools.pairwise(ordered))


def covers(newer: ClusterCounts, older: ClusterCounts) -> bool:
    """Whether every count in `newer` is at least the one in `older` (no counter went back)."""
    return (
        newer.requests >= older.requests
        and newer.errors >= older.errors
        and newer.retried >= older.retried
        and newer.retried_errors >= older.retried_errors
        and newer.retries >= older.retries
        and all(a >= b for a, b in zip(newer.latency, older.latency, strict=True))
    )


class OnDecrease(Enum):
    """What a cumulative reading that went back means."""

    RESTARTED = "restarted"
    """One proxy's counters since it started: it restarted, so the whole reading is new."""
    REBASE = "rebase"
    """A sum over proxies: one of them restarted or left; count nothing new this time."""


class Totals:
    """Monotonic counts per cluster, summed over reporters (a proxy, or a whole fleet).

    `add` takes deltas; `advance` takes cumulative readings and turns them into deltas. A
    reporter that is `forget`-ten keeps its counts in the sums (so they never go back), but
    its per-reporter memory is released. Readings refused at the source (`rejected`, or a
    reading `advance` finds impossible) leave the cluster's counts as they were; `rejected()`
    says which, and why, as of each reporter's latest reading.
    """

    def __init__(self) -> None:
        self._totals: dict[Hashable, dict[str, ClusterCounts]] = {}
        self._last: dict[Hashable, dict[str, ClusterCounts]] = {}
        self._forgotten: dict[str, ClusterCounts] = {}
        self._rejected: dict[Hashable, dict[str, str]] = {}

    def add(
        self,
        reporter: Hashable,
        deltas: Mapping[str, ClusterCounts],
        rejected: Mapping[str, str] | None = None,
    ) -> None:
        refused = dict(rejected or {})
        totals = self._totals.setdefault(reporter, {})
        for cluster, delta in deltas.items():
            if delta.requests > MAX_STEP:
                refused[cluster] = f"{delta.requests:,} requests at once (absurd)"
                continue
            totals[cluster] = totals[cluster] + delta if cluster in totals else delta
        self._note(reporter, refused)

    def advance(
        self,
        reporter: Hashable,
        reading: Mapping[str, ClusterCounts],
        on_decrease: OnDecrease,
        rejected: Mapping[str, str] | None = None,
    ) -> None:
        """Add what `reporter`'s cumulative `reading` gained since its last one. A cluster
        missing from `reading` keeps its last value (Envoy's `usedonly` hides unused stats)."""
        refused = dict(rejected or {})
        last = self._last.setdefault(reporter, {})
        deltas = {}
        for cluster, now in reading.items():
            before = last.get(cluster)
            if before is None or covers(now, before):
                deltas[cluster] = now - before if before is not None else now
            elif now.requests > before.requests:
                refused[cluster] = (
                    "counts went back while its requests rose "
                    f"({before.requests:,} -> {now.requests:,}): no restart explains that"
                )
                continue  # the last good reading stays the zero of the next
            elif on_decrease is OnDecrease.RESTARTED:
                deltas[cluster] = now
            last[cluster] = now
        self.add(reporter, deltas, refused)

    def forget(self, reporter: Hashable) -> None:
        self._last.pop(reporter, None)
        self._rejected.pop(reporter, None)
        for cluster, counts in self._totals.pop(reporter, {}).items():
            kept = self._forgotten.get(cluster)
            self._forgotten[cluster] = kept + counts if kept is not None else counts

    def of(self, reporter: Hashable) -> dict[str, ClusterCounts]:
        """`reporter`'s own monotonic counts (what `add` and `advance` summed)."""
        return dict(self._totals.get(reporter, {}))

    def last(self, reporter: Hashable) -> dict[str, ClusterCounts]:
        """`reporter`'s last cumulative reading, as `advance` was given it."""
        return dict(self._last.get(reporter, {}))

    def reporters(self) -> set[Hashable]:
        return set(self._totals) | set(self._last)

    def clusters(self) -> dict[str, ClusterCounts]:
        """Every cluster's counts, summed over every reporter, forgotten ones included."""
        sums = dict(self._forgotten)
        for totals in self._totals.values():
            for cluster, counts in totals.items():
                sums[cluster] = sums[cluster] + counts if cluster in sums else counts
        return dict(sorted(sums.items()))

    def rejected(self) -> dict[str, str]:
        """Cluster -> why a reporter's latest reading of it was refused (naming the reporter)."""
        found: dict[str, str] = {}
        for reporter, refused in self._rejected.items():
            for cluster, why in refused.items():
                found.setdefault(cluster, f"from {reporter}: {why}")
        return dict(sorted(found.items()))

    def _note(self, reporter: Hashable, refused: dict[str, str]) -> None:
        before = self._rejected.get(reporter, {})
        for cluster, why in refused.items():
            if before.get(cluster) != why:
                log.warning("stats from %s: %s refused: %s", reporter, cluster, why)
        if refused:
            self._rejected[reporter] = refused
        else:
            self._rejected.pop(reporter, None)
