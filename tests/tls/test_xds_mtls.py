"""mTLS on the xDS port, with grpcio clients: the certificate must name the node, a stream
that claims another node is refused before any resource, and no certificate, no connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from envoy.service.status.v3 import csds_pb2, csds_pb2_grpc

from controlplane.resources import CLUSTER_TYPE
from controlplane.xds import XdsServer, XdsTls
from tests.tls._certs import Pair, Pki
from tests.xds._fixtures import cluster_names, controller

TIMEOUT_S = 5.0


@pytest.fixture
async def server(pki: Pki) -> AsyncIterator[tuple[XdsServer, str]]:
    weir = pki.server()
    credentials = XdsTls(weir.cert, weir.key, pki.ca).credentials()
    xds = XdsServer(controller(("a", 1)), credentials=credentials)
    port = await xds.start("127.0.0.1:0")
    yield xds, f"127.0.0.1:{port}"
    await xds.stop(0)


def channel(address: str, ca: Path, client: Pair | None) -> grpc.aio.Channel:
    """A channel that trusts `ca` and presents `client`'s certificate, if any."""
    credentials = grpc.ssl_channel_credentials(
        ca.read_bytes(),
        client.key.read_bytes() if client else None,
        client.cert.read_bytes() if client else None,
    )
    return grpc.aio.secure_channel(address, credentials)


async def subscribe(
    address: str, ca: Path, client: Pair | None, node_id: str
) -> tuple[grpc.StatusCode, list[discovery_pb2.DiscoveryResponse]]:
    """Ask for clusters as `node_id`: the stream's status and the first response, if any
    arrived (OK: the stream was served and is still open)."""
    request = discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE)
    request.node.id = node_id
    async with channel(address, ca, client) as ch:
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(ch)
        call = stub.StreamAggregatedResources(iter([request]), timeout=TIMEOUT_S)
        try:
            response = await call.read()
        except grpc.aio.AioRpcError as exc:
            return exc.code(), []
        if response is grpc.aio.EOF:
            return await call.code(), []
        call.cancel()
        return grpc.StatusCode.OK, [response]


async def test_a_proxy_whose_certificate_names_it_is_served(
    server: tuple[XdsServer, str], pki: Pki
) -> None:
    _, address = server

    code, received = await subscribe(address, pki.ca, pki.proxy("web-1"), "web-1")

    assert [cluster_names(list(r.resources)) for r in received] == [["web--a"]]
    assert code == grpc.StatusCode.OK


async def test_a_dns_san_names_the_node_too(server: tuple[XdsServer, str], pki: Pki) -> None:
    _, address = server
    client = pki.issue("dns-web-1", dns=("web-1",))

    _, received = await subscribe(address, pki.ca, client, "web-1")

    assert len(received) == 1


async def test_a_proxy_claiming_another_node_is_refused_before_any_resource(
    server: tuple[XdsServer, str], pki: Pki
) -> None:
    xds, address = server

    code, received = await subscribe(address, pki.ca, pki.proxy("web-2"), "web-1")

    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert received == []
    assert xds.registry.proxies() == []  # never counted as a connected proxy


async def test_a_delta_stream_claiming_another_node_is_refused_too(
    server: tuple[XdsServer, str], pki: Pki
) -> None:
    _, address = server
    request = discovery_pb2.DeltaDiscoveryRequest(type_url=CLUSTER_TYPE)
    request.node.id = "web-1"
    async with channel(address, pki.ca, pki.proxy("web-2")) as ch:
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(ch)
        call = stub.DeltaAggregatedResources(iter([request]), timeout=TIMEOUT_S)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for response in call:
                raise AssertionError(f"a resource reached an impostor: {response}")

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "node.id 'web-1' is not the identity" in (refused.value.details() or "")


async def test_a_certificate_from_another_ca_cannot_connect(
    server: tuple[XdsServer, str], pki: Pki, tmp_path: Path
) -> None:
    _, address = server
    stranger = Pki(tmp_path / "stranger").proxy("web-1")

    code, received = await subscribe(address, pki.ca, stranger, "web-1")

    assert code == grpc.StatusCode.UNAVAILABLE
    assert received == []


async def test_without_a_certificate_nothing_on_the_port_answers(
    server: tuple[XdsServer, str], pki: Pki
) -> None:
    xds, address = server

    code, received = await subscribe(address, pki.ca, None, "web-1")
    assert code == grpc.StatusCode.UNAVAILABLE
    assert received == []
    assert xds.registry.proxies() == []
    # CSDS (and the metrics sink) share the port and its credentials
    async with channel(address, pki.ca, None) as ch:
        csds = csds_pb2_grpc.ClientStatusDiscoveryServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await csds.FetchClientStatus(csds_pb2.ClientStatusRequest(), timeout=TIMEOUT_S)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    async with channel(address, pki.ca, pki.proxy("ops")) as ch:
        csds = csds_pb2_grpc.ClientStatusDiscoveryServiceStub(ch)
        status = await csds.FetchClientStatus(csds_pb2.ClientStatusRequest(), timeout=TIMEOUT_S)
    assert list(status.config) == []


async def test_without_tls_options_any_node_is_served_in_plaintext() -> None:
    xds = XdsServer(controller(("a", 1)))
    port = await xds.start("127.0.0.1:0")
    try:
        request = discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE)
        request.node.id = "anyone"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(ch)
            call = stub.StreamAggregatedResources(iter([request]), timeout=TIMEOUT_S)
            response = await call.read()
            call.cancel()
    finally:
        await xds.stop(0)

    assert cluster_names(list(response.resources)) == ["web--a"]


async def test_over_mtls_csds_shows_a_certificate_its_own_proxy_only(
    server: tuple[XdsServer, str], pki: Pki
) -> None:
    # Issue 15: any fleet certificate could read every proxy's config through CSDS.
    xds, address = server
    holders = []
    held = asyncio.Event()  # never set: each stream stays open until cancelled

    async def open_stream(request: discovery_pb2.DiscoveryRequest) -> AsyncIterator[object]:
        yield request
        await held.wait()

    for node_id in ("web-1", "web-2"):
        request = discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE)
        request.node.id = node_id
        ch = channel(address, pki.ca, pki.proxy(node_id))
        call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(ch).StreamAggregatedResources(
            open_stream(request), timeout=TIMEOUT_S * 4
        )
        await call.read()
        holders.append((ch, call))
    try:
        async with channel(address, pki.ca, pki.proxy("web-1")) as ch:
            csds = csds_pb2_grpc.ClientStatusDiscoveryServiceStub(ch)
            every = await csds.FetchClientStatus(csds_pb2.ClientStatusRequest(), timeout=TIMEOUT_S)
            asked = csds_pb2.ClientStatusRequest()
            asked.node.id = "web-2"
            other = await csds.FetchClientStatus(asked, timeout=TIMEOUT_S)
        assert sorted(p.node_id for p in xds.registry.proxies()) == ["web-1", "web-2"]
        assert [config.node.id for config in every.config] == ["web-1"]
        assert list(other.config) == []
    finally:
        for ch, call in holders:
            call.cancel()
            await ch.close()
