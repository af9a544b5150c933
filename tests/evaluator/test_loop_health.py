"""/metrics says how long the evaluator's ticks take and how late the shared event loop runs."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx

from controlplane.ledger import SqliteStore
from controlplane.serve import ControlPlane, ServeConfig
from tests.support import StaticTokens


def _count(metrics: str, name: str) -> float:
    match = re.search(rf"^{name}_count (\S+)$", metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_metrics_count_evaluator_ticks_and_sample_the_loops_lag(tmp_path: Path) -> None:
    plane = ControlPlane(
        SqliteStore(tmp_path / "weir.db"), ServeConfig.on_free_ports(), auth=StaticTokens()
    )
    listening = await plane.start()
    try:
        async with httpx.AsyncClient(base_url=listening.api_url, trust_env=False) as http:
            deadline = time.monotonic() + 10.0
            while True:
                metrics = (await http.get("/metrics")).text
                ticks = _count(metrics, "weir_evaluator_tick_seconds")
                lags = _count(metrics, "weir_event_loop_lag_seconds")
                if (ticks >= 2 and lags >= 10) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        assert ticks >= 2, "the evaluator ticks once a second"
        assert lags >= 10, "the loop's lag is sampled every 0.1 s"
    finally:
        await plane.stop(0)
