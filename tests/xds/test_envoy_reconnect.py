"""A real Envoy against the in-process server with a short maximum connection age: the server
sends GOAWAY when the connection is old, Envoy opens a new ADS stream, and its listener serves
every request meanwhile — which is what lets a fleet rebalance across replicas unnoticed."""

from __future__ import annotations

import asyncio
import threading

from controlplane.bootstrap import render_bootstrap
from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec
from controlplane.xds import XdsLimits
from tests.conftest import StartEnvoy, StartUpstream
from tests.support import Replies, eventually, free_port, http_get, send_requests
from tests.xds._server import serving

AGE = XdsLimits(max_connection_age_s=1.0, max_connection_age_grace_s=0.5)
MAX_BATCHES = 3000


def plane_routing_to(address: str) -> Controller:
    plane = Controller(SqliteStore(":memory:"))
    plane.apply_service(ServiceSpec(name="web"), actor="test")
    plane.add_instance(Instance(id="a", service="web", version="v1", address=address), actor="t")
    plane.change("a", Activation.live(1), actor="test")
    return plane


async def test_envoy_reconnects_when_its_connection_ages_out_and_serves_throughout(
    start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    upstream = start_upstream("a")
    async with serving(plane_routing_to(upstream.address), limits=AGE) as (xds, address):
        listen = f"127.0.0.1:{free_port()}"
        bootstrap = render_bootstrap(
            "edge", "test", xds=address, listen=listen, admin=f"127.0.0.1:{free_port()}"
        )
        envoy = await asyncio.to_thread(start_envoy, bootstrap)
        url = f"http://{listen}/"

        # Given Envoy serves from its first ADS stream
        def served() -> None:
            assert http_get(url, "web", timeout=1.0).body == "a"

        await asyncio.to_thread(eventually, served, retry_on=(AssertionError, OSError))
        [first] = [p.stream_id for p in xds.registry.proxies()]

        # When its connection passes the maximum age (1 s ±10%, then 0.5 s of grace), while
        # requests keep flowing
        stop = threading.Event()

        def load() -> Replies:
            replies = Replies()
            for _ in range(MAX_BATCHES):  # bounded: about a minute at the worst
                replies.update(send_requests(url, 20, "web"))
                if stop.is_set():
                    break
            return replies

        flowing = asyncio.create_task(asyncio.to_thread(load))

        def reconnected() -> None:
            assert [p.node_id for p in xds.registry.proxies()] == ["edge"]
            assert xds.registry.proxies()[0].stream_id > first

        await asyncio.to_thread(eventually, reconnected)
        stop.set()
        replies = await flowing

        # Then it is on a new stream, connected, and no request failed on the way
        assert set(replies.statuses()) == {200}
        assert replies.bodies() == {"a": replies.total()}
        assert envoy.stats()["control_plane.connected_state"] == 1


async def test_a_stream_keeps_the_proxys_node_without_its_extension_list(
    start_envoy: StartEnvoy, start_upstream: StartUpstream
) -> None:
    upstream = start_upstream("a")
    async with serving(plane_routing_to(upstream.address)) as (xds, address):
        listen = f"127.0.0.1:{free_port()}"
        bootstrap = render_bootstrap(
            "edge", "test", xds=address, listen=listen, admin=f"127.0.0.1:{free_port()}"
        )
        await asyncio.to_thread(start_envoy, bootstrap)

        # When a real Envoy has connected
        await asyncio.to_thread(eventually, lambda: len(xds.streams()) == 1)
        [stream] = xds.streams()

        # Then its stream keeps who the proxy is, for CSDS and `weir proxies`
        node = stream.node
        assert (node.id, node.cluster) == ("edge", "test")
        assert "weir_listen" in node.metadata.fields
        assert node.user_agent_name == "envoy"
        # but not the list of every extension built into Envoy (61 KB of its 61 KB node)
        assert len(node.extensions) == 0
        assert node.ByteSize() < 2048
