"""The xDS port's connection hygiene: what gRPC enforces for us, and streams per peer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from controlplane import defaults


@dataclass(frozen=True, slots=True)
class XdsLimits:
    max_message_bytes: int = defaults.XDS_MAX_MESSAGE_BYTES
    max_connection_age_s: float = defaults.XDS_MAX_CONNECTION_AGE_S
    max_connection_age_grace_s: float = defaults.XDS_MAX_CONNECTION_AGE_GRACE_S
    streams_per_peer: int = defaults.XDS_STREAMS_PER_PEER
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
            # register, so nobody could read it: 0.5 KB a connection (46.3 -> 45.7 KB with
            # 2,000 clients on bench._bare_ads with these options).
            ("grpc.enable_channelz", 0),
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


class PeerStreams:
    """Counts open streams per client address and refuses those beyond the cap, so one
    misbehaving host cannot take every stream the server can hold."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: Counter[str] = Counter()

    def admit(self, host: str) -> bool:
        if self._open[host] >= self.cap:
            return False
        self._open[host] += 1
        return True

    def release(self, host: str) -> None:
        self._open[host] -= 1
        if self._open[host] <= 0:
            del self._open[host]
