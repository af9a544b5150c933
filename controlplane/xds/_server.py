"""The gRPC edge: ADS streams (SotW and delta) between Envoy and the protocol sessions.

Each stream reads requests and watches the snapshot cache at the same time; whenever either
moves, its session says what to send. The sessions hold all protocol logic; this module only
moves messages, registers the proxy and ends a misbehaving stream with a gRPC status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from envoy.service.status.v3 import csds_pb2_grpc
from prometheus_client import CollectorRegistry

from controlplane.bootstrap import ADMIN_METADATA_KEY
from controlplane.control import Controller
from controlplane.defaults import LISTEN_METADATA_KEY, SIDECAR_LISTEN
from controlplane.model import split_address
from controlplane.resources import Encoded, Resources, build_listener
from controlplane.xds._cache import SnapshotCache
from controlplane.xds._csds import Csds
from controlplane.xds._delta import DeltaSession
from controlplane.xds._errors import ProtocolError
from controlplane.xds._metrics import XdsMetrics
from controlplane.xds._registry import ProxyRegistry, type_name
from controlplane.xds._sotw import SotwSession
from controlplane.xds._stream import Pushed, Session, Stream
from controlplane.xds._view import ProxyView

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class _Ads(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    def __init__(self, cache: SnapshotCache, registry: ProxyRegistry, metrics: XdsMetrics) -> None:
        self._cache = cache
        self._registry = registry
        self._metrics = metrics
        self._listeners: dict[str, Encoded] = {}
        self.streams: dict[int, Stream] = {}

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
        make_session: Callable[..., Session],
    ) -> AsyncIterator[Any]:
        stream_id = 0
        opened = time.monotonic()
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
            stream = self.streams[stream_id] = Stream(stream_id, first.node, protocol)
            stream.session = session = make_session(
                on_ack=lambda t, v: self._on_ack(stream, t, v),
                on_nack=lambda t, v, m: self._on_nack(stream, t, v, m),
            )
            session.on_request(first)
            async for response in self._exchange(stream, session, requests, listener):
                yield response
        except ProtocolError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        finally:
            if stream_id:
                log.info("%s stream %d closed", protocol, stream_id)
                self._registry.disconnect(stream_id)
                self.streams.pop(stream_id, None)
                self._metrics.stream_closed(protocol, time.monotonic() - opened)

    async def _exchange(
        self, stream: Stream, session: Session, requests: AsyncIterator[Any], listener: Encoded
    ) -> AsyncIterator[Any]:
        snapshot: Resources = self._cache.snapshot
        published = self._cache.published_at
        read = asyncio.ensure_future(anext(requests, None))
        newer = asyncio.ensure_future(self._cache.newer_than(snapshot))
        try:
            while True:
                stream.view = ProxyView.of(snapshot, listener, stream.protocol)
                for response in session.responses(stream.view):
                    stream.inflight[response.type_url] = Pushed(snapshot.version, published)
                    self._metrics.sent(response.type_url, stream.protocol, response.ByteSize())
                    yield response
                self._track_lag(stream, snapshot.version, published)
                done, _ = await asyncio.wait({read, newer}, return_when=asyncio.FIRST_COMPLETED)
                if read in done:
                    request = read.result()
                    if request is None:
                        return
                    session.on_request(request)
                    read = asyncio.ensure_future(anext(requests, None))
                if newer in done:
                    snapshot, published = newer.result()
                    newer = asyncio.ensure_future(self._cache.newer_than(snapshot))
        finally:
            read.cancel()
            newer.cancel()

    def _on_ack(self, stream: Stream, type_url: str, version: str) -> None:
        self._metrics.acked(type_url, stream.ack(type_url))
        self._registry.acked(stream.stream_id, type_url, version)

    def _on_nack(self, stream: Stream, type_url: str, version: str, message: str) -> None:
        log.warning(
            "%s rejected %s version %s: %s", stream.node.id, type_name(type_url), version, message
        )
        stream.nack(type_url, version, message)
        self._metrics.nacked(type_url)
        self._registry.nacked(stream.stream_id, type_url, version, message)

    def _track_lag(self, stream: Stream, version: str, published: float) -> None:
        if stream.settled:
            self._registry.synced(stream.stream_id, version)
        else:
            self._registry.behind(stream.stream_id, datetime.fromtimestamp(published, UTC))

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

    CSDS on the same port reports what each connected proxy holds; `metrics` (a prometheus
    CollectorRegistry) counts pushes, ACKs, NACKs and convergence. `services` are more gRPC
    handlers (grpc.GenericRpcHandler) served on the same port, such as the metrics sink Envoy
    streams its stats to.
    """

    def __init__(
        self,
        controller: Controller,
        *,
        registry: ProxyRegistry | None = None,
        services: Sequence[Any] = (),
        metrics: CollectorRegistry | None = None,
    ) -> None:
        self.controller = controller
        self.registry = registry or ProxyRegistry()
        self.metrics = XdsMetrics(metrics if metrics is not None else CollectorRegistry())
        """Counted into `metrics` (a registry of its own if none is given)."""
        self._services = tuple(services)
        self._server: grpc.aio.Server | None = None

    async def start(self, address: str) -> int:
        """Listen on host:port (port 0 picks a free one); returns the bound port."""
        cache = SnapshotCache(
            self.controller, asyncio.get_running_loop(), on_publish=self.registry.published
        )
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
        ads = _Ads(cache, self.registry, self.metrics)
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(ads, server)
        csds_pb2_grpc.add_ClientStatusDiscoveryServiceServicer_to_server(
            Csds(lambda: list(ads.streams.values())), server
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
