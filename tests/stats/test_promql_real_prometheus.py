"""PromQL, against the real thing: a Prometheus server scraping the Envoy's admin."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from controlplane.stats import open_source
from tests.stats._mesh import StatsMesh, matches, read_until
from tests.stats._prometheus import PrometheusServer


@pytest.mark.timeout(120)
async def test_prometheus_sums_what_envoy_served(mesh: StatsMesh, tmp_path: Path) -> None:
    # Given a real Prometheus scraping the proxy's /stats/prometheus every second
    prometheus = PrometheusServer(tmp_path, targets=[mesh.admin])
    await asyncio.to_thread(prometheus.start)
    try:
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as http:
            source = open_source("promql", prometheus_url=prometheus.url, http=http)

            # When traffic goes through the proxy
            await mesh.send(web=200, api=300, retry=200)
            expected = mesh.expected()

            # Then PromQL's sums reach exactly what the client saw, and every attempt the
            # retried instance served, within a few scrapes
            check = matches(expected, mesh.attempts(), mesh.untimed())
            scrape = await read_until(source.scrape, check, timeout=20)
            assert scrape.reporting == 1
    finally:
        await asyncio.to_thread(prometheus.stop)
