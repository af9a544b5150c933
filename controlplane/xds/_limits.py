"""The xDS port's limits (README, "Limits"): what gRPC enforces for us, ADS streams per client
address, per proxy and in all, and the size of the node a stream keeps."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from controlplane import defaults


@dataclass(frozen=True, slots=True)
class XdsLimits:
    max_message_bytes: int = defaults.XDS_MAX_MESSAGE_BYTES
    max_connection_age_s: float = defaults.XDS_MAX_CONNECTION_AGE_S
    max_connection_age_grace_s: float = defaults.XDS_MAX_CONNECTION_AGE_GRACE_S
    streams_per_peer: int = defaults.XDS_STREAMS_PER_PEER
    """ADS streams one client address may hold: a host running many proxies (sidecars behind
    one address) shares it."""
    streams_per_proxy: int = defaults.XDS_STREAMS_PER_PROXY
    """ADS streams one proxy (node id, from one address) may hold: Envoy holds one, two while
    it reconnects."""
    max_streams: int = defaults.XDS_MAX_STREAMS
    """ADS streams in all."""
    max_node_bytes: int = defaults.XDS_MAX_NODE_BYTES
    """The node a stream keeps for its life (Envoy's node without its extension list, which
    weir does not keep: metadata, locality, user agent...)."""
    first_reads: int = 16
    """Streams reading their first request at once (see FirstReads)."""
    first_reads_per_peer: int = 4
    first_request_timeout_s: float = 10
    """A stream's first request must arrive this soon after it opens."""
    streams_per_connection: int = 100
    """Concurrent streams on one HTTP/2 connection (an Envoy uses two: ADS and its metrics)."""
    handshake_timeout_s: float = 10
    """A connection that has not completed its TLS and HTTP/2 handshake by then is closed."""
    max_connections: int = defaults.XDS_MAX_CONNECTIONS
    """Open connections to the xDS port; further ones are refused by gRPC."""
    keepalive_s: float = 30
    """Ping an idle connection this often, and drop it if the ping is not answered in 10 s."""

    def grpc_options(self) -> list[tuple[str, Any]]:
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.keepalive_time_ms", int(self.keepalive_s * 1000)),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
            # gRPC core jitters the age itself, by a uniform factor in [0.9, 1.1] per connection
            # (kMaxConnectionAgeJitter in src/core/ext/filters/channel_idle/
            # legacy_channel_idle_filter.cc), so a fleet connected at once does not reconnect at
            # once; then it sends GOAWAY and closes the connection after the grace.
            ("grpc.max_connection_age_ms", int(self.max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", int(self.max_connection_age_grace_s * 1000)),
            # Channelz keeps a node per connection for a debugging service weir does not
            # register, so nobody could read it: memory per connection for nothing
            # (bench._bare_ads; bench/README.md, "Figures behind the code").
            ("grpc.enable_channelz", 0),
            # One writer per port: a second `weir serve` on the same address must fail to bind
            # rather than share the port (gRPC sets SO_REUSEPORT by default).
            ("grpc.so_reuseport", 0),
            ("grpc.max_concurrent_streams", self.streams_per_connection),
            ("grpc.server_handshake_timeout_ms", int(self.handshake_timeout_s * 1000)),
            ("grpc.max_allowed_incoming_connections", self.max_connections),
            # HTTP/2 windows stay at their initial size until the handler asks for a message:
            # with bandwidth-delay probing gRPC would take in whole messages nobody read yet.
            ("grpc.http2.bdp_probe", 0),
        ]


def peer_host(peer: str) -> str:
    """The client address of a gRPC peer string: ipv4:10.0.0.1:5555 → 10.0.0.1,
    ipv6:[::1]:5555 → ::1; anything else (unix sockets) as it is."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return peer


class StreamCaps:
    """Counts open ADS streams per client address, per proxy on an address and in all, and
    refuses those beyond a cap, so no one host (nor one proxy) can take every stream the
    server can hold, and a host running many proxies still gets one per proxy."""

    def __init__(self, limits: XdsLimits) -> None:
        self._limits = limits
        self._per_peer: Counter[str] = Counter()
        self._per_proxy: Counter[tuple[str, str]] = Counter()
        self._total = 0

    def admit(self, host: str) -> str | None:
        """Count a stream opening from `host`, or say why it is refused."""
        if self._total >= self._limits.max_streams:
            return f"weir holds {self._limits.max_streams} xDS streams, the most it accepts"
        if self._per_peer[host] >= self._limits.streams_per_peer:
            return (
                f"{host} already holds {self._limits.streams_per_peer} xDS streams, the most "
                "weir accepts from one address"
            )
        self._per_peer[host] += 1
        self._total += 1
        return None

    def admit_proxy(self, host: str, node_id: str) -> str | None:
        """Count an admitted stream as proxy `node_id`'s, or say why it is refused."""
        key = (host, node_id)
        if self._per_proxy[key] >= self._limits.streams_per_proxy:
            return (
                f"node {node_id[:64]!r} already holds {self._limits.streams_per_proxy} xDS "
                f"streams from {host}, the most weir accepts for one proxy"
            )
        self._per_proxy[key] += 1
        return None

    def release(self, host: str, node_id: str | None = None) -> None:
        """Forget a stream admitted from `host` (and counted for `node_id`, if it was)."""
        self._total -= 1
        _decrement(self._per_peer, host)
        if node_id is not None:
            _decrement(self._per_proxy, (host, node_id))


def _decrement(counter: Counter[Any], key: Any) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def node_refusal(node: Any, limits: XdsLimits) -> str | None:
    """Why a stream may not keep this node, or None. What counts is what a stream would keep:
    the node without Envoy's list of its extensions (nothing here reads it). Measured without
    copying anything."""
    extensions = sum(_framed(e.ByteSize()) for e in node.extensions)
    size = node.ByteSize() - extensions
    if size <= limits.max_node_bytes:
        return None
    metadata = node.metadata.ByteSize()
    return (
        f"the node (without its extension list) is {size:,} bytes, node.metadata {metadata:,} "
        f"of them: weir keeps at most {limits.max_node_bytes:,} bytes of a proxy's node"
    )


def _framed(length: int) -> int:
    """A repeated message field's bytes: its tag (one byte here), its length, the message."""
    return 1 + max(1, (length.bit_length() + 6) // 7) + length


class FirstReads:
    """How many streams may be reading their first request at once, in all and per address.

    gRPC buffers a whole message only when the handler asks for it, and a stream's first
    request is the one an unknown client chooses freely (up to the 4 MiB message cap: many
    streams with megabytes of node metadata each cost their sum in RSS when read at once).
    Reading first requests a few at a time, each within `first_request_timeout_s`, bounds
    that."""

    def __init__(self, limits: XdsLimits) -> None:
        self._limits = limits
        self._all = asyncio.Semaphore(limits.first_reads)
        self._per_peer: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold a slot to read a first request from `host`; TimeoutError if the read (and the
        wait for a slot) takes longer than the limit."""
        mine = self._per_peer.get(host)
        if mine is None:
            mine = self._per_peer[host] = asyncio.Semaphore(self._limits.first_reads_per_peer)
        try:
            async with asyncio.timeout(self._limits.first_request_timeout_s), mine, self._all:
                yield
        finally:
            if not mine.locked() and mine._value == self._limits.first_reads_per_peer:
                self._per_peer.pop(host, None)
