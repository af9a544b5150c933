"""A durable error budget: `weir serve` killed -9 and restarted on its SQLite ledger shows the
figures it showed before, to within a bucket, and goes on counting from there (for a change of
leader on PostgreSQL, see tests/ha/test_budget_failover.py). Real processes, a real Envoy
pushing its stats."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from controlplane.harness import SteadyLoad, Upstream
from tests.conftest import StartEnvoy
from tests.integration._budget import budget, settled
from tests.integration._mesh import SERVICE, connect_envoy, serves
from tests.integration._weir import WeirServer
from tests.support import eventually

RPS = 100
SLO = {"success_rate": 99, "window": "1d"}
NO_ROLLBACK = {"auto_rollback": False}  # the failing instance stays: its failures pile up
BUCKET = RPS * 60
"""Requests in one minute bucket at the test's rate: the most a restart may lose."""


def traffic(url: str, seconds: float) -> SteadyLoad:
    with SteadyLoad(url, SERVICE, rps=RPS) as load:
        time.sleep(seconds)
    return load


def same_figures(before: dict[str, Any], after: dict[str, Any]) -> None:
    """The budget after is the one before, to within a bucket of requests at the rate seen."""
    rate = before["errors"] / before["requests"]
    assert abs(after["requests"] - before["requests"]) <= BUCKET, (before, after)
    assert abs(after["errors"] - before["errors"]) <= max(1.0, rate * BUCKET), (before, after)
    assert after["remaining"] is not None and before["remaining"] is not None
    spent = 1 - before["remaining"]
    assert abs((1 - after["remaining"]) - spent) <= 0.1 * spent, (before, after)
    for was, now in zip(before["burn_rates"], after["burn_rates"], strict=True):
        for window in ("long", "short"):
            assert abs(now[window] - was[window]) <= 0.1 * was[window], (was, now)


def mesh(weir: WeirServer, stack: ExitStack) -> None:
    """web: `a` healthy at weight 80, `flaky` failing 20% at 20."""
    weir.service(SERVICE, slo=SLO, rollout=NO_ROLLBACK)
    for instance_id, error_rate, weight in (("a", 0.0, 80), ("flaky", 0.2, 20)):
        upstream = stack.enter_context(
            Upstream(instance_id, error_rate=error_rate, error_status=500, seed=3)
        )
        weir.instance(SERVICE, instance_id, upstream.address)
        weir.live(instance_id, weight)


def test_the_budget_survives_kill_9_and_a_restart(tmp_path: Path, start_envoy: StartEnvoy) -> None:
    with ExitStack() as stack:
        weir = stack.enter_context(WeirServer(tmp_path, options=("--stats", "push")))
        mesh(weir, stack)
        _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=False)
        serves(url, "a", "flaky")

        # Given a budget burning under steady traffic
        base = settled(weir)
        first = traffic(url, 8)
        before = settled(weir)
        assert before["requests"] - base["requests"] == first.total
        assert before["errors"] - base["errors"] == first.outcomes["500"] > 0

        # When weir serve is killed -9 and started again on the same ledger
        weir.kill9()
        weir.start()
        eventually(lambda: budget(weir)["requests"] > 0, timeout=20)

        # Then its budget is what it was, to within a bucket
        after = budget(weir)
        print(f"\nbefore kill -9: {before['requests']:.0f} requests, {before['errors']:.0f} "
              f"failed; restarted: {after['requests']:.0f}, {after['errors']:.0f}")  # fmt: skip
        same_figures(before, after)

        # and it counts on from there
        eventually(lambda: [p["node_id"] for p in weir.proxies()] == ["proxy-1"], timeout=10)
        base = settled(weir)
        more = traffic(url, 4)
        assert settled(weir)["requests"] - base["requests"] == more.total
