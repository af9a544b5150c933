"""What each proxy claims through the metrics sink, and the part of it the evaluator sees.

Stats are evidence: a flush can pass a change, fail it or freeze a service. The sink
(`stats/_push.py`) admits only flushes from a proxy it can name, about clusters weir sent that
proxy, never negative and within a rate. This module keeps one proxy's claims from outweighing
the others':

- Each proxy's claims are kept apart (`received`), and so is the part of them already handed to
  the evaluator (`published`). The evaluator sees only the published sums, which never go back.
- Each proxy's recent claims about each instance (decayed exponentially, half-life a minute) are
  compared with the other proxies' over the same time: the 5xx rate and the share of requests
  slower than each of a few bounds (100 ms to 5 s). Proxies that send the same instance the
  same kind of traffic agree within chance; a proxy that differs beyond chance (|z| of a
  two-proportion test at least 5) and by a margin that matters (one rate at least twice the
  other and a percentage point apart) puts the instance in *dispute*.
- A proxy's claims about an instance it has not reported before are held for `probation_s`
  (5 s): a lie told the moment a canary goes live, before the honest proxies have enough of
  their own to compare, is caught there rather than published.
- While an instance is disputed nothing more about it is published: its counts hold still, so
  a verdict on it stays where the undisputed evidence left it (inconclusive, naming the
  proxies, until more evidence), and no error budget burns or freezes on what is disputed.
- A dispute ends when one of its parties leaves (no flush for `leave_after_s`): what the
  others claimed meanwhile is published, what the leaver claimed is dropped -- a forger that
  goes takes its claims with it. It also ends once no disagreement has been seen for
  `settle_s`: then each party's claims over the dispute are compared with what the fleet
  agreed on before it, and published only if they agree (weir would rather lose evidence
  than take a lie).

Memory: one series per (proxy, cluster) claimed, at most `max_series` in all (a new one beyond
that is refused and counted); the sink lets a proxy claim only clusters weir sent it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from controlplane.model import LATENCY_BOUNDS_MS, ClusterCounts

TAIL_BOUNDS_MS: tuple[float, ...] = (100, 250, 500, 1000, 2500, 5000)
"""The latency bounds whose share of slower requests proxies must agree on. Below 100 ms a
proxy's own distance from the instance legitimately shifts its latency."""
_TAIL_SLOTS = tuple(LATENCY_BOUNDS_MS.index(bound) + 1 for bound in TAIL_BOUNDS_MS)
_FEATURES = ("5xx", *(f"slower than {bound:g} ms" for bound in TAIL_BOUNDS_MS))
_WIDTH = 1 + len(_FEATURES)
"""A series' recent claims: requests, then one count per feature."""
MAX_SERIES = 200_000
LEAVE_AFTER_S = 60.0
SETTLE_S = 60.0
PROBATION_S = 5.0
"""A proxy's first claims about an instance are held this long before they are handed on:
long enough for the other proxies' own traffic to the instance to contradict a lie told the
moment it goes live (before any of them had enough to compare)."""
_RESCALE_AFTER = 30.0
"""Decay time constants after which every recent claim is rescaled to a new epoch (so the
scale factor of new claims stays far from overflowing)."""


def features(counts: ClusterCounts) -> list[float]:
    """[requests, 5xx, slower than each tail bound] of some counts."""
    latency = counts.latency
    return [
        float(counts.requests),
        float(counts.errors),
        *(float(sum(latency[slot:])) for slot in _TAIL_SLOTS),
    ]


@dataclass(frozen=True, slots=True)
class DisputeRule:
    """When one proxy's recent claims and the others' cannot both be true."""

    half_life_s: float = 60.0
    min_requests: float = 20.0
    """Recent requests each side needs before it is compared at all."""
    z: float = 5.0
    min_difference: float = 0.01
    min_ratio: float = 2.0

    def disagreement(self, mine: Sequence[float], rest: Sequence[float]) -> str | None:
        """What differs between two sets of claims ([requests, *features]), or None."""
        n1, n2 = mine[0], rest[0]
        if n1 < self.min_requests or n2 < self.min_requests:
            return None
        for k, what in enumerate(_FEATURES, start=1):
            a, b = min(1.0, max(0.0, mine[k] / n1)), min(1.0, max(0.0, rest[k] / n2))
            low, high = sorted((a, b))
            if high - low < self.min_difference or high < self.min_ratio * low:
                continue
            pooled = (a * n1 + b * n2) / (n1 + n2)
            spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
            if spread == 0 or (high - low) / spread >= self.z:
                return f"{what} {a:.1%} of {n1:.0f} recent requests against {b:.1%} of {n2:.0f}"
        return None


@dataclass(slots=True)
class _Series:
    """One proxy's claims about one cluster."""

    since: float = 0.0
    """When the proxy first claimed anything about the cluster."""
    received: ClusterCounts = field(default_factory=ClusterCounts)
    published: ClusterCounts = field(default_factory=ClusterCounts)
    recent: list[float] = field(default_factory=lambda: [0.0] * _WIDTH)
    """Decayed claims, scaled to the epoch (see `Claims._weight`)."""


@dataclass(slots=True)
class _Dispute:
    parties: set[str]
    reason: str
    since: float
    last_seen: float
    """When the disagreement was last found."""


@dataclass(slots=True)
class _Cluster:
    published: ClusterCounts = field(default_factory=ClusterCounts)
    """Sum of every proxy's published claims, those gone included: what the evaluator sees."""
    recent: list[float] = field(default_factory=lambda: [0.0] * _WIDTH)
    members: dict[str, _Series] = field(default_factory=dict)
    dispute: _Dispute | None = None


class Claims:
    """Every proxy's claims, kept apart, and the sums of their undisputed part."""

    def __init__(
        self,
        *,
        rule: DisputeRule | None = None,
        max_series: int = MAX_SERIES,
        leave_after_s: float = LEAVE_AFTER_S,
        settle_s: float = SETTLE_S,
        probation_s: float = PROBATION_S,
    ) -> None:
        self._rule = rule or DisputeRule()
        self._tau = self._rule.half_life_s / math.log(2)
        self._epoch: float | None = None
        self._max_series = max_series
        self._leave_after_s = leave_after_s
        self._settle_s = settle_s
        self._probation_s = probation_s
        self._on_probation: dict[tuple[str, str], float] = {}
        """(proxy, cluster) → when its probation ends: published then by `settle` even if
        the proxy sends nothing more about it (Envoy flushes only counters that moved)."""
        self._clusters: dict[str, _Cluster] = {}
        self._proxies: dict[str, dict[str, _Series]] = {}
        self._heard: dict[str, float] = {}
        self._series = 0
        self.refused_series = 0
        """New (proxy, cluster) series refused because `max_series` were kept already."""
        self.dropped: list[tuple[str, str, ClusterCounts]] = []
        """(proxy, cluster, counts) dropped at the end of a dispute, latest last (a few kept)."""

    # Claims in.

    def add(self, proxy: str, deltas: Mapping[str, ClusterCounts], now: float) -> None:
        """Fold in one flush of `proxy`: counts per cluster since its previous flush."""
        self._heard[proxy] = now
        series_of = self._proxies.setdefault(proxy, {})
        weight = self._weight(now)
        scale = 1 / weight
        for cluster, delta in deltas.items():
            series = series_of.get(cluster)
            entry = self._clusters.get(cluster)
            if series is None:
                if self._series >= self._max_series:
                    self.refused_series += 1
                    continue
                series = series_of[cluster] = _Series(since=now)
                if entry is None:
                    entry = self._clusters[cluster] = _Cluster()
                entry.members[proxy] = series
                self._series += 1
            assert entry is not None
            series.received = series.received + delta
            for k, value in enumerate(features(delta)):
                series.recent[k] += value * weight
                entry.recent[k] += value * weight
            mine = [value * scale for value in series.recent]
            rest = [(t - m) * scale for t, m in zip(entry.recent, series.recent, strict=True)]
            reason = self._rule.disagreement(mine, rest)
            if reason is not None:
                self._raise(cluster, entry, proxy, reason, now, scale)
            if now - series.since < self._probation_s:
                self._on_probation[(proxy, cluster)] = series.since + self._probation_s
            elif entry.dispute is None:
                _publish(entry, series)

    def _raise(
        self, cluster: str, entry: _Cluster, proxy: str, reason: str, now: float, scale: float
    ) -> None:
        parties = {
            member
            for member, series in entry.members.items()
            if series.recent[0] * scale >= self._rule.min_requests
        }
        if entry.dispute is None:
            others = _names(parties - {proxy})
            said = f"{_name(proxy)} claims {reason} from the other proxies ({others})"
            entry.dispute = _Dispute(parties, said, since=now, last_seen=now)
        else:
            entry.dispute.parties |= parties
            entry.dispute.last_seen = now

    # Time passing.

    def settle(self, now: float) -> None:
        """Publish claims whose probation ended; end the disputes whose parties left or that
        stopped disagreeing."""
        for key, due in list(self._on_probation.items()):
            if due <= now:
                del self._on_probation[key]
                proxy, cluster = key
                series = self._proxies.get(proxy, {}).get(cluster)
                entry = self._clusters.get(cluster)
                if series is not None and entry is not None and entry.dispute is None:
                    _publish(entry, series)
        for cluster, entry in self._clusters.items():
            dispute = entry.dispute
            if dispute is None:
                continue
            gone = {
                p
                for p in dispute.parties
                if now - self._heard.get(p, -math.inf) > self._leave_after_s
            }
            if gone:
                for proxy in gone:
                    series = entry.members.get(proxy)
                    if series is not None:
                        self._drop_held(proxy, cluster, series)
                self._end(entry)
            elif now - dispute.last_seen >= self._settle_s:
                self._reconcile(cluster, entry)

    def _reconcile(self, cluster: str, entry: _Cluster) -> None:
        """Publish each party's claims over the dispute if they agree with what the fleet
        agreed on before it (the published counts: a dispute needs two proxies with recent
        claims, so there are always some), else drop them."""
        assert entry.dispute is not None
        agreed = features(entry.published)
        for proxy in sorted(entry.dispute.parties & entry.members.keys()):
            series = entry.members[proxy]
            held = features(series.received - series.published)
            if self._rule.disagreement(held, agreed) is not None:
                self._drop_held(proxy, cluster, series)
        self._end(entry)

    def _drop_held(self, proxy: str, cluster: str, series: _Series) -> None:
        held = series.received - series.published
        if held.requests or held.errors:
            self.dropped = [*self.dropped[-31:], (proxy, cluster, held)]
        series.received = series.published

    def _end(self, entry: _Cluster) -> None:
        entry.dispute = None
        for series in entry.members.values():
            _publish(entry, series)

    def forget(self, proxy: str) -> None:
        """Release a proxy gone for good: what it had published stays in the sums, what was
        held of it is dropped (its disputes end at the next `settle`)."""
        for cluster, series in self._proxies.pop(proxy, {}).items():
            entry = self._clusters[cluster]
            for k, value in enumerate(series.recent):
                entry.recent[k] -= value
            del entry.members[proxy]
            self._series -= 1
            if entry.dispute is not None and proxy in entry.dispute.parties:
                self._drop_held(proxy, cluster, series)
                self._end(entry)
        self._heard.pop(proxy, None)

    # What the evaluator and the replicas see.

    def sums(self) -> dict[str, ClusterCounts]:
        return {name: entry.published for name, entry in sorted(self._clusters.items())}

    def disputes(self) -> dict[str, str]:
        """Cluster → why its claims are disputed, for the clusters in dispute."""
        return {
            name: entry.dispute.reason
            for name, entry in sorted(self._clusters.items())
            if entry.dispute is not None
        }

    def published(self, proxy: str) -> dict[str, ClusterCounts]:
        """The part of `proxy`'s claims handed on (what replicas share under HA)."""
        return {name: s.published for name, s in self._proxies.get(proxy, {}).items()}

    def heard(self) -> dict[str, float]:
        """Proxy → when it last flushed."""
        return dict(self._heard)

    def series_count(self) -> int:
        return self._series

    def proxies(self) -> Iterable[str]:
        return list(self._proxies)

    # Decay, in one scale for every series: a claim made at `now` counts `weight(now)` in
    # the stored sums, and any stored value times 1/weight(now) is its decayed size now. So
    # one proxy's and a whole cluster's recent claims add and subtract exactly.

    def _weight(self, now: float) -> float:
        if self._epoch is None:
            self._epoch = now
        elif (now - self._epoch) / self._tau > _RESCALE_AFTER:
            factor = math.exp(-(now - self._epoch) / self._tau)
            for entry in self._clusters.values():
                entry.recent[:] = [value * factor for value in entry.recent]
                for series in entry.members.values():
                    series.recent[:] = [value * factor for value in series.recent]
            self._epoch = now
        return math.exp((now - self._epoch) / self._tau)


def _name(proxy: str) -> str:
    return proxy if len(proxy) <= 64 else f"{proxy[:61]}..."


def _names(proxies: set[str], most: int = 3) -> str:
    """A few proxies by name, for a reason that must stay short (a verdict's is bounded)."""
    names = [_name(p) for p in sorted(proxies)]
    if len(names) > most:
        return f"{', '.join(names[:most])} and {len(names) - most} more"
    return ", ".join(names) or "none"


def _publish(entry: _Cluster, series: _Series) -> None:
    if series.received != series.published:
        entry.published = entry.published + (series.received - series.published)
        series.published = series.received
