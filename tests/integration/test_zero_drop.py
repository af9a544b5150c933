"""Make-before-break: changing instances under steady traffic fails no request."""

from __future__ import annotations

import time

import pytest

from controlplane.harness import SteadyLoad
from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, register, serves
from tests.integration._weir import WeirServer
from tests.support import eventually

PAUSE_S = 0.3  # let some traffic pass between changes


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_add_reweight_deactivate_retire_under_load_drops_nothing(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream, delta: bool
) -> None:
    # Given one live instance serving steady traffic through a real Envoy
    register(weir, start_upstream, "a")
    weir.live("a", 1)
    _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=delta)
    serves(url, "a")

    with SteadyLoad(url, SERVICE) as load:
        # When instances come and go, each change right after the last
        register(weir, start_upstream, "b", "c", by_name=True)
        weir.live("b", 1)  # added and made live at once: its cluster must come first
        weir.live("a", 3)
        weir.shadow("c", 100)
        time.sleep(PAUSE_S)
        weir.inactive("a")
        weir.retire("a")  # retired right after: its cluster must outlive the route naming it
        weir.live("c", 2)
        time.sleep(PAUSE_S)
        weir.inactive("b")
        weir.retire("b")
        eventually(lambda: load.bodies["c"] > 50)

    # Then every request succeeded, and traffic reached each instance in turn
    assert load.total > 100, load.outcomes  # back to back: a busy machine sends fewer
    assert set(load.outcomes) == {"200"}, load.outcomes
    assert {"a", "b", "c"} <= set(load.bodies), load.bodies
