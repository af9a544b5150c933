"""CSDS (envoy.service.status.v3.ClientStatusDiscoveryService) on the xDS port: which config
each connected proxy holds, per resource, as standard tooling expects to ask for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

import grpc
from envoy.admin.v3 import config_dump_shared_pb2 as dump
from envoy.service.status.v3 import csds_pb2, csds_pb2_grpc
from google.protobuf import timestamp_pb2

from controlplane.resources import DELTA_TYPE_ORDER
from controlplane.xds._identity import certificate_identities
from controlplane.xds._requests import close_requests
from controlplane.xds._stream import Rejection, Stream

GenericXdsConfig = csds_pb2.ClientConfig.GenericXdsConfig


def _matches(request: csds_pb2.ClientStatusRequest, node_id: str) -> bool:
    """No matchers: every proxy. Otherwise a proxy whose node id any matcher's node_id names."""
    matchers = [m for m in request.node_matchers if m.HasField("node_id")]
    if request.HasField("node") and request.node.id:
        return bool(node_id == request.node.id)
    if not matchers:
        return True
    for matcher in matchers:
        string = matcher.node_id
        kind = string.WhichOneof("match_pattern")
        if (
            (kind == "exact" and node_id == string.exact)
            or (kind == "prefix" and node_id.startswith(string.prefix))
            or (kind == "suffix" and node_id.endswith(string.suffix))
            or (kind == "contains" and string.contains in node_id)
        ):
            return True
    return False


def _timestamp(stream: Stream, type_url: str) -> timestamp_pb2.Timestamp | None:
    at = stream.updated.get(type_url)
    if at is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(at)
    return stamp


def _rejected(item: csds_pb2.ClientConfig.GenericXdsConfig, rejected: Rejection) -> None:
    item.config_status = csds_pb2.ERROR
    item.client_status = dump.NACKED
    item.error_state.details = rejected.message
    item.error_state.version_info = rejected.version
    item.error_state.last_update_attempt.FromDatetime(rejected.at)


def client_config(stream: Stream, *, contents: bool = True) -> csds_pb2.ClientConfig:
    """What the proxy on `stream` holds, resource by resource, against the current view.

    A held resource is SYNCED when it is the current version, STALE when not; a resource of a
    subscribed type the proxy does not hold yet is STALE while a response with it awaits the
    ACK, NOT_SENT otherwise; every resource of a type whose last response was NACKed is
    ERROR, with Envoy's message.
    """
    config = csds_pb2.ClientConfig(client_scope="")
    config.node.CopyFrom(stream.node)
    holdings = stream.session.holdings() if stream.session is not None else {}
    current = stream.view.resources if stream.view is not None else {}
    for type_url in DELTA_TYPE_ORDER:
        held = holdings.get(type_url, {})
        rejected = stream.rejected.get(type_url)
        wanted = current.get(type_url, {})
        for name, (version, resource) in sorted(held.items()):
            item = GenericXdsConfig(type_url=type_url, name=name, version_info=version)
            if contents and resource is not None:
                item.xds_config.CopyFrom(resource.packed())
            if (stamp := _timestamp(stream, type_url)) is not None:
                item.last_updated.CopyFrom(stamp)
            if rejected is not None:
                _rejected(item, rejected)
            else:
                fresh = name in wanted and wanted[name].version == version
                item.config_status = csds_pb2.SYNCED if fresh else csds_pb2.STALE
                item.client_status = dump.ACKED
            config.generic_xds_configs.append(item)
        if type_url in holdings:
            # Wanted now but not held: sent and awaiting the ACK, or not sent yet.
            pending = csds_pb2.STALE if type_url in stream.inflight else csds_pb2.NOT_SENT
            for name in sorted(wanted.keys() - held.keys()):
                item = GenericXdsConfig(
                    type_url=type_url,
                    name=name,
                    version_info=wanted[name].version,
                    config_status=pending,
                    client_status=dump.REQUESTED,
                )
                if rejected is not None:
                    _rejected(item, rejected)
                config.generic_xds_configs.append(item)
    return config


class Csds(csds_pb2_grpc.ClientStatusDiscoveryServiceServicer):  # type: ignore[misc]
    """Answers from the open streams, read on the event loop the streams run on."""

    def __init__(self, streams: Callable[[], Iterable[Stream]]) -> None:
        self._streams = streams

    def _status(
        self, request: csds_pb2.ClientStatusRequest, context: grpc.aio.ServicerContext
    ) -> csds_pb2.ClientStatusResponse:
        """The matching proxies' config. Over mTLS, only the proxies the caller's certificate
        names: a fleet certificate reads its own proxy's config, never its neighbours'."""
        mine = certificate_identities(context.auth_context())
        streams = sorted(self._streams(), key=lambda s: s.stream_id)
        return csds_pb2.ClientStatusResponse(
            config=[
                client_config(stream, contents=not request.exclude_resource_contents)
                for stream in streams
                if _matches(request, stream.node.id) and (mine is None or stream.node.id in mine)
            ]
        )

    async def FetchClientStatus(
        self, request: csds_pb2.ClientStatusRequest, context: grpc.aio.ServicerContext
    ) -> csds_pb2.ClientStatusResponse:
        return self._status(request, context)

    async def StreamClientStatus(
        self,
        requests: AsyncIterator[csds_pb2.ClientStatusRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[csds_pb2.ClientStatusResponse]:
        try:
            async for request in requests:
                yield self._status(request, context)
        finally:
            await close_requests(requests)
