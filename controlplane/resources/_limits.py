"""How big the xDS messages of a state are, and the refusal of a state Envoy cannot be sent.

gRPC caps every message weir sends (`XdsLimits.max_message_bytes`, 4 MiB by default). A
state-of-the-world response carries every resource of its type at once -- all clusters in one
CDS response, all virtual hosts in the one route configuration -- and a delta stream's first
response of a type carries them all too. A state whose responses do not fit could never reach
any proxy, nor could any later change, rollbacks included, until the state shrank. So the
controller asks `message_refusal` before it appends a batch, and refuses one that would make
any response larger than the cap (unless it makes nothing larger: a retirement or a rollback
of a state already too large still goes through).

The sizes are computed from the encoded resources with protobuf's framing, an upper bound of
the real messages: each resource as an `Any` (SotW) or a delta `Resource` with its name and
version, plus `ENVELOPE` bytes for the response's own fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controlplane.resources._build import Resources
from controlplane.resources._encoded import Encoded

ENVELOPE = 4096
"""The response's own fields (version, nonce, type URL, control plane, removed names): well
over what they take."""


@dataclass(frozen=True, slots=True)
class MessageSizes:
    """The largest message of each kind a state makes, in bytes."""

    clusters: int
    """All clusters in one response (a delta stream's first one; SotW's is smaller)."""
    routes: int
    """The route configuration with every virtual host inline (SotW)."""
    virtual_hosts: int
    """All virtual hosts in one response (a delta stream's first one, by VHDS)."""

    def largest(self) -> tuple[str, int]:
        named = {
            "clusters": self.clusters,
            "routes": self.routes,
            "virtual hosts": self.virtual_hosts,
        }
        kind = max(named, key=lambda k: named[k])
        return kind, named[kind]


def _total(resources: Iterable[Encoded]) -> int:
    return sum(r.size for r in resources)


def message_sizes(resources: Resources) -> MessageSizes:
    """The builder adds up the sizes of the clusters and virtual hosts as it assembles a
    snapshot (a change costs its own resources' sizes, not the mesh's); a snapshot made
    otherwise has them added up here."""
    clusters, virtual_hosts = resources.cluster_bytes, resources.vhost_bytes
    return MessageSizes(
        clusters=ENVELOPE
        + (clusters if clusters is not None else _total(resources.clusters.values())),
        routes=ENVELOPE + _total(resources.routes.values()),
        virtual_hosts=ENVELOPE
        + (
            virtual_hosts if virtual_hosts is not None else _total(resources.virtual_hosts.values())
        ),
    )


def message_refusal(after: Resources, before: Resources, max_bytes: int) -> str | None:
    """Why the state of `after` must not be appended, or None: one of its xDS responses would
    exceed `max_bytes`, and it is not smaller than `before`'s."""
    kind, size = message_sizes(after).largest()
    if size <= max_bytes:
        return None
    _, was = message_sizes(before).largest()
    if size <= was:
        return None  # shrinking (or not growing) a state that is too large already
    return (
        f"this would make weir's xDS response of {kind} {size:,} bytes, over the "
        f"{max_bytes:,}-byte message limit: no proxy could be sent that state, nor any later "
        "change; retire instances, or serve fewer services from this control plane"
    )
