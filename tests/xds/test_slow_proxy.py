"""A proxy that stops reading its stream costs the others nothing and the server little: over
real gRPC on loopback, a fast proxy gets every new version while a slow one's write waits on
its full HTTP/2 flow-control window, and the slow one, when it reads again, is handed the
latest state, not the versions it missed."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.service.discovery.v3 import discovery_pb2

from controlplane.control import Controller
from controlplane.model import Instance, InstanceRegistered, ProposedEntry
from controlplane.resources import CLUSTER_TYPE, build_resources
from controlplane.xds import XdsServer
from tests.support import until
from tests.xds._client import AdsClient
from tests.xds._fixtures import add, cluster_names, controller
from tests.xds._server import serving

INSTANCES = 3000
"""About 190 KB of clusters: three times the 64 KB window the slow client announces."""
CHANGES = 10
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0)]
"""Without BDP probing gRPC keeps the HTTP/2 default window (64 KB), which the snapshot fills;
with it the window grows to megabytes and the test would need a far larger mesh."""


def big_plane() -> Controller:
    plane = controller(("a", 1))
    plane.submit(
        [
            ProposedEntry(
                actor="test",
                event=InstanceRegistered(
                    instance=Instance(
                        id=f"big{i}",
                        service="web",
                        version="v1",
                        address=f"10.0.{i // 250}.{i % 250}:8080",
                    )
                ),
            )
            for i in range(INSTANCES)
        ]
    )
    return plane


class Proxy:
    """One ADS client, SotW or delta, subscribed to clusters."""

    def __init__(self, client: AdsClient, delta: bool) -> None:
        self.client = client
        self.delta = delta
        self.received: list[set[str]] = []
        """The cluster names each response carried (delta: only the changed ones)."""

    def subscribe(self) -> None:
        request = (
            discovery_pb2.DeltaDiscoveryRequest if self.delta else discovery_pb2.DiscoveryRequest
        )
        self.client.send(request(type_url=CLUSTER_TYPE))

    async def take(self) -> set[str]:
        """Read one cluster response and ACK it."""
        response: Any = await self.client.receive()
        assert response.type_url == CLUSTER_TYPE
        if self.delta:
            names = set(cluster_names([r.resource for r in response.resources]))
            ack = discovery_pb2.DeltaDiscoveryRequest(
                type_url=CLUSTER_TYPE, response_nonce=response.nonce
            )
            self.client.send(ack)
        else:
            names = set(cluster_names(list(response.resources)))
            self.client.ack(response)
        self.received.append(names)
        return names


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_a_proxy_that_stops_reading_delays_nobody_and_gets_only_the_latest(
    delta: bool,
) -> None:
    plane = big_plane()
    assert sum(len(c.payload) for c in build_resources(plane.state).clusters.values()) > 3 * 64_000
    xds: XdsServer
    async with (
        serving(plane) as (xds, address),
        AdsClient(address, "fast", delta=delta) as fast_client,
        AdsClient(address, "slow", delta=delta, options=SMALL_WINDOW) as slow_client,
    ):
        fast, slow = Proxy(fast_client, delta), Proxy(slow_client, delta)
        # Given a slow proxy that subscribes and then does not read: its first response is
        # held back by its full flow-control window
        slow.subscribe()
        await until(lambda: "slow" in xds.writing())
        fast.subscribe()
        assert len(await fast.take()) == INSTANCES + 1

        # When the ledger moves on, change by change
        for n in range(CHANGES):
            add(plane, f"new{n}", port=20000 + n)
            while f"web--new{n}" not in await fast.take():
                pass  # a change may come coalesced with the next

            # Then the fast proxy has each one while the slow one is still stalled
            assert "slow" in xds.writing()

        # And the slow proxy, reading again, gets the held response, then straight the latest
        assert len(await slow.take()) == INSTANCES + 1
        assert {f"web--new{n}" for n in range(CHANGES)} <= await slow.take()
        assert len(slow.received) == 2  # not the versions in between
        assert len(fast.received) > CHANGES // 2
        await until(lambda: "slow" not in xds.writing())
