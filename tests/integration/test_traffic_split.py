"""Activation states become traffic shares in a real Envoy, over SotW and delta ADS alike."""

from __future__ import annotations

import pytest

from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, register, serves, within_4_sd
from tests.integration._weir import WeirServer
from tests.support import eventually, send_requests

N = 2000


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_weights_split_live_traffic_and_shadow_gets_mirrored_copies(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream, delta: bool
) -> None:
    # Given a, b live at 80/20 and c in shadow at 50%, behind a real Envoy
    up = register(weir, start_upstream, "a", "b", "c")
    weir.live("a", 80)
    weir.live("b", 20)
    weir.shadow("c", 50)
    _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=delta)
    serves(url, "a", "b")
    for upstream in up.values():
        upstream.reset()

    # When 2,000 requests pass through it
    replies = send_requests(url, N, SERVICE)

    # Then they split 80/20, every caller got a live instance's answer, never the shadow's
    assert replies.statuses() == {200: N}
    bodies = replies.bodies()
    assert set(bodies) == {"a", "b"}
    assert within_4_sd(bodies["a"], N, 0.8), bodies
    # and the shadow received about half of them as mirrored copies, none as real traffic
    # (mirrored copies are sent asynchronously, so the last few may still be on their way)
    eventually(lambda: within_4_sd(up["c"].counts().mirrored, N, 0.5))
    assert up["c"].counts().primary == 0

    # When the weights change to 20/80, the new weights serve
    weir.live("a", 20)
    weir.live("b", 80)

    def split_flipped() -> None:
        sample = send_requests(url, 400, SERVICE).bodies()
        assert within_4_sd(sample["b"], 400, 0.8), sample

    eventually(split_flipped, timeout=10)
    bodies = send_requests(url, N, SERVICE).bodies()
    assert within_4_sd(bodies["b"], N, 0.8), bodies
