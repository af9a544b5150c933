"""One interface, picked per deployment: never a silent fallback."""

from __future__ import annotations

import httpx
import pytest

import controlplane.stats
from controlplane.errors import InvalidInput
from controlplane.stats import (
    AdminSource,
    PrometheusSource,
    PushSource,
    StatsSource,
    UnknownSource,
    open_source,
)
from controlplane.xds import ProxyRegistry


def test_the_public_names() -> None:
    assert controlplane.stats.__all__ == [
        "LATENCY_BOUNDS_MS",
        "SOURCE_KINDS",
        "AdminSource",
        "ClusterCounts",
        "OnDecrease",
        "PrometheusSource",
        "ProxyReading",
        "PushLimits",
        "PushSource",
        "Scrape",
        "SharesReadings",
        "SourceUnavailable",
        "StatsSource",
        "Totals",
        "UnknownSource",
        "open_source",
    ]


async def test_each_kind_opens_its_source() -> None:
    sink = PushSource()
    async with httpx.AsyncClient() as http:
        sources: dict[str, StatsSource] = {
            "push": open_source("push", sink=sink),
            "pull": open_source("pull", registry=ProxyRegistry(), http=http),
            "promql": open_source("promql", prometheus_url="http://127.0.0.1:9090", http=http),
        }

    assert sources["push"] is sink
    assert isinstance(sources["pull"], AdminSource)
    assert isinstance(sources["promql"], PrometheusSource)


@pytest.mark.parametrize("kind", ["prometheus", "", "PUSH", "admin"])
def test_an_unknown_kind_is_an_error_naming_the_kinds(kind: str) -> None:
    with pytest.raises(UnknownSource, match="expected one of push, pull, promql") as refused:
        open_source(kind, sink=PushSource())
    assert refused.value.field == "source"


@pytest.mark.parametrize(
    ("kind", "missing"),
    [("push", "sink"), ("pull", "registry"), ("promql", "prometheus_url")],
)
def test_a_kind_without_what_it_needs_is_an_error(kind: str, missing: str) -> None:
    with pytest.raises(InvalidInput, match=f"the {kind} stats source needs {missing}"):
        open_source(kind)
