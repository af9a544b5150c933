"""Measurement you can trust, against a real Envoy pushing its stats to weir: the error budget
counts what callers got (a rolled-back canary's failures stay in it, a shadow's never enter
it), and a canary whose failures Envoy retries is judged on every attempt it failed."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from controlplane.harness import SteadyLoad, Upstream
from tests.conftest import StartEnvoy
from tests.integration._budget import budget, settled
from tests.integration._mesh import SERVICE, connect_envoy, serves
from tests.integration._weir import WeirServer
from tests.integration.test_evaluator import weir_cli
from tests.support import eventually

RPS = 100
SLO = {"success_rate": 99, "window": "1h"}
RETRIES = {"attempts": 2, "on": ["5xx", "reset"]}
ERROR_RATE = 0.3


@pytest.fixture
def judged(tmp_path: Path) -> Iterator[WeirServer]:
    with WeirServer(tmp_path, options=("--stats", "push")) as server:
        yield server


def failing(instance_id: str) -> Upstream:
    return Upstream(instance_id, error_rate=ERROR_RATE, error_status=500, seed=7)


@contextmanager
def a_serving_beside_bad(
    judged: WeirServer, start_envoy: StartEnvoy, *, a_weight: int, delta: bool = False
) -> Iterator[tuple[str, Upstream]]:
    """SERVICE's instance "a" live at `a_weight`, and "bad" (failing 30%) registered but
    inactive, behind one Envoy that already routes to "a": that Envoy's URL and bad's upstream."""
    with Upstream("a") as a, failing("bad") as bad:
        judged.instance(SERVICE, "a", a.address)
        judged.instance(SERVICE, "bad", bad.address)
        judged.live("a", a_weight)
        _, url = connect_envoy(judged, start_envoy, "proxy-1", delta=delta)
        serves(url, "a")
        yield url, bad


def state_of(server: WeirServer, instance_id: str) -> str:
    instances = server.call("GET", "/v1/instances")
    [record] = [i for i in instances if i["instance"]["id"] == instance_id]
    return str(record["activation"]["state"])


def verdict_on(server: WeirServer, instance_id: str) -> dict[str, Any]:
    [entry] = [
        e
        for e in server.history()
        if e["event"]["kind"] == "verdict_recorded" and e["event"]["instance_id"] == instance_id
    ]
    verdict: dict[str, Any] = entry["event"]["verdict"]
    return verdict


def test_a_rolled_back_canarys_failures_stay_in_the_budget(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    judged.service(SERVICE, slo=SLO)
    with a_serving_beside_bad(judged, start_envoy, a_weight=90) as (url, bad):
        before = settled(judged)

        # Given a canary failing 30% of its requests, under steady traffic, until weir rolls
        # it back
        with SteadyLoad(url, SERVICE, rps=RPS) as load:
            judged.live("bad", 10)
            eventually(lambda: state_of(judged, "bad") == "inactive", timeout=60, interval=0.2)
            time.sleep(2)  # traffic goes on after the rollback: a's alone
        failed = load.outcomes["500"]
        assert failed > 0 and load.total == load.outcomes["200"] + failed, load.outcomes

        # Then the budget holds every request the callers sent, and every failure they got,
        # the rolled-back canary's included
        after = settled(judged)
        assert after["requests"] - before["requests"] == load.total
        assert after["errors"] - before["errors"] == failed
        assert bad.counts().failed == failed  # all of them bad's: a failed none
        # and still does, seconds later
        time.sleep(3)
        assert budget(judged)["errors"] == after["errors"]


def test_an_instance_retired_at_once_keeps_its_last_answers_in_the_budget(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    judged.service(SERVICE, slo=SLO, rollout={"auto_rollback": False})
    with a_serving_beside_bad(judged, start_envoy, a_weight=50) as (url, bad):
        before = settled(judged)

        # Given an instance failing 30% of its requests, taken out of traffic and retired at
        # once, before the proxy's next stats flush
        with SteadyLoad(url, SERVICE, rps=RPS) as load:
            judged.live("bad", 50)
            time.sleep(8)
            judged.inactive("bad")
            judged.retire("bad")
            time.sleep(1)
        failed = load.outcomes["500"]
        assert failed > 0 and bad.counts().failed == failed

        # Then the budget holds every request its callers sent and every failure they got: the
        # retired cluster stays in Envoy, with no route to it, until its last flush is in
        after = settled(judged)
        assert after["requests"] - before["requests"] == load.total
        assert after["errors"] - before["errors"] == failed


def test_a_shadows_failures_cost_nothing_and_leave_the_budget_alone(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    judged.service(SERVICE, slo=SLO, risk={"cost_per_failed_request": 0.05})
    with a_serving_beside_bad(judged, start_envoy, a_weight=100, delta=True) as (url, bad):
        before = settled(judged)

        # Given a shadow getting a mirrored copy of every request, failing 30% of them
        with SteadyLoad(url, SERVICE, rps=RPS) as load:
            judged.shadow("bad", 100)
            eventually(lambda: state_of(judged, "bad") == "inactive", timeout=60, interval=0.2)
            time.sleep(2)
        assert load.total == load.outcomes["200"], load.outcomes  # no caller saw a failure

        # Then its verdict is a fail on its own failures, at no cost, with no callers
        verdict = verdict_on(judged, "bad")
        assert verdict["outcome"] == "fail" and verdict["candidate"]["errors"] > 0
        assert verdict["callers"] is None
        assert verdict["cost"] == 0 and verdict["extra_failures"] == 0
        # and the budget counts the callers' requests, none of the mirrored failures
        after = settled(judged)
        assert bad.counts().mirrored_failed >= verdict["candidate"]["errors"]
        assert after["errors"] == before["errors"] == 0
        assert after["requests"] - before["requests"] == load.total


def test_a_canary_behind_retries_is_judged_on_every_attempt_and_rolled_back(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    judged.service(
        SERVICE,
        slo=SLO,
        routes=[{"retries": RETRIES}],
        risk={"cost_per_failed_request": 0.05},
    )
    with a_serving_beside_bad(judged, start_envoy, a_weight=90) as (url, bad):
        # Given a canary failing 30% of its attempts, behind a route retrying 5xx twice
        with SteadyLoad(url, SERVICE, rps=RPS) as load:
            judged.live("bad", 10)
            eventually(lambda: state_of(judged, "bad") == "inactive", timeout=60, interval=0.2)
        callers_failed = load.outcomes["500"]

        # Then it is judged near its 30% per attempt, and rolled back on its error rate
        verdict = verdict_on(judged, "bad")
        candidate, callers = verdict["candidate"], verdict["callers"]
        assert verdict["outcome"] == "fail"
        assert verdict["reason"].startswith("fail: 5xx rate"), verdict["reason"]
        # (near: within three standard deviations of a binomial's 30% over its attempts)
        spread = 3 * math.sqrt(ERROR_RATE * (1 - ERROR_RATE) / candidate["requests"])
        assert abs(candidate["error_rate"] - ERROR_RATE) <= spread, candidate
        # while its callers, retried, got few failures: what the cost counts (the callers'
        # figures run from the change, the evidence from the end of the warm-up; the instance
        # itself saw every attempt)
        assert callers["error_rate"] < 0.1 and callers["requests"] < bad.counts().primary
        assert verdict["cost"] <= 0.05 * callers["errors"] + 1e-9
        assert callers_failed <= bad.counts().failed

    shown = weir_cli(judged, "history", SERVICE)
    assert shown.returncode == 0, shown.stderr
    line = f"{candidate['errors']}/{candidate['requests']} attempts failed"
    assert line in shown.stdout and f"callers {callers['errors']}/{callers['requests']}" in (
        shown.stdout
    )
