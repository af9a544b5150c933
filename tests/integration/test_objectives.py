"""Business objectives against a real Envoy: the instances report each request's outcome in a
response header, Envoy logs it to weir over its gRPC access log and strips it from the answer,
and an instance that answers 200 but takes half as many orders is rolled back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from controlplane.harness import SteadyLoad, Upstream
from tests.conftest import StartEnvoy
from tests.integration._mesh import SERVICE, connect_envoy, serves
from tests.integration._weir import WeirServer
from tests.integration.test_evaluator import weir_cli
from tests.support import eventually

RPS = 100
ORDERS = {
    "name": "orders",
    "kind": "ratio",
    "better": "higher",
    "value_per_unit": 30,
    "tolerance": "2%",
    "source": {"header": "order"},
}


def shop(instance_id: str, order_rate: float) -> Upstream:
    return Upstream(instance_id, order_rate=order_rate, seed=11)


def instance_state(server: WeirServer, instance_id: str) -> str:
    [found] = [i for i in server.call("GET", "/v1/instances") if i["instance"]["id"] == instance_id]
    state: str = found["activation"]["state"]
    return state


def test_an_instance_taking_half_the_orders_is_rolled_back_and_a_healthy_one_stays(
    tmp_path: Path, start_envoy: StartEnvoy
) -> None:
    with WeirServer(tmp_path, options=("--stats", "push")) as weir:
        weir.service(
            SERVICE,
            objectives=[ORDERS],
            risk={"value_per_request": 0.01, "cost_per_failed_request": 0.05},
        )
        with shop("a", 0.6) as a, shop("half", 0.3) as half, shop("good", 0.6) as good:
            for u in (a, half, good):
                weir.instance(SERVICE, u.instance_id, u.address)
            weir.live("a", 80)
            _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=False)
            serves(url, "a")
            # The instance does send the header; the caller never sees it.
            direct = httpx.get(f"http://{a.address}/", trust_env=False)
            assert direct.headers["x-weir-outcome"] in ("order=0", "order=1")
            through = httpx.get(url, headers={"Host": SERVICE}, trust_env=False)
            assert through.status_code == 200 and "x-weir-outcome" not in through.headers

            with SteadyLoad(url, SERVICE, rps=RPS):
                # When an instance answering 200 to everything but ordering half as often, and a
                # healthy one, go live at weight 10 each under steady load
                started = time.monotonic()
                weir.live("half", 10)
                weir.live("good", 10)

                # Then the evaluator deactivates the one that takes fewer orders
                eventually(
                    lambda: _assert(instance_state(weir, "half") == "inactive"),
                    timeout=90,
                    interval=0.5,
                )
                took = time.monotonic() - started
                # and the healthy one is still live after as long again
                time.sleep(min(took, 30))
                assert instance_state(weir, "good") == "live"
            for _ in range(20):  # no answer through Envoy carries the outcome header
                reply = httpx.get(url, headers={"Host": SERVICE}, trust_env=False)
                assert "x-weir-outcome" not in reply.headers

        history = weir.history()
        [verdict_entry] = [
            e
            for e in history
            if e["event"]["kind"] == "verdict_recorded" and e["event"]["instance_id"] == "half"
        ]
        verdict = verdict_entry["event"]["verdict"]
        assert verdict["outcome"] == "fail" and verdict["candidate"]["errors"] == 0
        [orders] = verdict["objectives"]
        assert orders["name"] == "orders" and orders["outcome"] == "harm"
        assert orders["effect"] < -0.2 and orders["low"] < orders["effect"] < orders["high"]
        assert orders["high"] < -0.02  # beyond the tolerance
        assert orders["candidate"]["requests"] > 0 and orders["baseline"]["requests"] > 0
        assert verdict["value"]["per_hour"] < 0 and verdict["value"]["high"] < 0
        [rollback] = [
            e
            for e in history
            if e["actor"] == "evaluator" and e["event"]["kind"] == "activation_changed"
        ]
        assert rollback["event"]["instance_id"] == "half"
        assert "orders/request" in rollback["reason"]

        shown = weir_cli(weir, "history", SERVICE)
        assert shown.returncode == 0, shown.stderr
        assert "orders/request \u2212" in shown.stdout and "harm" in shown.stdout
        assert "value lost" in shown.stdout


def _assert(condition: bool) -> None:
    assert condition
