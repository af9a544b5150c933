"""Random, well-formed but nonsensical request sequences, SotW and delta, over real gRPC: every
stream ends with its requests or with INVALID_ARGUMENT, never with a server error, and a
well-behaved neighbour is served throughout. Seeded, so a failure replays."""

from __future__ import annotations

import logging
import random

import grpc
import pytest
from envoy.service.discovery.v3 import discovery_pb2

from controlplane.resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from tests.xds._client import AdsClient
from tests.xds._fixtures import add, cluster_names, controller
from tests.xds._server import serving

TYPES = [CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, "type.googleapis.com/x.Unknown"]
NAMES = ["weir", "web--a", "nope", ""]
STREAMS = 12
REQUESTS = 25


def sotw(rng: random.Random, type_url: str | None = None) -> discovery_pb2.DiscoveryRequest:
    request = discovery_pb2.DiscoveryRequest(
        type_url=rng.choice(TYPES) if type_url is None else type_url,
        version_info=rng.choice(["", "1", "stale"]),
        response_nonce=rng.choice(["", "", "1", "2", "3", "zz"]),
        resource_names=rng.sample(NAMES, rng.randint(0, 2)),
    )
    if rng.random() < 0.2:
        request.error_detail.code = 3
        request.error_detail.message = "rejected"
    return request


def delta(rng: random.Random, type_url: str | None = None) -> discovery_pb2.DeltaDiscoveryRequest:
    request = discovery_pb2.DeltaDiscoveryRequest(
        type_url=rng.choice(TYPES) if type_url is None else type_url,
        response_nonce=rng.choice(["", "", "1", "2", "3", "zz"]),
        resource_names_subscribe=rng.sample(NAMES, rng.randint(0, 2)),
        resource_names_unsubscribe=rng.sample(NAMES, rng.randint(0, 1)),
        initial_resource_versions={n: rng.choice(["", "v"]) for n in rng.sample(NAMES, 1)},
    )
    if rng.random() < 0.2:
        request.error_detail.code = 3
        request.error_detail.message = "rejected"
    return request


async def drain(client: AdsClient) -> grpc.StatusCode:
    """Read until the stream ends; its status."""
    try:
        while await client.receive() is not grpc.aio.EOF:
            pass
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("is_delta", [False, True], ids=["sotw", "delta"])
async def test_random_requests_never_break_the_server(
    is_delta: bool, caplog: pytest.LogCaptureFixture
) -> None:
    plane = controller(("a", 1))
    rng = random.Random(7)
    make = delta if is_delta else sotw
    async with serving(plane) as (xds, address), AdsClient(address, "steady") as steady:
        steady.send(discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE))
        steady.ack(await steady.receive())
        codes = []
        for n in range(STREAMS):
            async with AdsClient(address, f"fuzz-{n}", delta=is_delta) as fuzz:
                for _ in range(REQUESTS):
                    fuzz.send(make(rng))
                if rng.random() < 0.3:
                    # Last, so that the client is not still writing when the server refuses
                    # (grpc would then report the failed write, INTERNAL, instead).
                    fuzz.send(make(rng, type_url=""))
                fuzz.send(None)  # ends the request stream: the server ends the call
                codes.append(await drain(fuzz))

            add(plane, f"n{n}", port=9500 + n)  # and the steady proxy still follows
            response = await steady.receive()
            assert f"web--n{n}" in cluster_names(list(response.resources))
            steady.ack(response)

        assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert [p.node_id for p in xds.registry.proxies()] == ["steady"]
