"""Connection hygiene of the xDS port, over real gRPC on loopback: a bad or greedy client
ends only its own stream, and everybody else keeps being served."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from envoy.service.discovery.v3 import discovery_pb2

from controlplane.control import Controller
from controlplane.resources import CLUSTER_TYPE, LISTENER_TYPE
from controlplane.xds import XdsLimits
from controlplane.xds._limits import peer_host
from tests.support import until
from tests.xds._client import AdsClient
from tests.xds._fixtures import add, cluster_names, controller
from tests.xds._server import serving

ADS = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
WEIR = str(Path(sys.executable).parent / "weir")
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


@pytest.fixture
def plane() -> Controller:
    return controller(("a", 1))


async def subscribed(client: AdsClient) -> list[str]:
    """Subscribe to clusters, ACK the answer; the cluster names it held."""
    client.send(discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE))
    response = await client.receive()
    client.ack(response)
    return cluster_names(list(response.resources))


async def still_served(plane: Controller, new: str, *clients: AdsClient) -> None:
    """A change to the ledger still reaches every one of `clients`."""
    add(plane, new)
    for client in clients:
        response = await client.receive()
        assert response.type_url == CLUSTER_TYPE
        assert f"web--{new}" in cluster_names(list(response.resources))
        client.ack(response)


async def refused(client: AdsClient) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.receive()
    return raised.value


async def test_a_5_mib_request_ends_its_stream_and_not_its_neighbour_on_the_channel(
    plane: Controller,
) -> None:
    async with (
        serving(plane) as (xds, address),
        grpc.aio.insecure_channel(address) as channel,
        AdsClient(address, "greedy", channel=channel) as greedy,
        AdsClient(address, "polite", channel=channel) as polite,
    ):
        assert await subscribed(greedy) == ["web--a"]
        assert await subscribed(polite) == ["web--a"]

        greedy.send(
            discovery_pb2.DiscoveryRequest(
                type_url=CLUSTER_TYPE, resource_names=["x" * (5 * 1024 * 1024)]
            )
        )
        error = await refused(greedy)

        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in (error.details() or "")
        await still_served(plane, "b", polite)
        assert [p.node_id for p in xds.registry.proxies()] == ["polite"]


async def test_garbage_bytes_end_their_stream_with_invalid_argument(plane: Controller) -> None:
    async with (
        serving(plane) as (xds, address),
        grpc.aio.insecure_channel(address) as channel,
        AdsClient(address, "polite", channel=channel) as polite,
    ):
        assert await subscribed(polite) == ["web--a"]
        garbage = channel.stream_stream(ADS)(iter([b"\xff\xff\xff\xff not protobuf"]))

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await garbage.read()

        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid discovery request" in (raised.value.details() or "")
        await still_served(plane, "b", polite)
        assert [p.node_id for p in xds.registry.proxies()] == ["polite"]


@pytest.mark.parametrize(
    ("node_id", "type_url", "message"),
    [
        ("", CLUSTER_TYPE, "must carry node.id"),
        ("bad\nname", CLUSTER_TYPE, "printable characters"),
        ("n" * 2000, CLUSTER_TYPE, "at most 1024"),
        ("proxy", "", "must carry type_url"),
    ],
)
async def test_a_bad_first_request_is_refused_with_a_message(
    plane: Controller, node_id: str, type_url: str, message: str
) -> None:
    async with serving(plane) as (xds, address), AdsClient(address, node_id) as client:
        client.send(discovery_pb2.DiscoveryRequest(type_url=type_url))

        error = await refused(client)

        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in (error.details() or "")
        assert xds.registry.proxies() == []


async def test_an_unknown_type_is_ignored_and_the_stream_keeps_its_clusters(
    plane: Controller,
) -> None:
    async with serving(plane) as (xds, address), AdsClient(address, "proxy") as client:
        client.send(discovery_pb2.DiscoveryRequest(type_url=SECRET_TYPE, resource_names=["k"]))
        assert await subscribed(client) == ["web--a"]  # the secret got no answer

        await still_served(plane, "b", client)
        assert [p.node_id for p in xds.registry.proxies()] == ["proxy"]


async def test_inventing_unknown_types_costs_the_server_no_memory_and_no_log_flood(
    plane: Controller, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(plane) as (xds, address), AdsClient(address, "inventive") as client:
        assert await subscribed(client) == ["web--a"]
        for n in range(200):
            client.send(discovery_pb2.DiscoveryRequest(type_url=f"type.googleapis.com/x.T{n}"))
        client.send(discovery_pb2.DiscoveryRequest(type_url=LISTENER_TYPE))

        # requests are read in order, so the listener's answer means all 200 were read
        assert (await client.receive()).type_url == LISTENER_TYPE
        ignored = [r for r in caplog.records if "which weir does not serve" in r.getMessage()]
        assert len(ignored) == 16
        assert [p.node_id for p in xds.registry.proxies()] == ["inventive"]


async def test_streams_beyond_the_per_address_cap_are_refused_and_the_others_go_on(
    plane: Controller,
) -> None:
    async with (
        serving(plane, limits=XdsLimits(streams_per_peer=2)) as (xds, address),
        AdsClient(address, "one") as one,
        AdsClient(address, "two") as two,
    ):
        assert await subscribed(one) == await subscribed(two) == ["web--a"]
        async with AdsClient(address, "three") as three:
            # Refused on opening, before any request: sending one would race the refusal.
            error = await refused(three)

        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.details() == (
            "127.0.0.1 already holds 2 xDS streams, the most weir accepts from one address"
        )
        await still_served(plane, "b", one, two)
        await two.close()
        await until(lambda: [p.node_id for p in xds.registry.proxies()] == ["one"])
        async with AdsClient(address, "four") as four:  # a freed place is taken again
            assert await subscribed(four) == ["web--a", "web--b"]


async def test_an_aged_connection_is_closed_and_the_proxy_can_reconnect(
    plane: Controller,
) -> None:
    limits = XdsLimits(max_connection_age_s=0.2, max_connection_age_grace_s=0.2)
    async with serving(plane, limits=limits) as (xds, address):
        async with AdsClient(address, "proxy") as client:
            assert await subscribed(client) == ["web--a"]
            error = await refused(client)  # within age +10% + grace, well inside the timeout
            assert error.code() == grpc.StatusCode.UNAVAILABLE
        await until(lambda: xds.registry.proxies() == [])
        async with AdsClient(address, "proxy") as again:
            assert await subscribed(again) == ["web--a"]


async def test_weir_serve_takes_the_per_address_cap_from_its_command_line(
    tmp_path: Path,
) -> None:
    serve = subprocess.Popen(
        [WEIR, "serve", "--store", str(tmp_path / "weir.db"), "--xds", "127.0.0.1:0",
         "--api", "127.0.0.1:0", "--compare", "127.0.0.1:0", "--stats", "off",
         "--xds-streams-per-peer", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert serve.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(serve.stdout.readline), 30)
        address = line.split()[4]  # "weir serving xDS on HOST:PORT and the API on ..."
        async with AdsClient(address, "one") as one:
            one.send(discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE))
            assert (await one.receive()).type_url == CLUSTER_TYPE
            async with AdsClient(address, "two") as two:  # opened once "one" is served
                error = await refused(two)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "already holds 1 xDS streams" in (error.details() or "")
    finally:
        serve.terminate()
        serve.wait(timeout=15)
        if serve.stdout is not None:
            serve.stdout.close()


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:10.0.0.7:51234", "10.0.0.7"),
        ("ipv6:[::1]:51234", "::1"),
        ("ipv6:[2001:db8::5]:443", "2001:db8::5"),
        ("unix:/run/weir.sock", "unix:/run/weir.sock"),
    ],
)
def test_streams_are_counted_per_client_address_not_per_connection(peer: str, host: str) -> None:
    assert peer_host(peer) == host
