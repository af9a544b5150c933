"""Rollouts against a real Envoy under steady load: each strategy completes for a healthy
version and rolls back for a bad one, gated by verdicts from the stats Envoy pushes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controlplane.harness import SteadyLoad, Upstream
from tests.conftest import StartEnvoy
from tests.integration._mesh import SERVICE, connect_envoy, serves
from tests.integration._weir import WeirServer
from tests.support import eventually, send_requests

RPS = 300
# A loose SLO so a healthy version can pass within seconds at test traffic (the anytime-valid
# pass needs its error-rate bound under half the SLO's budget).
SLO = {"success_rate": 95, "latency_p99_ms": 1000}


@pytest.fixture
def judged(tmp_path: Path) -> Iterator[WeirServer]:
    with WeirServer(tmp_path, options=("--stats", "push")) as server:
        server.service(SERVICE, slo=SLO)
        yield server


def rollout(weir: WeirServer) -> dict[str, Any]:
    status: dict[str, Any] = weir.call("GET", f"/v1/rollouts/{SERVICE}")
    return status


def finished(weir: WeirServer, timeout: float = 90) -> dict[str, Any]:
    def done() -> dict[str, Any]:
        status = rollout(weir)
        assert status["state"] in ("completed", "rolled_back", "aborted"), status["next"]
        return status

    result: dict[str, Any] = eventually(done, timeout=timeout, interval=0.25)
    return result


def mesh(weir: WeirServer, start_envoy: StartEnvoy, stack: ExitStack, new_error_rate: float) -> str:
    """v1 (two instances) live, v2 (two instances) registered; an Envoy; returns its URL."""
    for instance_id, version, error_rate in (
        ("v1-a", "v1", 0.0),
        ("v1-b", "v1", 0.0),
        ("v2-a", "v2", new_error_rate),
        ("v2-b", "v2", new_error_rate),
    ):
        upstream = stack.enter_context(
            Upstream(instance_id, error_rate=error_rate, error_status=500, seed=3)
        )
        weir.instance(SERVICE, instance_id, upstream.address, version=version)
    weir.live("v1-a", 50)
    weir.live("v1-b", 50)
    _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=False)
    serves(url, "v1-a", "v1-b")
    return url


STRATEGIES: dict[str, dict[str, Any]] = {
    "canary": {"strategy": "canary", "steps": [10, 50, 100]},
    "partial": {"strategy": "partial"},
    "blue-green": {"strategy": "blue-green", "verify_in_shadow": True, "mirror_percent": 50},
    "shadow": {"strategy": "shadow", "mirror_percent": 50, "steps": [50, 100]},
}


@dataclass
class Outcome:
    status: dict[str, Any]
    url: str
    load: SteadyLoad
    answered_after: set[str]
    """Which instances answered 200 requests sent once the rollout had ended."""


def roll_out(
    weir: WeirServer, start_envoy: StartEnvoy, plan: dict[str, Any], new_error_rate: float
) -> Outcome:
    """Roll v2 out with `plan` under steady load, until the rollout ends."""
    with ExitStack() as stack:
        url = mesh(weir, start_envoy, stack, new_error_rate=new_error_rate)
        with SteadyLoad(url, SERVICE, rps=RPS) as load:
            body = {"service": SERVICE, "version": "v2", "bake": "1s", "grace": "0s", **plan}
            weir.call("POST", "/v1/rollouts", body)
            status = finished(weir)
        answered = set(send_requests(url, 200, SERVICE).bodies())
    return Outcome(status, url, load, answered)


def recorded_verdicts(weir: WeirServer) -> list[dict[str, Any]]:
    return [e["event"] for e in weir.history() if e["event"]["kind"] == "verdict_recorded"]


@pytest.mark.parametrize("plan", STRATEGIES.values(), ids=STRATEGIES.keys())
def test_a_healthy_version_rolls_out_to_all_traffic(
    judged: WeirServer, start_envoy: StartEnvoy, plan: dict[str, Any]
) -> None:
    done = roll_out(judged, start_envoy, plan, new_error_rate=0.0)

    assert done.status["state"] == "completed", done.status
    assert set(done.load.outcomes) == {"200"}, done.load.outcomes
    assert done.answered_after <= {"v2-a", "v2-b"}
    # every judged change of the rollout passed, and the history says so
    ours = {e["seq"] for e in judged.history() if e["event"].get("rollout_id") == done.status["id"]}
    judged_changes = [v for v in recorded_verdicts(judged) if v["change_seq"] in ours]
    assert judged_changes and all(v["verdict"]["outcome"] == "pass" for v in judged_changes)


@pytest.mark.parametrize("plan", STRATEGIES.values(), ids=STRATEGIES.keys())
def test_a_failing_version_is_rolled_back_to_the_old_one(
    judged: WeirServer, start_envoy: StartEnvoy, plan: dict[str, Any]
) -> None:
    done = roll_out(judged, start_envoy, plan, new_error_rate=0.3)

    assert done.status["state"] == "rolled_back", done.status
    assert done.answered_after <= {"v1-a", "v1-b"}  # traffic is back on v1 alone
    if plan["strategy"] in ("shadow", "blue-green"):
        # verified in shadow: no caller ever saw v2's answers
        assert not {"v2-a", "v2-b"} & set(done.load.bodies), done.load.bodies
    assert any(v["verdict"]["outcome"] == "fail" for v in recorded_verdicts(judged))


def test_a_controller_killed_mid_canary_finishes_it_after_restart(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    with ExitStack() as stack:
        url = mesh(judged, start_envoy, stack, new_error_rate=0.0)
        with SteadyLoad(url, SERVICE, rps=RPS) as load:
            judged.call(
                "POST",
                "/v1/rollouts",
                {"service": SERVICE, "version": "v2", "bake": "2s", "grace": "0s",
                 "strategy": "canary", "steps": [10, 50, 100]},
            )  # fmt: skip
            eventually(lambda: rollout(judged)["step"] >= 2, timeout=60, interval=0.2)
            judged.kill9()
            judged.start()
            status = finished(judged)
        assert status["state"] == "completed", status
        assert set(load.outcomes) <= {"200"}, load.outcomes  # Envoy served through the crash

    changes = [
        (e["event"]["instance_id"], e["event"]["after"])
        for e in judged.history()
        if e["event"]["kind"] == "activation_changed" and e["event"]["rollout_id"] == status["id"]
    ]
    assert len(changes) == len({(i, str(a)) for i, a in changes}), changes  # nothing repeated
    steps = [e["event"] for e in judged.history() if e["event"]["kind"] == "rollout_stepped"]
    assert [s["stage"] for s in steps] == sorted({s["stage"] for s in steps})  # none skipped
