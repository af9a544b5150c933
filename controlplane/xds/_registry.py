"""Which proxies are connected, what each acknowledged, and what each rejected."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from controlplane.resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, VHOST_TYPE

TYPE_NAMES = {
    CLUSTER_TYPE: "clusters",
    LISTENER_TYPE: "listeners",
    ROUTE_TYPE: "routes",
    VHOST_TYPE: "virtual_hosts",
}


def type_name(type_url: str) -> str:
    return TYPE_NAMES.get(type_url, type_url.rsplit("/", 1)[-1])


@dataclass(frozen=True, slots=True)
class Nack:
    type: str
    version: str
    message: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ProxyStatus:
    stream_id: int
    node_id: str
    node_cluster: str
    protocol: str
    """`sotw` or `delta`."""
    peer: str
    connected_at: datetime
    admin: str | None = None
    """host:port of the proxy's admin, from node.metadata.weir_admin (None if not given)."""
    acked: dict[str, str] = field(default_factory=dict)
    """Per resource type (clusters, listeners, routes): the version the proxy last ACKed."""
    last_nack: Nack | None = None
    nacks: int = 0
    synced_version: str = ""
    """The last snapshot the proxy holds entirely (every response built from it ACKed, none
    NACKed since); empty until it first caught up."""
    behind_since: datetime | None = None
    """Since when the proxy lacks the current snapshot (publication of the first snapshot it
    has not caught up with, or its connection); None while it is in sync."""


class SentClusters(Protocol):
    """The clusters weir sent one proxy over one ADS stream (an open Stream is one)."""

    def sent(self, cluster: str) -> bool: ...
    def sent_count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Connection:
    """The ADS streams one proxy holds on one connection: what its metrics stream, which
    Envoy opens on the very same connection, may report on."""

    streams: tuple[SentClusters, ...]

    def sent(self, cluster: str) -> bool:
        return any(stream.sent(cluster) for stream in self.streams)

    def sent_count(self) -> int:
        return max(stream.sent_count() for stream in self.streams)


@dataclass(slots=True)
class _Record:
    """What the registry keeps of one stream: ProxyStatus's fields, changed in place as ACKs
    come (a frozen copy per ACK showed in the event loop's profile with thousands of
    streams)."""

    stream_id: int
    node_id: str
    node_cluster: str
    protocol: str
    peer: str
    connected_at: datetime
    admin: str | None
    behind_since: datetime | None
    acked: dict[str, str] = field(default_factory=dict)
    last_nack: Nack | None = None
    nacks: int = 0
    synced_version: str = ""
    clusters: SentClusters | None = None

    def status(self) -> ProxyStatus:
        fields = {f: getattr(self, f) for f in self.__slots__ if f != "clusters"}
        return ProxyStatus(**{**fields, "acked": dict(self.acked)})


class ProxyRegistry:
    """Live view of the fleet. Written only by the xDS streams, on the event loop."""

    def __init__(self) -> None:
        self._streams: dict[int, _Record] = {}
        self._connections: dict[tuple[str, str], list[int]] = {}
        """(peer, node id) → the ADS streams that proxy holds on that connection."""
        self._ids = itertools.count(1)
        self.current_version = ""
        """The version of the snapshot the xDS server serves now."""

    def published(self, version: str) -> None:
        self.current_version = version

    def connect(
        self,
        *,
        node_id: str,
        node_cluster: str,
        protocol: str,
        peer: str,
        admin: str | None = None,
        clusters: SentClusters | None = None,
    ) -> int:
        """Register a stream; `clusters` says which clusters it was sent (for the sink)."""
        stream_id = next(self._ids)
        self._streams[stream_id] = _Record(
            stream_id=stream_id,
            node_id=node_id,
            node_cluster=node_cluster,
            protocol=protocol,
            peer=peer,
            connected_at=(now := datetime.now(UTC)),
            admin=admin,
            behind_since=now,
            clusters=clusters,
        )
        self._connections.setdefault((peer, node_id), []).append(stream_id)
        return stream_id

    def disconnect(self, stream_id: int) -> None:
        record = self._streams.pop(stream_id, None)
        if record is not None:
            key = (record.peer, record.node_id)
            ids = [i for i in self._connections.get(key, ()) if i != stream_id]
            if ids:
                self._connections[key] = ids
            else:
                self._connections.pop(key, None)

    def connection(self, peer: str, node_id: str) -> Connection | None:
        """The ADS streams proxy `node_id` holds on connection `peer` (gRPC's peer string,
        the client's address and port), or None when it holds none there."""
        records = [self._streams[i] for i in self._connections.get((peer, node_id), ())]
        streams = tuple(r.clusters for r in records if r.clusters is not None)
        return Connection(streams) if streams else None

    def acked(self, stream_id: int, type_url: str, version: str) -> None:
        record = self._streams.get(stream_id)
        if record is not None:
            record.acked[type_name(type_url)] = version

    def nacked(self, stream_id: int, type_url: str, version: str, message: str) -> None:
        record = self._streams.get(stream_id)
        if record is not None:
            record.last_nack = Nack(type_name(type_url), version, message, datetime.now(UTC))
            record.nacks += 1

    def synced(self, stream_id: int, version: str) -> None:
        """The proxy now holds all of snapshot `version`."""
        record = self._streams.get(stream_id)
        if record is not None:
            record.synced_version = version
            record.behind_since = None

    def behind(self, stream_id: int, since: datetime) -> None:
        """The proxy lacks a snapshot published at `since` (kept if it was behind already)."""
        record = self._streams.get(stream_id)
        if record is not None and record.behind_since is None:
            record.behind_since = since

    def proxies(self) -> list[ProxyStatus]:
        """A copy of each connected proxy's status, by node id."""
        records = sorted(self._streams.values(), key=lambda r: (r.node_id, r.stream_id))
        return [record.status() for record in records]
