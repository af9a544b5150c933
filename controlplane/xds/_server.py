"""The gRPC edge: ADS streams (SotW and delta) between Envoy and the protocol sessions.

Each stream reads requests and watches the snapshot cache at the same time; whenever either
moves, its session says what to send. The sessions hold all protocol logic; this module only
moves messages, registers the proxy and ends a misbehaving stream with a gRPC status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from controlplane.bootstrap import ADMIN_METADATA_KEY
from controlplane.control import Controller
from controlplane.defaults import LISTEN_METADATA_KEY, SIDECAR_LISTEN
from controlplane.model import split_address
from controlplane.resources import Encoded, Resources, build_listener
from controlplane.xds._cache import SnapshotCache
from controlplane.xds._delta import DeltaSession
from controlplane.xds._errors import ProtocolError
from controlplane.xds._registry import ProxyRegistry, type_name
from controlplane.xds._sotw import SotwSession
from controlplane.xds._view import ProxyView

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class _Session(Protocol):
    """SotwSession or DeltaSession: the server only feeds requests and views in."""

    def on_request(self, request: Any) -> None: ...
    def responses(self, view: ProxyView) -> list[Any]: ...


class _Ads(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    def __init__(self, cache: SnapshotCache, registry: ProxyRegistry) -> None:
        self._cache = cache
        self._registry = registry
        self._listeners: dict[str, Encoded] = {}

    # grpc.aio recognises a streaming handler by being an async generator function itself.
    async def StreamAggregatedResources(
        self,
        requests: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        async for response in self._serve(requests, context, "sotw", SotwSession):
            yield response

    async def DeltaAggregatedResources(
        self,
        requests: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[discovery_pb2.DeltaDiscoveryResponse]:
        async for response in self._serve(requests, context, "delta", DeltaSession):
            yield response

    async def _serve(
        self,
        requests: AsyncIterator[Any],
        context: grpc.aio.ServicerContext,
        protocol: str,
        make_session: Callable[..., _Session],
    ) -> AsyncIterator[Any]:
        stream_id = 0
        try:
            first = await anext(requests, None)
            if first is None:
                return
            if not first.HasField("node") or not first.node.id:
                raise ProtocolError("the first request of a stream must carry node.id")
            listener = self._listener_for(first.node)
            stream_id = self._registry.connect(
                node_id=first.node.id,
                node_cluster=first.node.cluster,
                protocol=protocol,
                peer=context.peer(),
                admin=_admin_of(first.node),
            )
            log.info(
                "%s stream %d from %s (%s)", protocol, stream_id, first.node.id, context.peer()
            )
            session = make_session(
                on_ack=lambda t, v: self._registry.acked(stream_id, t, v),
                on_nack=lambda t, v, m: self._on_nack(stream_id, first.node.id, t, v, m),
            )
            session.on_request(first)
            async for response in self._exchange(session, requests, listener):
                yield response
        except ProtocolError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        finally:
            if stream_id:
                log.info("%s stream %d closed", protocol, stream_id)
                self._registry.disconnect(stream_id)

    async def _exchange(
        self, session: _Session, requests: AsyncIterator[Any], listener: Encoded
    ) -> AsyncIterator[Any]:
        snapshot: Resources = self._cache.snapshot
        read = asyncio.ensure_future(anext(requests, None))
        newer = asyncio.ensure_future(self._cache.newer_than(snapshot))
        try:
            while True:
                for response in session.responses(ProxyView.of(snapshot, listener)):
                    yield response
                done, _ = await asyncio.wait({read, newer}, return_when=asyncio.FIRST_COMPLETED)
                if read in done:
                    request = read.result()
                    if request is None:
                        return
                    session.on_request(request)
                    read = asyncio.ensure_future(anext(requests, None))
                if newer in done:
                    snapshot = newer.result()
                    newer = asyncio.ensure_future(self._cache.newer_than(snapshot))
        finally:
            read.cancel()
            newer.cancel()

    def _on_nack(
        self, stream_id: int, node_id: str, type_url: str, version: str, message: str
    ) -> None:
        log.warning("%s rejected %s version %s: %s", node_id, type_name(type_url), version, message)
        self._registry.nacked(stream_id, type_url, version, message)

    def _listener_for(self, node: Any) -> Encoded:
        fields = node.metadata.fields
        address = (
            fields[LISTEN_METADATA_KEY].string_value
            if LISTEN_METADATA_KEY in fields
            else SIDECAR_LISTEN
        )
        try:
            host, port = split_address(address)
        except ValueError as exc:
            raise ProtocolError(f"node.metadata.{LISTEN_METADATA_KEY}: {exc}") from exc
        if address not in self._listeners:
            self._listeners[address] = build_listener(host, port)
        return self._listeners[address]


def _admin_of(node: Any) -> str | None:
    """The admin host:port the proxy names in node.metadata.weir_admin, if it does."""
    fields = node.metadata.fields
    if ADMIN_METADATA_KEY not in fields:
        return None
    address: str = fields[ADMIN_METADATA_KEY].string_value
    try:
        split_address(address)
    except ValueError:
        log.warning(
            "%s: node.metadata.%s %r is not host:port", node.id, ADMIN_METADATA_KEY, address
        )
        return None
    return address


class XdsServer:
    """ADS over gRPC for the Envoy fleet, serving the controller's state.

    `services` are more gRPC handlers (grpc.GenericRpcHandler) served on the same port, such
    as the metrics sink Envoy streams its stats to.
    """

    def __init__(
        self,
        controller: Controller,
        *,
        registry: ProxyRegistry | None = None,
        services: Sequence[Any] = (),
    ) -> None:
        self.controller = controller
        self.registry = registry or ProxyRegistry()
        self._services = tuple(services)
        self._server: grpc.aio.Server | None = None

    async def start(self, address: str) -> int:
        """Listen on host:port (port 0 picks a free one); returns the bound port."""
        cache = SnapshotCache(self.controller, asyncio.get_running_loop())
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.keepalive_timeout_ms", 10_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
            ]
        )
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(
            _Ads(cache, self.registry), server
        )
        if self._services:
            server.add_generic_rpc_handlers(self._services)
        try:
            port: int = server.add_insecure_port(address)
            await server.start()
        except RuntimeError as exc:  # grpcio's word for a port it cannot bind
            raise OSError(f"cannot listen for xDS on {address}: {exc}") from exc
        self._server = server
        return port

    async def stop(self, grace: float = 1.0) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
