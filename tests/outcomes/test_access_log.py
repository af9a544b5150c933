"""The access-log receiver over real gRPC: it takes outcomes only from a proxy holding an ADS
stream from the same host, bounds what one proxy may send, and counts what it reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from envoy.service.accesslog.v3 import als_pb2

from controlplane.model import Activation, Instance, InstanceState, ServiceSpec, State
from controlplane.outcomes._als import METHOD, SERVICE, AccessLogLimits, AccessLogOutcomes

ORDERS = {"name": "orders", "kind": "ratio", "source": {"header": "order"}}
SPEC = ServiceSpec.model_validate({"name": "shop", "objectives": [ORDERS]})
STATE = State(
    services={"shop": SPEC},
    instances={
        "a": InstanceState(
            Instance(id="a", service="shop", version="v1", address="127.0.0.1:1"),
            Activation.live(1),
            1,
        )
    },
)


@dataclass
class Proxy:
    node_id: str
    peer: str


class Directory:
    def __init__(self, *proxies: Proxy) -> None:
        self.held = list(proxies)

    def proxies(self) -> list[Proxy]:
        return self.held


def message(node: str | None, outcomes: list[str], cluster: str = "shop--a") -> bytes:
    msg = als_pb2.StreamAccessLogsMessage()
    if node:
        msg.identifier.node.id = node
        msg.identifier.log_name = "weir_outcomes"
    for text in outcomes:
        entry = msg.http_logs.log_entry.add()
        entry.common_properties.upstream_cluster = cluster
        entry.common_properties.metadata.filter_metadata["weir.outcome"].fields[
            "outcome"
        ].string_value = text
    data: bytes = msg.SerializeToString()
    return data


async def serve(receiver: AccessLogOutcomes) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([receiver.handler()])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def send(target: str, messages: list[bytes]) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.stream_unary(
            f"/{SERVICE}/{METHOD}",
            request_serializer=lambda b: b,
            response_deserializer=als_pb2.StreamAccessLogsResponse.FromString,
        )

        async def stream() -> AsyncIterator[bytes]:
            for m in messages:
                yield m

        try:
            await call(stream())
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK


@pytest.mark.timeout(30)
async def test_outcomes_count_only_from_a_proxy_holding_an_ads_stream_from_that_host() -> None:
    directory = Directory(Proxy("proxy-1", "ipv4:127.0.0.1:40000"))
    receiver = AccessLogOutcomes(
        lambda: STATE, directory=directory, limits=AccessLogLimits(bind_wait_s=0.2)
    )
    server, target = await serve(receiver)
    try:
        # A node without an ADS stream is refused, and nothing it sent counts
        code = await send(target, [message("stranger", ["order=1"] * 5)])
        assert code is grpc.StatusCode.UNAUTHENTICATED
        assert await receiver.read(STATE) == {}
        # The proxy holding an ADS stream from this host is heard: 2 orders in 4 answers; a
        # malformed header is an answer without an order; unknown clusters are dropped
        code = await send(
            target,
            [
                message("proxy-1", ["order=1", "-", "order=1; revenue=3"]),
                message(None, ["order=zz"]),
                message(None, ["order=1"], cluster="other--x"),
            ],
        )
        assert code is grpc.StatusCode.OK
        counts = (await receiver.read(STATE))["shop--a"]["orders"]
        assert (counts.requests, counts.total) == (4, 2.0)
        assert receiver.malformed["shop--a"] == 1 and receiver.dropped["cluster"] == 1
        # A stream that names another node later is ended
        code = await send(target, [message("proxy-1", []), message("proxy-2", ["order=1"])])
        assert code is grpc.StatusCode.PERMISSION_DENIED
    finally:
        await server.stop(None)


@pytest.mark.timeout(30)
async def test_one_proxy_cannot_flood_the_counts() -> None:
    directory = Directory(Proxy("proxy-1", "ipv4:127.0.0.1:1"))
    limits = AccessLogLimits(max_entries_per_s=10, burst_s=1, max_entries_per_message=50)
    receiver = AccessLogOutcomes(lambda: STATE, directory=directory, limits=limits)
    server, target = await serve(receiver)
    try:
        code = await send(target, [message("proxy-1", ["order=1"] * 40)])
        assert code is grpc.StatusCode.OK
        counts = (await receiver.read(STATE))["shop--a"]["orders"]
        assert counts.requests == 10 and receiver.dropped["rate"] == 30
        code = await send(target, [message("proxy-1", ["order=1"] * 51)])
        assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await server.stop(None)
