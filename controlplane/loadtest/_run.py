"""One load test: the proxy's counts before, the load, the counts once they have settled."""

from __future__ import annotations

import asyncio
import time

import httpx

from controlplane.loadtest._load import ClientResult, LoadPlan, run_load
from controlplane.loadtest._stats import ClusterStats, read_stats, settled, since

SETTLE_S = 6.0
"""Longest wait after the load for the proxy's stats to settle: mirrored requests finish after
the callers' answers, and histograms merge at each stats flush (1 s with weir's bootstrap,
5 s by Envoy's default)."""
SETTLE_POLL_S = 0.25


async def measure(
    plan: LoadPlan,
    *,
    service: str,
    admin_url: str,
    settle_s: float = SETTLE_S,
    admin_http: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[ClientResult, dict[str, ClusterStats]]:
    """Run the load; what the callers saw, and what the proxy counted per instance cluster
    meanwhile. Raises AdminUnavailable before any request is sent if the admin cannot be read."""
    plan.check()
    async with (
        httpx.AsyncClient(trust_env=False, timeout=5.0) if admin_http is None else admin_http
    ) as http:
        before = await read_stats(http, admin_url, service)
        client = await run_load(plan, transport=transport)
        deadline = time.monotonic() + settle_s
        previous: dict[str, ClusterStats] | None = None
        while True:
            window = since(await read_stats(http, admin_url, service), before)
            if (window == previous and settled(window)) or time.monotonic() >= deadline:
                return client, window
            previous = window
            await asyncio.sleep(SETTLE_POLL_S)
