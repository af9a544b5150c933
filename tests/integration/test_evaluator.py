"""The evaluator against real Envoys: stats pushed by Envoy's metrics sink, verdicts in the
ledger, a harmful instance rolled back, and a spent error budget freezing new traffic."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.harness import SteadyLoad, Upstream
from tests.conftest import StartEnvoy
from tests.integration._mesh import SERVICE, connect_envoy, serves
from tests.integration._weir import WEIR, WeirServer
from tests.support import eventually

RPS = 100


@pytest.fixture
def judged(tmp_path: Path) -> Iterator[WeirServer]:
    """weir serve judging every change from the stats Envoy pushes to it."""
    with WeirServer(tmp_path, options=("--stats", "push")) as server:
        yield server


def upstream(instance_id: str, error_rate: float = 0.0) -> Upstream:
    return Upstream(instance_id, error_rate=error_rate, error_status=500, seed=7)


def weir_cli(server: WeirServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WEIR, "--server", server.api_url, *args], capture_output=True, text=True, timeout=30
    )


def test_a_failing_instance_is_rolled_back_and_a_healthy_one_stays(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    judged.service(SERVICE, risk={"cost_per_failed_request": 0.05})
    with upstream("a") as a, upstream("bad", 0.3) as bad, upstream("good") as good:
        for u in (a, bad, good):
            judged.instance(SERVICE, u.instance_id, u.address)
        judged.live("a", 90)
        _, url = connect_envoy(judged, start_envoy, "proxy-1", delta=False)
        serves(url, "a")
        with SteadyLoad(url, SERVICE, rps=RPS):
            # When a bad and a good instance go live at weight 10 each, under steady load
            started = time.monotonic()
            judged.live("bad", 10)
            judged.live("good", 10)

            # Then the bad one is deactivated by the evaluator
            def rolled_back() -> None:
                [bad_now] = [
                    i for i in judged.call("GET", "/v1/instances") if i["instance"]["id"] == "bad"
                ]
                assert bad_now["activation"]["state"] == "inactive"

            eventually(rolled_back, timeout=60, interval=0.2)
            took = time.monotonic() - started
            # and the good one is still live after as long again
            time.sleep(took)
            [good_now] = [
                i for i in judged.call("GET", "/v1/instances") if i["instance"]["id"] == "good"
            ]
            assert good_now["activation"]["state"] == "live"

            # and Envoy splits a and good as their weights ask: the split check agrees once
            # their period of constant weights has settled (5 s after the rollback)
            def split_checked() -> dict[str, Any]:
                budget: dict[str, Any] = judged.call("GET", f"/v1/services/{SERVICE}/budget")
                assert budget["split_mismatch"] is not None, budget
                return budget

            budget = eventually(split_checked, timeout=20, interval=0.2)
            assert budget["split_mismatch"] is False, budget["split"]

    history = judged.history()
    [bad_verdict] = [
        e
        for e in history
        if e["event"]["kind"] == "verdict_recorded" and e["event"]["instance_id"] == "bad"
    ]
    verdict = bad_verdict["event"]["verdict"]
    assert bad_verdict["actor"] == "evaluator" and verdict["outcome"] == "fail"
    assert verdict["candidate"]["errors"] > 0 and verdict["baseline"]["requests"] > 0
    assert verdict["cost"] > 0
    [rollback] = [
        e
        for e in history
        if e["actor"] == "evaluator" and e["event"]["kind"] == "activation_changed"
    ]
    assert rollback["event"]["instance_id"] == "bad"
    assert f"change {bad_verdict['event']['change_seq']} failed" in rollback["reason"]

    shown = weir_cli(judged, "history", SERVICE)
    assert shown.returncode == 0, shown.stderr
    assert "verdict fail" in shown.stdout and "cost" in shown.stdout


def test_a_spent_budget_refuses_new_live_traffic_until_overridden(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    judged.service(
        SERVICE,
        slo={"success_rate": 99, "window": "1h"},
        rollout={"auto_rollback": False},
    )
    with upstream("flaky", 0.2) as flaky, upstream("fix") as fix:
        judged.instance(SERVICE, "flaky", flaky.address)
        judged.instance(SERVICE, "fix", fix.address)
        judged.live("flaky", 1)
        _, url = connect_envoy(judged, start_envoy, "proxy-1", delta=True)
        serves(url, "flaky")
        with SteadyLoad(url, SERVICE, rps=RPS):
            # Given a service failing 20% against a 99% SLO, until its budget is spent (and its
            # only instance's change judged a failure, left in place: auto_rollback is off)
            def frozen() -> None:
                assert judged.call("GET", f"/v1/services/{SERVICE}/budget")["frozen"]
                assert any(e["event"]["kind"] == "verdict_recorded" for e in judged.history()), (
                    "the evaluator's verdict on flaky's change is still open"
                )

            eventually(frozen, timeout=30, interval=0.2)

            # Then a new live activation is refused, and nothing is written
            before = len(judged.history())
            refused = weir_cli(judged, "instance", "activate", "fix", "--live")
            assert refused.returncode == 1
            assert "error budget" in refused.stderr and "exhausted" in refused.stderr
            assert len(judged.history()) == before
            budget = weir_cli(judged, "budget", SERVICE)
            assert budget.returncode == 0 and "FROZEN" in budget.stdout

            # An explicit override goes through and is recorded
            override = weir_cli(
                judged, "instance", "activate", "fix", "--live", "--override-budget",
                "--reason", "the fix",
            )  # fmt: skip
            assert override.returncode == 0, override.stderr
            assert judged.history()[-1]["event"]["budget_override"] is True
            # and taking traffic away (a rollback) is always allowed
            judged.inactive("flaky")
            assert "error budget overridden" in weir_cli(judged, "history").stdout
