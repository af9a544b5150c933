"""An operator forcing a weight mid-canary, behind a real Envoy: the forced weight is what
Envoy routes, and the rollout's driver, paused in the same batch, does not undo it."""

from __future__ import annotations

import time

from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._mesh import SERVICE, connect_envoy, serves, within_4_sd
from tests.integration._weir import WeirServer
from tests.support import eventually, send_requests

N = 400
DRIVER_TICKS_S = 2.0
"""Long enough for the bake (1 s) and several ticks of the server's driver (every 0.5 s)."""


def test_a_forced_weight_is_routed_and_the_paused_rollout_leaves_it(
    weir: WeirServer, start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    # Given old (v1, weight 90) and new (v2) behind a real Envoy, a canary at step 1 (10%)
    for instance_id, version in (("old", "v1"), ("new", "v2")):
        weir.instance(SERVICE, instance_id, start_upstream(instance_id).address, version=version)
    weir.live("old", 90)
    _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=False)
    serves(url, "old")
    plan = {"steps": [10, 50, 100], "bake": "1s", "grace": "0s"}
    weir.call("POST", "/v1/rollouts", {"service": SERVICE, "version": "v2", **plan})
    eventually(lambda: weir.call("GET", f"/v1/rollouts/{SERVICE}")["step"] == 1)

    # When an operator's change to the canary is refused, then forced to 75% of traffic
    refused = weir.api.post("/v1/instances/new/activation", json={"state": "live", "weight": 270})
    assert refused.status_code == 409, refused.text
    assert "controlled by rollout web/1" in refused.json()["error"]
    forced = weir.call(
        "POST",
        "/v1/instances/new/activation",
        {"state": "live", "weight": 270, "force": True, "reason": "drain v1 for maintenance"},
    )
    assert forced["rollout_paused"]["event"]["rollout_id"] == "web/1"
    # and the step is promoted, which would send an unpaused rollout to 50% at once
    weir.call("POST", f"/v1/rollouts/{SERVICE}/promote", {})
    time.sleep(DRIVER_TICKS_S)

    # Then the ledger ends with the operator's entries, the rollout holds, paused
    last = weir.history()[-1]
    assert last["event"]["kind"] == "rollout_promoted", last
    status = weir.call("GET", f"/v1/rollouts/{SERVICE}")
    assert (status["state"], status["step"]) == ("paused", 1), status
    # and Envoy routes the forced weights: 75% to new (the driver's next step would be 50%)
    eventually(lambda: all(p["in_sync"] for p in weir.proxies()))
    bodies = send_requests(url, N, SERVICE).bodies()
    assert within_4_sd(bodies["new"], N, 0.75), bodies
