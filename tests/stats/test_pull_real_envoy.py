"""pull, against the real thing: each connected Envoy's admin /stats/prometheus."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from controlplane.stats import open_source
from tests.conftest import StartEnvoy
from tests.stats._mesh import StatsMesh, matches, read_until


@pytest.mark.timeout(120)
async def test_the_admin_counts_what_envoy_served_across_a_restart(
    mesh: StatsMesh, start_envoy: StartEnvoy
) -> None:
    # Given the proxy named its admin when it connected over ADS
    [proxy] = mesh.plane.registry.proxies()
    assert proxy.admin == mesh.admin
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as http:
        source = open_source("pull", registry=mesh.plane.registry, http=http)

        # When traffic goes through it, some of it retried
        await mesh.send(web=200, api=300, retry=200)
        expected = mesh.expected()

        # Then the admin's counts are exactly what the client saw, each request also in its
        # latency histogram (the mirror is async; Envoy merges histograms at each 1 s flush),
        # and every attempt the retried instance served
        check = matches(expected, mesh.attempts(), mesh.untimed())
        scrape = await read_until(source.scrape, check, timeout=5)
        assert scrape.reporting == 1

        # When the proxy restarts (its counters start from zero) and serves a little more
        mesh.envoy.stop()
        mesh.envoy = await asyncio.to_thread(start_envoy, mesh.bootstrap)
        await mesh.send(web=20, api=30, retry=30)
        expected = mesh.expected()

        # Then the totals carry on from where they were, never back
        check = matches(expected, mesh.attempts(), mesh.untimed())
        await read_until(source.scrape, check, timeout=5)
        assert [p.admin for p in mesh.plane.registry.proxies()] == [mesh.admin]
