"""A light ADS client on loopback against the in-process XdsServer: send, receive, ACK."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

TIMEOUT_S = 5.0


class AdsClient:
    """One ADS stream (SotW or delta) from a proxy called `node_id`."""

    def __init__(
        self,
        address: str,
        node_id: str,
        *,
        delta: bool = False,
        channel: grpc.aio.Channel | None = None,
        options: list[tuple[str, Any]] | None = None,
    ) -> None:
        """On a channel of its own to `address`, or on `channel` (which it leaves open)."""
        self._owned = channel is None
        self._channel = channel or grpc.aio.insecure_channel(address, options=options)
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()
        self._node_id = node_id
        self._first = True
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self._channel)
        rpc = stub.DeltaAggregatedResources if delta else stub.StreamAggregatedResources
        self._call = rpc(self._requests())

    async def _requests(self) -> AsyncIterator[Any]:
        while (request := await self._outbox.get()) is not None:
            yield request

    def send(self, request: Any) -> None:
        if self._first:
            request.node.id = self._node_id
            request.node.cluster = "test"
            self._first = False
        self._outbox.put_nowait(request)

    async def receive(self) -> Any:
        return await asyncio.wait_for(self._call.read(), TIMEOUT_S)

    def ack(self, response: discovery_pb2.DiscoveryResponse, *names: str) -> None:
        self.send(
            discovery_pb2.DiscoveryRequest(
                type_url=response.type_url,
                version_info=response.version_info,
                response_nonce=response.nonce,
                resource_names=list(names),
            )
        )

    def nack(self, response: discovery_pb2.DiscoveryResponse, message: str) -> None:
        request = discovery_pb2.DiscoveryRequest(
            type_url=response.type_url, response_nonce=response.nonce
        )
        request.error_detail.code = 3
        request.error_detail.message = message
        self.send(request)

    async def close(self) -> None:
        self._outbox.put_nowait(None)
        if self._owned:
            await self._channel.close()
        else:
            self._call.cancel()

    async def __aenter__(self) -> AdsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
