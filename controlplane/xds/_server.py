"""The gRPC edge: ADS streams (SotW and delta) between Envoy and the protocol sessions.

Each stream reads requests and watches the snapshot cache at the same time; whenever either
moves, its session says what to send. The sessions hold all protocol logic; this module only
moves messages, registers the proxy and ends a misbehaving stream with a gRPC status.

A slow proxy never holds up the others, and costs bounded memory. Every stream is its own
coroutine, and it builds its responses only when it is ready to write them, from the newest
snapshot: per type at most one response is in flight (written or awaiting its ACK), and while
a write waits on the proxy's HTTP/2 flow control nothing else is built or queued for it. A
proxy that falls behind therefore skips the versions published meanwhile and gets the latest
state when it catches up. Resources are encoded once per snapshot and shared by all streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import grpc
from envoy.service.discovery.v3 import ads_pb2, discovery_pb2
from envoy.service.status.v3 import csds_pb2_grpc
from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry

from controlplane import defaults
from controlplane.control import Controller
from controlplane.defaults import (
    ACCESS_LOG_METADATA_KEY,
    ADMIN_METADATA_KEY,
    LISTEN_METADATA_KEY,
    MAX_ACCESS_LOG_PATH,
    SIDECAR_LISTEN,
)
from controlplane.model import State, split_address
from controlplane.resources import (
    DELTA_TYPE_ORDER,
    TYPE_ORDER,
    Encoded,
    Resources,
    build_listener,
)
from controlplane.xds._cache import SnapshotCache
from controlplane.xds._csds import Csds
from controlplane.xds._delta import DeltaSession
from controlplane.xds._errors import ProtocolError
from controlplane.xds._identity import identity_refusal
from controlplane.xds._limits import (
    FirstReads,
    StreamCaps,
    XdsLimits,
    node_refusal,
    peer_host,
)
from controlplane.xds._metrics import XdsMetrics
from controlplane.xds._registry import ProxyRegistry, type_name
from controlplane.xds._requests import close_requests
from controlplane.xds._scope import declared_calls, scope_of
from controlplane.xds._sotw import SotwSession
from controlplane.xds._stream import Pushed, Session, Stream
from controlplane.xds._tls import add_port
from controlplane.xds._view import ViewCache
from controlplane.xds._wakeup import Wakeup

log = logging.getLogger(__name__)


class _Ads:
    def __init__(
        self,
        cache: SnapshotCache,
        registry: ProxyRegistry,
        metrics: XdsMetrics,
        limits: XdsLimits,
    ) -> None:
        self._cache = cache
        self._registry = registry
        self._metrics = metrics
        self._limits = limits
        self._caps = StreamCaps(limits)
        self._first_reads = FirstReads(limits)
        self._listeners: dict[tuple[str, str | None], Encoded] = {}
        self._views = ViewCache()
        self.streams: dict[int, Stream] = {}

    def handler(self) -> grpc.GenericRpcHandler:
        """ADS, both methods served by `serve` itself.

        grpc.aio drives a streaming handler that is an async generator function (a partial
        of one counts) as the stream's generator: with no wrapper generator in between, a
        stream keeps one frame alive rather than three, and each response makes one hop.
        """

        def method(
            protocol: str, make_session: Callable[..., Session], request: Any, response: Any
        ) -> Any:
            return grpc.stream_stream_rpc_method_handler(
                partial(self.serve, protocol, make_session),
                request_deserializer=request.FromString,
                response_serializer=response.SerializeToString,
            )

        return grpc.method_handlers_generic_handler(
            ADS_SERVICE,
            {
                "StreamAggregatedResources": method(
                    "sotw",
                    SotwSession,
                    discovery_pb2.DiscoveryRequest,
                    discovery_pb2.DiscoveryResponse,
                ),
                "DeltaAggregatedResources": method(
                    "delta",
                    DeltaSession,
                    discovery_pb2.DeltaDiscoveryRequest,
                    discovery_pb2.DeltaDiscoveryResponse,
                ),
            },
        )

    async def serve(
        self,
        protocol: str,
        make_session: Callable[..., Session],
        requests: AsyncIterator[Any],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[Any]:
        """One ADS stream from its first request to its end.

        A task of its own per stream reads the requests for as long as the stream lasts and
        hands them to the session; this generator writes, whenever that task or the cache's
        publication wakes it.

        A stream weir ends is ended by setting its status and returning, never by raising
        (`context.abort`): grpc.aio keeps the raised error, whose traceback holds this frame,
        in a reference cycle with the call that only the garbage collector breaks, and until
        it does, whatever the frame held (up to a 4 MiB request) stays in memory.
        """
        opened = time.monotonic()
        host = peer_host(context.peer())
        refusal = self._caps.admit(host)
        if refusal is not None:
            log.warning("refused an xDS stream from %s: %s", host, refusal)
            _end(context, grpc.StatusCode.RESOURCE_EXHAUSTED, refusal)
            await close_requests(requests)
            return
        proxy: str | None = None
        stream: Stream | None = None
        ending: tuple[grpc.StatusCode, str] | None = None
        wakeup = Wakeup(asyncio.get_running_loop())
        reader: asyncio.Future[None] | None = None
        cache = self._cache
        try:
            first, ending = await self._first_request(requests, host)
            if first is not None and ending is None:
                ending = self._admit(host, first, context)
            if first is not None and ending is None:
                proxy = first.node.id
                try:
                    stream, session, listener = self._open(first, context, protocol, make_session)
                    _request(session, first, stream)
                except ProtocolError as exc:
                    ending = (grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            first = None  # Envoy's whole node: not to be held for the stream's life
            if stream is None or ending is not None:
                return
            reader = asyncio.ensure_future(_take_requests(requests, session, stream, wakeup))
            cache.watch(wakeup.set)
            declared, group = stream.calls, stream.node.cluster
            while True:
                snapshot, published = cache.snapshot, cache.published_at
                scope = scope_of(declared, group, snapshot)
                stream.view = self._views.of(snapshot, listener, protocol, scope)
                for response in session.responses(stream.view):
                    stream.inflight[response.type_url] = Pushed(snapshot.version, published)
                    self._metrics.sent(response.type_url, protocol, response.ByteSize())
                    stream.writing = response.type_url
                    yield response  # resumes once gRPC took it: the proxy's flow control allowed
                    stream.writing = None
                    del response  # not kept while the stream waits
                self._track_lag(stream, snapshot.version, published)
                await wakeup.wait()
                if reader.done():
                    ending = _ending_of(reader)
                    return
        finally:
            if reader is not None:
                cache.unwatch(wakeup.set)
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader  # it reads `requests`: done before they are closed
            await close_requests(requests)
            self._closed(context, host, proxy, stream, ending, protocol, opened)

    def _closed(
        self,
        context: grpc.aio.ServicerContext,
        host: str,
        proxy: str | None,
        stream: Stream | None,
        ending: tuple[grpc.StatusCode, str] | None,
        protocol: str,
        opened: float,
    ) -> None:
        """A stream's end: its admission released, the proxy told why (when weir ends it) and
        forgotten."""
        self._caps.release(host, proxy)
        if ending is not None:
            log.warning("ended an xDS stream from %s: %s", context.peer(), ending[1])
            _end(context, *ending)
        if stream is not None:
            log.info("%s stream %d closed", protocol, stream.stream_id)
            self._registry.disconnect(stream.stream_id)
            self.streams.pop(stream.stream_id, None)
            self._metrics.stream_closed(protocol, time.monotonic() - opened)

    async def _first_request(
        self, requests: AsyncIterator[Any], host: str
    ) -> tuple[Any, tuple[grpc.StatusCode, str] | None]:
        """The stream's first request, read a few streams at a time (FirstReads), or why the
        stream ends; (None, None) if it ended before sending one."""
        try:
            async with self._first_reads.slot(host):
                first = await _read(requests)
        except TimeoutError:
            timeout = self._limits.first_request_timeout_s
            return None, (
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no complete first request within {timeout:g}s",
            )
        except ProtocolError as exc:
            return None, (grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if first is None:
            return None, None
        refusal = _node_refusal(first) or node_refusal(first.node, self._limits)
        if refusal is not None:
            return None, (grpc.StatusCode.INVALID_ARGUMENT, refusal)
        return first, None

    def _admit(
        self, host: str, first: Any, context: grpc.aio.ServicerContext
    ) -> tuple[grpc.StatusCode, str] | None:
        """Why the proxy of `first` may not hold this stream, or None once it is counted."""
        if not first.type_url:
            return grpc.StatusCode.INVALID_ARGUMENT, "an ADS request must carry type_url"
        refusal = identity_refusal(context.auth_context(), first.node.id)
        if refusal is not None:  # mTLS: the certificate must name the node
            return grpc.StatusCode.PERMISSION_DENIED, refusal
        refusal = self._caps.admit_proxy(host, first.node.id)
        if refusal is not None:
            return grpc.StatusCode.RESOURCE_EXHAUSTED, refusal
        return None

    def _open(
        self,
        first: Any,
        context: grpc.aio.ServicerContext,
        protocol: str,
        make_session: Callable[..., Session],
    ) -> tuple[Stream, Session, Encoded]:
        """Register the proxy of an admitted first request: its stream, session and listener."""
        listener = self._listener_for(first.node)
        calls = declared_calls(first.node)
        stream = Stream(0, kept_node(first.node), protocol, calls=calls)
        stream.stream_id = stream_id = self._registry.connect(
            node_id=first.node.id,
            node_cluster=first.node.cluster,
            protocol=protocol,
            peer=context.peer(),
            admin=_admin_of(first.node),
            clusters=stream,
        )
        log.info("%s stream %d from %s (%s)", protocol, stream_id, first.node.id, context.peer())
        self.streams[stream_id] = stream
        stream.session = session = make_session(
            on_ack=lambda t, v: self._on_ack(stream, t, v),
            on_nack=lambda t, v, m: self._on_nack(stream, t, v, m),
        )
        return stream, session, listener

    def _on_ack(self, stream: Stream, type_url: str, version: str) -> None:
        # The stream keeps it as a key: one shared string rather than each request's own copy
        # (protobuf makes a new str at every read of a field).
        type_url = sys.intern(type_url)
        self._metrics.acked(type_url, stream.ack(type_url))
        self._registry.acked(stream.stream_id, type_url, version)

    def _on_nack(self, stream: Stream, type_url: str, version: str, message: str) -> None:
        type_url = sys.intern(type_url)
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
        access_log = _access_log_of(node)
        key = (address, access_log)
        if key not in self._listeners:
            self._listeners[key] = build_listener(host, port, access_log)
        return self._listeners[key]


ADS_SERVICE = ads_pb2.DESCRIPTOR.services_by_name["AggregatedDiscoveryService"].full_name


async def _take_requests(
    requests: AsyncIterator[Any], session: Session, stream: Stream, wakeup: Wakeup
) -> None:
    """Hand every request to the session, waking the writer after each and at the end."""
    try:
        while (request := await _read(requests)) is not None:
            _check_type(request)
            _request(session, request, stream)
            wakeup.set()
    finally:
        wakeup.set()


async def _read(requests: AsyncIterator[Any]) -> Any:
    """The next request, None at the end of the stream; bytes that do not parse end the stream
    with INVALID_ARGUMENT (grpc would answer UNKNOWN and log a traceback). gRPC itself refuses
    a message over the size cap with RESOURCE_EXHAUSTED, ending only that stream."""
    try:
        return await anext(requests, None)
    except DecodeError as exc:
        raise ProtocolError(f"the request is not a valid discovery request: {exc}") from exc


def kept_node(node: Any) -> Any:
    """What a stream keeps of its proxy's node for as long as it lasts (for CSDS, logs and the
    registry): everything but `extensions`, the list of every extension built into the Envoy
    binary, which nothing here reads: 516 entries, 61 KB of Envoy 1.40's 61 KB node, against
    0.2 KB for the rest."""
    # Field by field into a fresh message: a copy then ClearField would keep the list's
    # memory, as protobuf's arena only grows.
    kept = type(node)()
    for field, value in node.ListFields():
        if field.name == "extensions":
            continue
        if field.is_repeated:
            getattr(kept, field.name).extend(value)
        elif field.message_type is not None:
            getattr(kept, field.name).CopyFrom(value)
        else:
            setattr(kept, field.name, value)
    return kept


MAX_NODE_ID = 1024
MAX_IGNORED_TYPES = 16
"""Unknown types remembered (and logged) per stream; a proxy inventing more costs nothing."""


def _node_refusal(request: Any) -> str | None:
    """The proxy's name goes into logs, the registry and CSDS: it must be a plain name."""
    if not request.HasField("node") or not request.node.id:
        return "the first request of a stream must carry node.id"
    node_id: str = request.node.id
    if len(node_id) > MAX_NODE_ID or not node_id.isprintable():
        return (
            f"node.id must be at most {MAX_NODE_ID} printable characters, not {node_id[:40]!r}"
            + ("..." if len(node_id) > 40 else "")
        )
    return None


def _ending_of(reader: asyncio.Future[None]) -> tuple[grpc.StatusCode, str] | None:
    """Why a stream ends once its request reader is done: a bad request ends it as invalid,
    any other failure is raised again, and the proxy closing its side ends it quietly."""
    failed = None if reader.cancelled() else reader.exception()
    if isinstance(failed, ProtocolError):
        return (grpc.StatusCode.INVALID_ARGUMENT, str(failed))
    if failed is not None:
        raise failed
    return None


def _end(context: grpc.aio.ServicerContext, code: grpc.StatusCode, details: str) -> None:
    """End the stream with this status once its handler returns (see `_Ads.serve`)."""
    context.set_code(code)
    context.set_details(details)


def _check_type(request: Any) -> None:
    # As go-control-plane does: on the one ADS stream, a request must say what it is for.
    if not request.type_url:
        raise ProtocolError("an ADS request must carry type_url")


def _request(session: Session, request: Any, stream: Stream) -> None:
    """Hand a request to the session, unless it is for a type weir does not serve.

    Such a request is ignored rather than refused: Envoy multiplexes every subscription on its
    one ADS stream, so refusing the stream because, say, an SDS secret or EDS is configured
    over ADS would also cost the proxy its clusters, routes and listener. Left unanswered, the
    unknown subscription ends Envoy's initial_fetch_timeout and Envoy carries on without it
    (go-control-plane's snapshot cache likewise leaves a request for a type its snapshot lacks
    as an open watch, never answered; only a missing type_url is an error there, as here).
    """
    served = DELTA_TYPE_ORDER if stream.protocol == "delta" else TYPE_ORDER  # VHDS: delta only
    if request.type_url in served:
        session.on_request(request)
    elif request.type_url not in stream.ignored and len(stream.ignored) < MAX_IGNORED_TYPES:
        stream.ignored |= {request.type_url}
        log.warning(
            "%s subscribed to %s, which weir does not serve: ignored",
            stream.node.id,
            request.type_url,
        )


def _access_log_of(node: Any) -> str | None:
    """The file the proxy wants its requests logged to (node.metadata.weir_access_log), if it
    names one: an absolute path of printable characters, at most MAX_ACCESS_LOG_PATH long."""
    fields = node.metadata.fields
    if ACCESS_LOG_METADATA_KEY not in fields:
        return None
    path: str = fields[ACCESS_LOG_METADATA_KEY].string_value
    if not path.startswith("/") or len(path) > MAX_ACCESS_LOG_PATH or not path.isprintable():
        raise ProtocolError(
            f"node.metadata.{ACCESS_LOG_METADATA_KEY} must be an absolute file path of at most "
            f"{MAX_ACCESS_LOG_PATH} printable characters"
        )
    return path


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


def _check_free(address: str) -> None:
    """Fail with one line if something listens on `address` already (another weir serve),
    before gRPC tries and logs a multi-line error of its own. The port is bound without
    SO_REUSEPORT (XdsLimits), so two servers never share it."""
    host, _, port = address.rpartition(":")
    if port == "0":
        return
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise RuntimeError(exc.strerror or str(exc)) from exc


class XdsServer:
    """ADS over gRPC for the Envoy fleet, serving the controller's state.

    CSDS on the same port reports what each connected proxy holds; `metrics` (a prometheus
    CollectorRegistry) counts pushes, ACKs, NACKs and convergence. `services` are more gRPC
    handlers (grpc.GenericRpcHandler) served on the same port, such as the metrics sink Envoy
    streams its stats to. `limits` are the port's connection hygiene (message size, connection
    age, keepalive, ADS streams per client address); ledger changes less than `coalesce_ms`
    apart reach the fleet as one push (a lone change goes at once).
    """

    def __init__(
        self,
        controller: Controller,
        *,
        registry: ProxyRegistry | None = None,
        services: Sequence[Any] = (),
        metrics: CollectorRegistry | None = None,
        credentials: grpc.ServerCredentials | None = None,
        limits: XdsLimits | None = None,
        coalesce_ms: float = defaults.COALESCE_MS,
    ) -> None:
        self.controller = controller
        self._credentials = credentials
        """TLS for the port (XdsTls.credentials()), else plaintext."""
        self.limits = limits or XdsLimits()
        self._coalesce_s = coalesce_ms / 1000
        self.registry = registry or ProxyRegistry()
        self.metrics = XdsMetrics(metrics if metrics is not None else CollectorRegistry())
        """Counted into `metrics` (a registry of its own if none is given)."""
        self._services = tuple(services)
        self._server: grpc.aio.Server | None = None
        self._cache: SnapshotCache | None = None
        self._ads: _Ads | None = None

    async def start(
        self, address: str, *, build: Callable[[State], Resources] | None = None
    ) -> int:
        """Listen on host:port (port 0 picks a free one); returns the bound port. `build` makes
        the resources of a state: by default the controller's builder (in weir serve, one that
        knows the comparator)."""
        cache = self._cache = SnapshotCache(
            self.controller,
            asyncio.get_running_loop(),
            on_publish=self.registry.published,
            coalesce_s=self._coalesce_s,
            build=build if build is not None else self.controller.builder,
        )
        server = grpc.aio.server(options=self.limits.grpc_options())
        ads = self._ads = _Ads(cache, self.registry, self.metrics, self.limits)
        server.add_generic_rpc_handlers((ads.handler(),))
        csds_pb2_grpc.add_ClientStatusDiscoveryServiceServicer_to_server(
            Csds(lambda: list(ads.streams.values())), server
        )
        if self._services:
            server.add_generic_rpc_handlers(self._services)
        try:
            _check_free(address)
            port = add_port(server, address, self._credentials)
            await server.start()
        except RuntimeError as exc:  # grpcio's word for a port it cannot bind
            cache.close()
            raise OSError(f"cannot listen for xDS on {address}: {exc}") from exc
        self._server = server
        return port

    def streams(self) -> list[Stream]:
        """The open ADS streams, with what each keeps of its proxy."""
        return list(self._ads.streams.values()) if self._ads is not None else []

    def writing(self) -> list[str]:
        """Node ids of the proxies a response is being written to now. One that stays here
        reads slower than we write (its flow-control window is full); nothing else is built
        for it meanwhile."""
        streams = self._ads.streams.values() if self._ads is not None else ()
        return sorted(s.node.id for s in streams if s.writing is not None)

    async def stop(self, grace: float = 1.0) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        self._ads = None
