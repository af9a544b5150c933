"""Cumulative outcome counts per instance cluster and objective, from requests seen one by one
(the access log) or from totals read every interval (PromQL, late outcomes): `Book`.
"""

from __future__ import annotations

from collections.abc import Mapping

from controlplane.model import ObjectiveKind, OutcomeCounts, Outcomes


def request_counts(kind: ObjectiveKind, value: float) -> OutcomeCounts:
    """One request with `value` for an objective (0 when the answer named none)."""
    if kind is ObjectiveKind.RATIO:
        event = 1.0 if value > 0 else 0.0  # a request counts once, however many events
        return OutcomeCounts(1, event, event, 1)
    return OutcomeCounts(1, value, value * value, 1)


class Book:
    """Cumulative OutcomeCounts per cluster and objective."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, OutcomeCounts]] = {}

    def add(self, cluster: str, objective: str, counts: OutcomeCounts) -> None:
        row = self._counts.setdefault(cluster, {})
        row[objective] = row[objective] + counts if objective in row else counts

    def snapshot(self) -> Outcomes:
        return {cluster: dict(row) for cluster, row in self._counts.items()}

    def keep(self, clusters: set[str]) -> None:
        """Forget clusters no longer named (retired instances)."""
        for cluster in set(self._counts) - clusters:
            del self._counts[cluster]


class Batches:
    """Totals read every interval, folded into OutcomeCounts with each interval one unit: the
    interval's total over its requests (batch means; requests from Envoy's own counts)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[int, float]] = {}
        self.book = Book()

    def fold(
        self, readings: Mapping[tuple[str, str], tuple[int, float]], clusters: set[str]
    ) -> None:
        """(cluster, objective) -> (Envoy's cumulative requests, the cumulative total); what
        is kept of clusters not in `clusters` (retired instances) is forgotten."""
        self._last = {k: v for k, v in self._last.items() if k[0] in clusters}
        self.book.keep(clusters)
        for key, (requests, total) in readings.items():
            before = self._last.get(key)
            self._last[key] = (requests, total)
            if before is None:
                continue  # the first reading is the zero
            more, gained = requests - before[0], total - before[1]
            if more <= 0 or gained < 0:
                continue  # a restarted counter, or no request: no unit
            self.book.add(key[0], key[1], OutcomeCounts(more, gained, gained * gained / more, 1))
