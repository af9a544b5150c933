"""kill -9 of the controller: Envoy keeps serving, the ledger keeps every change, and after a
restart on the same store Envoy reconnects and takes new changes."""

from __future__ import annotations

import pytest

from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, register, serves
from tests.integration._weir import WeirServer
from tests.support import eventually, send_requests


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_envoy_survives_a_killed_controller_and_resyncs_after_restart(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream, delta: bool
) -> None:
    # Given a serving mesh and its history
    register(weir, start_upstream, "a", "b")
    weir.live("a", 1)
    _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=delta)
    serves(url, "a")
    history = weir.history()
    instances = weir.call("GET", "/v1/instances")
    types = 4 if delta else 3  # delta proxies also take virtual hosts, by VHDS
    acked = eventually(
        lambda: weir.proxies()[0]["acked"] if len(weir.proxies()[0]["acked"]) == types else None
    )

    # When the controller is killed with SIGKILL
    weir.kill9()

    # Then Envoy keeps serving from the config it holds
    assert send_requests(url, 200, SERVICE).statuses() == {200: 200}

    # When weir restarts on the same store
    weir.start()

    # Then the history and state are identical, and Envoy comes back
    assert weir.history() == history
    assert weir.call("GET", "/v1/instances") == instances
    # with the very same resource versions: the same state gives byte-identical resources
    eventually(
        lambda: [(p["node_id"], p["acked"]) for p in weir.proxies()] == [("proxy-1", acked)],
        timeout=20,
    )

    # and takes new changes
    weir.live("b", 1)
    weir.inactive("a")
    serves(url, "b")
    assert send_requests(url, 200, SERVICE).bodies() == {"b": 200}
