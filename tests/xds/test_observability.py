"""Metrics and CSDS of the in-process xDS server, spoken to by a gRPC client on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from envoy.admin.v3 import config_dump_shared_pb2 as dump
from envoy.config.cluster.v3 import cluster_pb2
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.status.v3 import csds_pb2, csds_pb2_grpc
from prometheus_client import CollectorRegistry

from controlplane.control import Controller
from controlplane.model import Activation
from controlplane.resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from controlplane.xds import XdsServer
from tests.support import until
from tests.xds._client import AdsClient
from tests.xds._fixtures import add, controller

Sample = Callable[..., float]


@pytest.fixture
def plane() -> Controller:
    return controller(("a", 1))


@pytest.fixture
def metrics() -> CollectorRegistry:
    return CollectorRegistry()


_ADDRESSES: dict[int, str] = {}


@pytest.fixture
async def server(plane: Controller, metrics: CollectorRegistry) -> AsyncIterator[XdsServer]:
    xds = XdsServer(plane, metrics=metrics)
    _ADDRESSES[id(xds)] = f"127.0.0.1:{await xds.start('127.0.0.1:0')}"
    yield xds
    await xds.stop(0)
    del _ADDRESSES[id(xds)]


def address(server: XdsServer) -> str:
    return _ADDRESSES[id(server)]


def sample(metrics: CollectorRegistry) -> Sample:
    def value(name: str, **labels: str) -> float:
        return metrics.get_sample_value(name, labels) or 0.0

    return value


async def csds(server: XdsServer, **request: object) -> csds_pb2.ClientStatusResponse:
    async with grpc.aio.insecure_channel(address(server)) as channel:
        stub = csds_pb2_grpc.ClientStatusDiscoveryServiceStub(channel)
        reply: csds_pb2.ClientStatusResponse = await stub.FetchClientStatus(
            csds_pb2.ClientStatusRequest(**request)
        )
        return reply


async def sync_clusters_and_listener(client: AdsClient) -> list[discovery_pb2.DiscoveryResponse]:
    """Subscribe to clusters and listeners and ACK both responses."""
    out = []
    for type_url in (CLUSTER_TYPE, LISTENER_TYPE):
        client.send(discovery_pb2.DiscoveryRequest(type_url=type_url))
        response = await client.receive()
        client.ack(response)
        out.append(response)
    return out


async def test_pushes_bytes_acks_and_convergence_are_counted(
    server: XdsServer, metrics: CollectorRegistry
) -> None:
    value = sample(metrics)
    async with AdsClient(address(server), "proxy-1") as client:
        sent = await sync_clusters_and_listener(client)
        await until(lambda: value("weir_xds_acks_total", type="listeners") == 1)

        assert value("weir_xds_responses_total", type="clusters", protocol="sotw") == 1
        assert value("weir_xds_response_bytes_total", type="clusters", protocol="sotw") == (
            sent[0].ByteSize()
        )
        assert value("weir_xds_acks_total", type="clusters") == 1
        assert value("weir_xds_nacks_total", type="clusters") == 0
        assert value("weir_xds_convergence_seconds_count", type="clusters") == 1
        assert 0 < value("weir_xds_convergence_seconds_sum", type="clusters") < 5
        assert value("weir_xds_stream_duration_seconds_count", protocol="sotw") == 0

    await until(lambda: value("weir_xds_stream_duration_seconds_count", protocol="sotw") == 1)


async def test_a_nack_is_counted_and_reported_by_csds(
    server: XdsServer, metrics: CollectorRegistry
) -> None:
    value = sample(metrics)
    async with AdsClient(address(server), "proxy-bad") as client:
        client.send(discovery_pb2.DiscoveryRequest(type_url=LISTENER_TYPE))
        client.nack(await client.receive(), "cannot bind 127.0.0.1:1")
        await until(lambda: value("weir_xds_nacks_total", type="listeners") == 1)

        (config,) = (await csds(server)).config

    (listener,) = [c for c in config.generic_xds_configs if c.type_url == LISTENER_TYPE]
    assert listener.config_status == csds_pb2.ERROR
    assert listener.client_status == dump.NACKED
    assert listener.error_state.details == "cannot bind 127.0.0.1:1"
    assert value("weir_xds_acks_total", type="listeners") == 0
    assert value("weir_xds_convergence_seconds_count", type="listeners") == 0
    assert [p.nacks for p in server.registry.proxies()] == [1]
    assert server.registry.proxies()[0].behind_since is not None  # never caught up


async def test_csds_reports_each_acked_resource_with_its_contents(server: XdsServer) -> None:
    async with AdsClient(address(server), "proxy-1") as client:
        sent = await sync_clusters_and_listener(client)
        await until(lambda: len(server.registry.proxies()[0].acked) == 2)

        (config,) = (await csds(server)).config

    assert config.node.id == "proxy-1"
    by_type = {c.type_url: c for c in config.generic_xds_configs}
    cluster = by_type[CLUSTER_TYPE]
    assert cluster.name == "web--a"
    assert cluster.config_status == csds_pb2.SYNCED
    assert cluster.client_status == dump.ACKED
    assert cluster.last_updated.seconds > 0
    unpacked = cluster_pb2.Cluster()
    assert cluster.xds_config.Unpack(unpacked) and unpacked.name == "web--a"
    assert cluster.xds_config == sent[0].resources[0]
    assert by_type[LISTENER_TYPE].client_status == dump.ACKED
    assert ROUTE_TYPE not in by_type  # never subscribed


async def test_a_change_is_stale_until_acked_and_the_proxy_lag_follows(
    server: XdsServer, plane: Controller, metrics: CollectorRegistry
) -> None:
    value = sample(metrics)
    async with AdsClient(address(server), "proxy-1") as client:
        await sync_clusters_and_listener(client)
        await until(lambda: server.registry.proxies()[0].behind_since is None)
        assert server.registry.proxies()[0].synced_version == server.registry.current_version

        add(plane, "b")
        plane.change("b", Activation.live(1), actor="test")
        pushed = await client.receive()
        await until(lambda: server.registry.proxies()[0].behind_since is not None)
        (stale,) = (await csds(server)).config
        client.ack(pushed)
        await until(lambda: server.registry.proxies()[0].behind_since is None)
        (fresh,) = (await csds(server)).config

    def clusters(config: csds_pb2.ClientConfig) -> dict[str, tuple[int, int]]:
        return {
            c.name: (c.config_status, c.client_status)
            for c in config.generic_xds_configs
            if c.type_url == CLUSTER_TYPE
        }

    assert clusters(stale) == {
        "web--a": (csds_pb2.SYNCED, dump.ACKED),
        "web--b": (csds_pb2.STALE, dump.REQUESTED),  # sent, not ACKed yet
    }
    assert clusters(fresh) == {
        "web--a": (csds_pb2.SYNCED, dump.ACKED),
        "web--b": (csds_pb2.SYNCED, dump.ACKED),
    }
    assert value("weir_xds_convergence_seconds_count", type="clusters") == 2


async def test_csds_streams_and_filters_by_node(server: XdsServer) -> None:
    async with (
        AdsClient(address(server), "front-1") as front,
        AdsClient(address(server), "back-1", delta=True) as back,
    ):
        await sync_clusters_and_listener(front)
        back.send(discovery_pb2.DeltaDiscoveryRequest(type_url=CLUSTER_TYPE))
        await back.receive()
        await until(lambda: len(server.registry.proxies()) == 2)

        async with grpc.aio.insecure_channel(address(server)) as channel:
            stub = csds_pb2_grpc.ClientStatusDiscoveryServiceStub(channel)
            request = csds_pb2.ClientStatusRequest()
            request.node_matchers.add().node_id.prefix = "front-"
            call = stub.StreamClientStatus(iter([request, csds_pb2.ClientStatusRequest()]))
            replies = [reply async for reply in call]

    assert [sorted(c.node.id for c in r.config) for r in replies] == [
        ["front-1"],
        ["back-1", "front-1"],
    ]
