"""The outcome header, learnt through Envoy's gRPC access-log service on weir's xDS port.

Every listener weir builds logs the requests of services with header objectives
(resources/_business.py): each entry names the upstream cluster (the instance) and carries
the outcome header's value in dynamic metadata. This receiver folds them into cumulative
counts per instance and objective (`AccessLogOutcomes.read`).

What arrives here is hostile until shown otherwise:

- *Who.* A stream speaks for the node its first message names, once. Envoy opens access-log
  streams from its worker threads, each on a connection of its own (measured with Envoy 1.40:
  never the connection of the ADS stream or of the metrics sink, which run on the main thread),
  so the metrics sink's binding to the ADS stream's very connection cannot apply. The binding
  here is the next best thing the same registry gives: the node must hold an ADS stream from
  the same host (waiting up to `bind_wait_s` for it), and over mTLS the certificate must name
  it (`require_identity`, as every other stream on the port). A stream that fails either is
  ended (UNAUTHENTICATED / PERMISSION_DENIED) and nothing it sent counts.
- *What.* Only entries for instance clusters of services that read the outcome header count,
  and only the keys their objectives name; a malformed header counts as an answer without
  any event (see `_header`).
- *How much.* Each node may log at most `max_entries_per_s` entries a second on average
  (a token bucket, `burst` seconds deep); beyond it entries are dropped and counted. A message
  with more than `max_entries_per_message` entries ends the stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from envoy.service.accesslog.v3 import als_pb2

from controlplane.model import Outcomes, ServiceSpec, State, instance_of_cluster
from controlplane.outcomes._book import Book, request_counts
from controlplane.outcomes._header import Malformed, parse_outcome
from controlplane.xds import require_identity

log = logging.getLogger(__name__)

SERVICE = "envoy.service.accesslog.v3.AccessLogService"
METHOD = "StreamAccessLogs"
NAMESPACE = "weir.outcome"
KEY = "outcome"
MAX_NODE_ID = 1024
FORGET_AFTER_S = 600.0


@dataclass(frozen=True, slots=True)
class AccessLogLimits:
    max_entries_per_s: float = 20_000
    """Entries one node may send per second on average (with a 1% sample, 2 M requests/s)."""
    burst_s: float = 5.0
    max_entries_per_message: int = 20_000
    bind_wait_s: float = 5.0
    """How long a stream may wait for its node's ADS stream from the same host."""


class Directory(Protocol):
    """Which proxies hold ADS streams, from where (the xDS server's ProxyRegistry)."""

    def proxies(self) -> list[Any]: ...


class _Refused(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Bucket:
    def __init__(self, rate: float, depth: float, now: float) -> None:
        self._rate, self._depth = rate, depth
        self._tokens, self._at = depth, now

    def idle_since(self, now: float) -> float:
        return now - self._at

    def take(self, count: int, now: float) -> int:
        """How many of `count` entries fit (the rest are dropped)."""
        self._tokens = min(self._depth, self._tokens + (now - self._at) * self._rate)
        self._at = now
        taken = min(count, int(self._tokens))
        self._tokens -= taken
        return taken


def host_of(peer: str) -> str:
    """`ipv4:127.0.0.1:33428` -> `ipv4:127.0.0.1` (gRPC's peer string without the port)."""
    return peer.rpartition(":")[0]


class AccessLogOutcomes:
    """The receiving end of the access log and an outcome source over what it received."""

    def __init__(
        self,
        state: Callable[[], State],
        *,
        directory: Directory | None,
        limits: AccessLogLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state = state
        self._directory = directory
        self.limits = limits or AccessLogLimits()
        self._clock = clock
        self._book = Book()
        self._buckets: dict[str, _Bucket] = {}
        self._kept_for: State | None = None
        self.entries = 0
        self.dropped: Counter[str] = Counter()
        """Entries not counted, by why."""
        self.malformed: Counter[str] = Counter()
        """Per instance cluster: answers whose outcome header did not read."""

    async def read(self, state: State) -> Outcomes:
        if self._kept_for is not state:  # the clusters that exist change with the state only
            self._book.keep({r.instance.cluster_name for r in state.instances.values()})
            self._kept_for = state
        now = self._clock()
        for node_id, bucket in list(self._buckets.items()):
            if bucket.idle_since(now) > FORGET_AFTER_S:
                del self._buckets[node_id]  # a proxy long gone: its bucket was full anyway
        return self._book.snapshot()

    def receive(self, node_id: str, entries: Any) -> None:
        """Fold one message's HTTP log entries from proxy `node_id`."""
        state = self._state()
        bucket = self._buckets.get(node_id)
        now = self._clock()
        if bucket is None:
            bucket = self._buckets[node_id] = _Bucket(
                self.limits.max_entries_per_s,
                self.limits.max_entries_per_s * self.limits.burst_s,
                now,
            )
        allowed = bucket.take(len(entries), now)
        if allowed < len(entries):
            self.dropped["rate"] += len(entries) - allowed
        specs: dict[str, ServiceSpec | None] = {}
        for entry in list(entries)[:allowed]:
            common = entry.common_properties
            cluster = common.upstream_cluster
            if cluster not in specs:
                specs[cluster] = _spec_of(state, cluster)
            spec = specs[cluster]
            if spec is None:
                self.dropped["cluster"] += 1
                continue
            fields = common.metadata.filter_metadata[NAMESPACE].fields
            text = fields[KEY].string_value if KEY in fields else ""
            try:
                values = parse_outcome(text)
            except Malformed:
                self.malformed[cluster] += 1
                values = {}
            for objective in spec.objectives:
                if objective.source.header is not None:
                    value = values.get(objective.source.header, 0.0)
                    self._book.add(cluster, objective.name, request_counts(objective.kind, value))
            self.entries += 1

    # The gRPC side.

    def handler(self) -> Any:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                METHOD: grpc.stream_unary_rpc_method_handler(
                    self._stream,
                    request_deserializer=als_pb2.StreamAccessLogsMessage.FromString,
                    response_serializer=als_pb2.StreamAccessLogsResponse.SerializeToString,
                )
            },
        )

    async def _stream(
        self, messages: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> als_pb2.StreamAccessLogsResponse:
        node_id = ""
        peer = context.peer()
        try:
            async for message in messages:
                if message.HasField("identifier") and message.identifier.node.id:
                    named = message.identifier.node.id
                    if node_id and named != node_id:
                        raise _Refused(
                            grpc.StatusCode.PERMISSION_DENIED,
                            f"an access-log stream speaks for one proxy: it named {node_id!r}, "
                            f"then {named[:64]!r}",
                        )
                    if not node_id:
                        if len(named) > MAX_NODE_ID or not named.isprintable():
                            raise _Refused(
                                grpc.StatusCode.INVALID_ARGUMENT,
                                f"identifier.node.id must be at most {MAX_NODE_ID} printable "
                                "characters",
                            )
                        await require_identity(context, named)
                        await self._bind(peer, named)
                        node_id = named
                if not node_id:
                    raise _Refused(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        "the first message of an access-log stream must carry identifier.node.id",
                    )
                entries = message.http_logs.log_entry
                if len(entries) > self.limits.max_entries_per_message:
                    raise _Refused(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"{len(entries)} entries in one message, more than "
                        f"{self.limits.max_entries_per_message}",
                    )
                self.receive(node_id, entries)
        except _Refused as refused:
            self.dropped[refused.code.name.lower()] += 1
            log.warning("access log from %s refused: %s", node_id or peer, refused)
            await context.abort(refused.code, str(refused))
        return als_pb2.StreamAccessLogsResponse()

    async def _bind(self, peer: str, node_id: str) -> None:
        host = host_of(peer)
        waited, step = 0.0, 0.05
        while True:
            proxies = self._directory.proxies() if self._directory is not None else []
            if any(p.node_id == node_id and host_of(p.peer) == host for p in proxies):
                return
            if waited >= self.limits.bind_wait_s:
                raise _Refused(
                    grpc.StatusCode.UNAUTHENTICATED,
                    f"no ADS stream of node {node_id[:64]!r} from {host}: weir takes a proxy's "
                    "access logs only from the host of its ADS stream",
                )
            await asyncio.sleep(step)
            waited += step


def _spec_of(state: State, cluster: str) -> ServiceSpec | None:
    """The spec of the service whose instance `cluster` is, if it reads the outcome header."""
    named = instance_of_cluster(cluster)
    if named is None:
        return None
    service, instance_id = named
    record = state.instances.get(instance_id)
    if record is None or record.instance.service != service:
        return None
    spec = state.services.get(service)
    if spec is None or not any(o.source.header is not None for o in spec.objectives):
        return None
    return spec
