"""A retired instance's cluster leaves the proxies a few seconds after its retirement, never
routed to meanwhile: Envoy drops a removed cluster's stats with it, and the instance's last
second of answers must still reach the budget (tests/integration/test_measurement.py shows it
with a real Envoy)."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.model import Activation
from controlplane.resources import Resources
from controlplane.xds import _cache
from controlplane.xds._cache import SnapshotCache
from tests.xds._fixtures import controller

DRAIN_S = 0.3


def clusters(snapshot: Resources) -> set[str]:
    return set(snapshot.services["web"].clusters)


def routed(snapshot: Resources) -> frozenset[str]:
    return snapshot.services["web"].refs


async def test_a_retired_cluster_stays_unrouted_for_the_drain_then_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_cache, "DRAIN_S", DRAIN_S)
    real = controller(("a", 50), ("b", 50))
    cache = SnapshotCache(real, asyncio.get_running_loop())
    try:
        # When b leaves traffic and is retired at once
        await asyncio.to_thread(real.change, "b", Activation.inactive(), actor="test")
        await asyncio.to_thread(real.change, "b", Activation.retired(), actor="test")
        retired = real.state.seq
        for _ in range(100):
            if cache._seq == retired:  # the retirement's own snapshot is out
                break
            await asyncio.sleep(0.01)
        draining = cache.snapshot

        # Then its cluster is still served, and no route names it
        assert clusters(draining) == {"web--a", "web--b"}
        assert "web--b" not in routed(draining) and "web--a" in routed(draining)

        # and once the drain is over it is gone, with nothing appended meanwhile
        seq = real.state.seq
        await asyncio.sleep(DRAIN_S + 0.3)
        assert clusters(cache.snapshot) == {"web--a"}
        assert cache.snapshot.version != draining.version and real.state.seq == seq
    finally:
        cache.close()
