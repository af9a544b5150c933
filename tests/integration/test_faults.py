"""Faults of the controller itself, injected while traffic and changes flow.

- the controller is killed and stays down for a while under steady load: Envoy serves every
  request from the configuration it holds, and re-syncs when the controller is back;
- the controller is killed with SIGKILL in the middle of a burst of changes: every change the
  API acknowledged is in the ledger after a restart, and the sequence has no gap.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from controlplane.harness import SteadyLoad
from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, register, serves
from tests.integration._weir import WeirServer
from tests.support import eventually

OUTAGE_S = 3.0
RPS = 200


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_a_controller_down_for_a_while_under_load_fails_no_request(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream, delta: bool
) -> None:
    # Given a serving mesh under steady load
    register(weir, start_upstream, "a", "b")
    weir.live("a", 1)
    _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=delta)
    serves(url, "a")
    types = 4 if delta else 3  # delta proxies also take virtual hosts, by VHDS
    acked = eventually(
        lambda: weir.proxies()[0]["acked"] if len(weir.proxies()[0]["acked"]) == types else None
    )
    with SteadyLoad(url, SERVICE, rps=RPS) as load:
        time.sleep(0.5)
        # When the controller is killed and stays down
        weir.kill9()
        down_since = load.total
        time.sleep(OUTAGE_S)
        served_while_down = load.total - down_since
        # and comes back on the same store
        weir.start()
        # Then Envoy re-syncs to the very same versions
        eventually(
            lambda: [(p["node_id"], p["acked"]) for p in weir.proxies()] == [("proxy-1", acked)],
            timeout=20,
        )
        # and a change made after the restart reaches the traffic
        weir.live("b", 1)
        weir.inactive("a")
        eventually(lambda: load.bodies["b"] >= 20, timeout=10)

    # No request failed at any point: before, during and after the outage
    assert served_while_down >= RPS * OUTAGE_S * 0.5
    assert set(load.outcomes) == {"200"}, load.outcomes
    assert load.bodies["a"] > 0 and load.bodies["b"] > 0


def test_every_acknowledged_change_survives_a_kill_during_a_burst(
    weir: WeirServer, start_upstream: StartUpstream
) -> None:
    # Given a service with an instance, and a writer flipping its weight as fast as it can
    register(weir, start_upstream, "a")
    weir.live("a", 1)
    acknowledged: list[int] = []
    stop = threading.Event()

    def burst() -> None:
        with httpx.Client(
            base_url=weir.api_url, headers=weir.headers, timeout=2.0, trust_env=False
        ) as api:
            for round_ in range(100_000):
                if stop.is_set():
                    return
                body = {"state": "live", "weight": 1 + round_ % 7}
                try:
                    response = api.post("/v1/instances/a/activation", json=body)
                except httpx.TransportError:
                    return  # the controller died: what was not answered was not acknowledged
                if response.status_code == 200:
                    acknowledged.append(response.json()["seq"])

    writer = threading.Thread(target=burst, daemon=True)
    writer.start()
    # When the controller is killed with SIGKILL mid-burst
    eventually(lambda: len(acknowledged) >= 30, timeout=20)
    weir.kill9()
    stop.set()
    writer.join(timeout=10)

    # Then after a restart every acknowledged change is in the ledger, with no gap
    weir.start()
    seqs = [entry["seq"] for entry in weir.history()]
    assert seqs == list(range(1, len(seqs) + 1))
    assert set(acknowledged) <= set(seqs)
    assert len(acknowledged) >= 30
