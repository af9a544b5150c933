"""Per-instance counts from the proxy's admin: `/stats?format=json`, read before and after.

Which instance answered cannot be told from an answer in general, so the counts come from
where an operator gets them: the proxy's per-cluster stats. Each instance is one cluster,
`<service>--<id>`, shadow instances included (a mirrored request counts in the shadow's
cluster). Read are the completed requests by response class (`upstream_rq_1xx` .. `_5xx`,
which weir's bootstrap keeps) and the request-time histogram (`upstream_rq_time`, asked for
with cumulative buckets). Envoy merges histograms at each stats flush, so the histograms lag
the counters by up to one flush interval: `settled` says when the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from controlplane.defaults import CLUSTER_SEPARATOR

_COUNTER = re.compile(r"^cluster\.(?P<cluster>[^.]+)\.upstream_rq_(?P<klass>[1-5])xx$")
_HISTOGRAM = re.compile(r"^cluster\.(?P<cluster>[^.]+)\.upstream_rq_time$")


class AdminUnavailable(Exception):
    """The proxy's admin could not be read."""


@dataclass(frozen=True, slots=True)
class ClusterStats:
    """One cluster's cumulative counts: completed requests by class (1-5), and the latency
    histogram as cumulative counts at `bounds` (ms)."""

    classes: Mapping[int, int] = field(default_factory=dict)
    bounds: tuple[float, ...] = ()
    cumulative: tuple[int, ...] = ()

    @property
    def requests(self) -> int:
        return sum(self.classes.values())

    @property
    def timed(self) -> int:
        """Requests in the histogram: all of them, once Envoy has flushed."""
        return self.cumulative[-1] if self.cumulative else 0

    def __sub__(self, before: ClusterStats) -> ClusterStats:
        """What accrued since `before` (a proxy restarted in between counts from zero)."""
        classes = {k: max(0, v - before.classes.get(k, 0)) for k, v in self.classes.items()}
        cumulative = self.cumulative
        if before.bounds == self.bounds and before.cumulative:
            cumulative = tuple(
                max(0, a - b) for a, b in zip(self.cumulative, before.cumulative, strict=True)
            )
        return ClusterStats(classes, self.bounds, cumulative)

    def slots(self) -> tuple[int, ...]:
        """Per-bucket counts over `bounds`, plus an empty open-ended last bucket."""
        below = 0
        out = []
        for total in self.cumulative:
            out.append(max(0, total - below))
            below = max(below, total)
        return (*out, 0)


def stats_filter(service: str) -> str:
    return rf"^cluster\.{re.escape(service)}{CLUSTER_SEPARATOR}[^.]+\.upstream_rq_([1-5]xx|time)$"


def parse_stats(document: Mapping[str, Any], service: str) -> dict[str, ClusterStats]:
    """The service's instance clusters from one `/stats?format=json&histogram_buckets=
    cumulative` document; other clusters and stats are ignored."""
    prefix = f"{service}--"
    classes: dict[str, dict[int, int]] = {}
    histograms: dict[str, tuple[tuple[float, ...], tuple[int, ...]]] = {}
    for stat in document.get("stats", []):
        if not isinstance(stat, dict):
            continue
        name = stat.get("name")
        if isinstance(name, str) and isinstance(stat.get("value"), int):
            match = _COUNTER.match(name)
            if match and match["cluster"].startswith(prefix):
                counts = classes.setdefault(match["cluster"], {})
                counts[int(match["klass"])] = stat["value"]
        for histogram in stat.get("histograms", []) if "histograms" in stat else []:
            match = _HISTOGRAM.match(str(histogram.get("name", "")))
            buckets = histogram.get("buckets")
            if not (match and match["cluster"].startswith(prefix) and isinstance(buckets, list)):
                continue
            bounds = tuple(float(b["upper_bound"]) for b in buckets)
            cumulative = tuple(int(b.get("cumulative", 0)) for b in buckets)
            histograms[match["cluster"]] = (bounds, cumulative)
    clusters = {}
    for cluster in sorted(set(classes) | set(histograms)):
        bounds, cumulative = histograms.get(cluster, ((), ()))
        clusters[cluster] = ClusterStats(classes.get(cluster, {}), bounds, cumulative)
    return clusters


async def read_stats(
    http: httpx.AsyncClient, admin_url: str, service: str
) -> dict[str, ClusterStats]:
    """The service's instance clusters as the proxy at `admin_url` counts them now."""
    params = {
        "format": "json",
        "filter": stats_filter(service),
        "histogram_buckets": "cumulative",
    }
    try:
        response = await http.get(f"{admin_url}/stats", params=params)
        response.raise_for_status()
        document = response.json()
    except httpx.HTTPStatusError as exc:
        raise AdminUnavailable(
            f"the proxy's admin at {admin_url} answered {exc.response.status_code} for /stats"
        ) from exc
    except httpx.HTTPError as exc:
        raise AdminUnavailable(
            f"cannot read the proxy's admin at {admin_url} ({exc or type(exc).__name__}); "
            "is --admin the admin address of the Envoy that --through reaches?"
        ) from exc
    except ValueError as exc:
        raise AdminUnavailable(f"the proxy's admin at {admin_url} gave no JSON stats") from exc
    if not isinstance(document, dict):
        raise AdminUnavailable(f"the proxy's admin at {admin_url} gave no JSON stats")
    return parse_stats(document, service)


def since(
    after: Mapping[str, ClusterStats], before: Mapping[str, ClusterStats]
) -> dict[str, ClusterStats]:
    return {name: stats - before.get(name, ClusterStats()) for name, stats in after.items()}


def settled(counts: Mapping[str, ClusterStats]) -> bool:
    """Whether every cluster's histogram holds as many requests as its counters (flushed)."""
    return all(c.timed >= c.requests for c in counts.values() if c.cumulative or c.requests)
