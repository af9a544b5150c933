"""Verdicts under real traffic, with real Envoys: a warming instance judged for gross failure
only, the last step of a rollout judged and undone, an undecided step recorded and judged on
across a controller restart, and one service's bad series holding only its own verdicts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from controlplane.harness import SteadyLoad, Upstream
from controlplane.stats._claims import PROBATION_S
from tests.conftest import StartEnvoy
from tests.integration._mesh import SERVICE, connect_envoy, serves
from tests.integration._prometheus_front import PrometheusFront
from tests.integration._weir import WeirServer
from tests.support import eventually

RPS = 100


@pytest.fixture
def judged(tmp_path: Path) -> Iterator[WeirServer]:
    with WeirServer(tmp_path, options=("--stats", "push")) as server:
        yield server


def upstream(instance_id: str, error_rate: float = 0.0) -> Upstream:
    return Upstream(instance_id, error_rate=error_rate, error_status=500, seed=5)


def activation(weir: WeirServer, instance_id: str) -> str:
    [found] = [i for i in weir.call("GET", "/v1/instances") if i["instance"]["id"] == instance_id]
    state: str = found["activation"]["state"]
    return state


def verdicts(weir: WeirServer, instance_id: str) -> list[dict[str, Any]]:
    return [
        e["event"]
        for e in weir.history()
        if e["event"]["kind"] == "verdict_recorded" and e["event"]["instance_id"] == instance_id
    ]


def open_verdict(weir: WeirServer, instance_id: str) -> dict[str, Any] | None:
    for evaluation in weir.call("GET", "/v1/evaluations"):
        if evaluation["instance_id"] == instance_id:
            verdict: dict[str, Any] | None = evaluation["verdict"]
            return verdict
    return None


def test_a_warming_instance_fails_only_grossly_and_is_judged_from_zero_after(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    # Given a service whose 5% of errors come one by one, so its verdicts count error by error
    judged.service(SERVICE, slo={"success_rate": 90}, verdict={"warmup": "6s"})
    with (
        upstream("a", 0.05) as a,
        upstream("broken", 0.95) as broken,
        upstream("cold", 0.4) as cold,
    ):
        for u in (a, broken, cold):
            judged.instance(SERVICE, u.instance_id, u.address)
        judged.live("a", 90)
        _, url = connect_envoy(judged, start_envoy, "proxy-1", delta=False)
        serves(url, "a")
        with SteadyLoad(url, SERVICE, rps=RPS):
            time.sleep(8)  # the service's own errors, seen one by one

            # When an instance failing nearly every request goes live, it is rolled back within
            # its warm-up (counted from its first counts, which a proxy's probation holds back
            # for PROBATION_S: stats/_claims.py): gross failure
            started = time.monotonic()
            judged.live("broken", 10)
            within = PROBATION_S + 6
            eventually(
                lambda: activation(judged, "broken") == "inactive", timeout=within, interval=0.2
            )
            [failed] = verdicts(judged, "broken")
            assert failed["verdict"]["outcome"] == "fail"
            assert "fail during the warm-up" in failed["verdict"]["reason"]
            assert time.monotonic() - started < within

            # When an instance fails 40% of its first three seconds, then as few as the service
            judged.live("cold", 10)
            time.sleep(3)
            cold.error_rate = 0.05

            # Then it is not rolled back: its warm-up is judged apart, and the tests start after
            def judged_after_warmup() -> None:
                verdict = open_verdict(judged, "cold")
                assert verdict is not None and "warming" not in verdict["reason"], verdict

            eventually(judged_after_warmup, timeout=PROBATION_S + 10, interval=0.2)
            time.sleep(4)
            assert activation(judged, "cold") == "live"
            assert [v["verdict"]["outcome"] for v in verdicts(judged, "cold")] in ([], ["pass"])


def test_the_last_step_of_a_rollout_is_judged_and_undone(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    judged.service(SERVICE, slo={"success_rate": 95, "latency_p99_ms": 1000})
    with upstream("v1") as v1, upstream("v2") as v2:
        judged.instance(SERVICE, "v1", v1.address, version="v1")
        judged.instance(SERVICE, "v2", v2.address, version="v2")
        judged.live("v1", 100)
        _, url = connect_envoy(judged, start_envoy, "proxy-1", delta=False)
        serves(url, "v1")
        with SteadyLoad(url, SERVICE, rps=RPS):
            plan = {"strategy": "canary", "steps": [50, 100], "bake": "1s", "grace": "0s"}
            judged.call("POST", "/v1/rollouts", {"service": SERVICE, "version": "v2", **plan})

            # Given v2 passed its 50% step and the rollout took v1 out
            def v1_out() -> None:
                assert activation(judged, "v1") == "inactive"

            eventually(v1_out, timeout=60, interval=0.2)
            # When v2, now alone, starts failing
            v2.error_rate = 0.3

            # Then that last step is judged, fails, and the rollout puts v1 back
            def rolled_back() -> dict[str, Any]:
                status: dict[str, Any] = judged.call("GET", f"/v1/rollouts/{SERVICE}")
                assert status["state"] == "rolled_back", status["next"]
                return status

            eventually(rolled_back, timeout=40, interval=0.2)
            [out] = [
                e
                for e in judged.history()
                if e["event"]["kind"] == "activation_changed"
                and e["event"]["instance_id"] == "v1"
                and e["event"]["after"]["state"] == "inactive"
            ]
            [step_verdict] = [v for v in verdicts(judged, "v1") if v["change_seq"] == out["seq"]]
            assert step_verdict["verdict"]["outcome"] == "fail"
            assert "the replaced version's" in step_verdict["verdict"]["reason"]
            assert activation(judged, "v1") == "live"
            serves(url, "v1")


def test_an_undecided_step_is_recorded_and_judged_on_across_a_restart(
    judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    judged.service(SERVICE, slo={"success_rate": 95, "latency_p99_ms": 1000})
    with upstream("v1") as v1, upstream("v2") as v2:
        judged.instance(SERVICE, "v1", v1.address, version="v1")
        judged.instance(SERVICE, "v2", v2.address, version="v2")
        judged.live("v1", 100)
        _, url = connect_envoy(judged, start_envoy, "proxy-1", delta=False)
        serves(url, "v1")
        with SteadyLoad(url, SERVICE, rps=20):
            # Given a 5% step too small to decide within its 4 s
            plan = {"strategy": "canary", "steps": [5, 100], "bake": "1s", "decide_within": "4s"}
            judged.call("POST", "/v1/rollouts", {"service": SERVICE, "version": "v2", **plan})

            def recorded_undecided() -> dict[str, Any]:
                found = verdicts(judged, "v2")
                assert len(found) == 1, found
                return found[0]

            undecided = eventually(recorded_undecided, timeout=30, interval=0.2)
            assert undecided["verdict"]["outcome"] == "inconclusive"
            assert undecided["verdict"]["reason"].startswith("no decision within 4 s")
            status = judged.call("GET", f"/v1/rollouts/{SERVICE}")
            assert "no verdict on change" in status["next"]["why"], status["next"]

            # When weir restarts, and the candidate then fails most requests
            judged.kill9()
            judged.start()
            v2.error_rate = 0.8

            # Then the change is judged on and fails, and the rollout is rolled back
            def failed() -> None:
                assert [v["verdict"]["outcome"] for v in verdicts(judged, "v2")] == [
                    "inconclusive",
                    "fail",
                ]

            eventually(failed, timeout=40, interval=0.2)
            eventually(
                lambda: judged.call("GET", f"/v1/rollouts/{SERVICE}")["state"] == "rolled_back",
                timeout=10,
                interval=0.2,
            )


def test_one_services_nan_series_holds_only_its_own_verdicts(
    tmp_path: Path, start_envoy: StartEnvoy
) -> None:
    with ExitStack() as stack:
        # weir reads PromQL from a front over the real Envoy's admin, where web's series are NaN
        front = stack.enter_context(PrometheusFront(poisoned="web--"))
        weir = stack.enter_context(
            WeirServer(tmp_path, options=("--stats", "promql", "--prometheus", front.url))
        )
        a, b = stack.enter_context(upstream("a")), stack.enter_context(upstream("b"))
        c, d = stack.enter_context(upstream("c")), stack.enter_context(upstream("d", 0.5))
        for service, old, new in (("web", a, b), ("api", c, d)):
            weir.service(service)
            weir.instance(service, old.instance_id, old.address, version="v1")
            weir.instance(service, new.instance_id, new.address, version="v2")
            weir.live(old.instance_id, 90)
        envoy, url = connect_envoy(weir, start_envoy, "proxy-1", delta=False)
        front.admin = envoy.admin_url
        for host in ("web", "api"):
            stack.enter_context(SteadyLoad(url, host, rps=50))
        time.sleep(2)
        # When both services get a canary, api's failing half its requests
        weir.live("b", 10)
        weir.live("d", 10)

        # Then api's is judged and rolled back, whatever web's stats say
        eventually(lambda: activation(weir, "d") == "inactive", timeout=40, interval=0.2)
        # and web's, whose series are NaN, is held: inconclusive, saying why, and not recorded
        verdict = open_verdict(weir, "b")
        assert verdict is not None and verdict["outcome"] == "inconclusive", verdict
        assert "rejected" in verdict["reason"] and "is NaN" in verdict["reason"], verdict
        assert verdicts(weir, "b") == []
