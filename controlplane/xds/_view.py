"""What one proxy should hold, and the make-before-break rules that order how it gets there.

A proxy's view is the shared snapshot plus its own listener, in the form its protocol carries:
SotW streams get the route configuration with every virtual host inline; delta streams get it
with a `vhds` source and each virtual host as its own resource, so that a change to one service
sends that service's virtual host alone. The rules, applied per stream to what that proxy has
acknowledged:

- clusters: everything in the snapshot, plus every cluster a route the proxy still holds (or
  was sent and may apply any moment) names — so a cluster leaves only after the route update
  that stops naming it is ACKed, and never while a route naming it is on its way;
- routes (route configurations and virtual hosts): sent only once every cluster they name is
  ACKed — so a route never names a cluster the proxy does not have yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controlplane.resources import (
    CLUSTER_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    VHOST_TYPE,
    Encoded,
    Resources,
)

ROUTING_TYPES = (ROUTE_TYPE, VHOST_TYPE)
"""The types whose resources name clusters, and whose names a proxy subscribes to."""
WILDCARD = "*"
"""The name that subscribes to every resource of a type, beside any named ones."""


@dataclass(frozen=True, slots=True)
class ProxyView:
    version: str
    """The snapshot's version: the same state gives the same version, also after a restart."""
    resources: Mapping[str, Mapping[str, Encoded]]
    """type_url → name → resource."""
    route_refs: Mapping[str, frozenset[str]]
    """Route configuration or virtual host name → the clusters it names (absent: none)."""
    vhds: bool = False
    """Whether the virtual hosts come by VHDS (delta) rather than inline (SotW)."""

    @classmethod
    def of(cls, snapshot: Resources, listener: Encoded, protocol: str = "sotw") -> ProxyView:
        """The view for a stream speaking `protocol` ("sotw" or "delta").

        A delta stream gets VHDS once there is a virtual host to send: Envoy holds its
        listener back until its first VHDS update, and an empty answer does not count as one.
        """
        if protocol == "delta" and snapshot.virtual_hosts:
            return cls(
                version=snapshot.version,
                resources={
                    CLUSTER_TYPE: snapshot.clusters,
                    LISTENER_TYPE: {listener.name: listener},
                    ROUTE_TYPE: snapshot.vhds_routes,
                    VHOST_TYPE: snapshot.virtual_hosts,
                },
                # The VHDS route configuration names no cluster; its virtual hosts do.
                route_refs=snapshot.vhost_refs,
                vhds=True,
            )
        return cls(
            version=snapshot.version,
            resources={
                CLUSTER_TYPE: snapshot.clusters,
                LISTENER_TYPE: {listener.name: listener},
                ROUTE_TYPE: snapshot.routes,
            },
            route_refs=snapshot.cluster_refs,
        )

    def refs(self, name: str) -> frozenset[str]:
        return self.route_refs.get(name, frozenset())


@dataclass(slots=True)
class Held:
    """What the proxy is known to hold (ACKed), per type."""

    clusters: dict[str, Encoded | None]
    """Cluster name → the resource, or None when the proxy told us only the name (reconnect)."""
    route_refs: frozenset[str] | None
    """Clusters named by the routes the proxy holds; None while unknown (fresh stream)."""
    pending_refs: frozenset[str] = frozenset()
    """Clusters named by routes sent and not answered yet: the proxy may hold them any moment."""


def desired_clusters(view: ProxyView, held: Held) -> dict[str, Encoded | None]:
    """The clusters to hold now: the snapshot's, and any that held or in-flight routes name.

    While the held routes are unknown (after a reconnect, before our first route ACK), nothing
    the proxy reported holding is dropped.
    """
    desired: dict[str, Encoded | None] = dict(view.resources[CLUSTER_TYPE])
    if held.route_refs is None:
        keep: Iterable[str] = held.clusters.keys()
    else:
        keep = held.route_refs | held.pending_refs
    for name in keep:
        if name not in desired and name in held.clusters:
            desired[name] = held.clusters[name]
    return desired


@dataclass(frozen=True, slots=True)
class ClusterInputs:
    """Everything a stream's clusters are worked out from, beside its own requests.

    A session that found nothing to send for these inputs skips the clusters while they stay
    the same: at 5,000 clusters, comparing every version costs a millisecond a stream. The
    builder hands out the very same mapping while the clusters do not change, so a weight
    change is told apart at a glance.
    """

    clusters: Mapping[str, Encoded]
    route_refs: frozenset[str] | None
    pending_refs: frozenset[str]
    requests: int
    """How many requests of the type the session had taken in (each may change what is held)."""

    @classmethod
    def of(cls, view: ProxyView, held: Held, requests: int) -> ClusterInputs:
        return cls(view.resources[CLUSTER_TYPE], held.route_refs, held.pending_refs, requests)

    def same_as(self, other: ClusterInputs | None) -> bool:
        return (
            other is not None
            and self.clusters is other.clusters
            and self.requests == other.requests
            and self.route_refs == other.route_refs
            and self.pending_refs == other.pending_refs
        )


def wanted_names(type_url: str, view: ProxyView, names: set[str] | None) -> list[str]:
    """The names of one routing type the proxy asks for and the snapshot has, in order.

    `names` are the subscribed names (None or `*` among them: all). A virtual host may also be
    asked for by its namespace, the name of its route configuration: `weir` for `weir/<host>`.
    """
    available = view.resources.get(type_url, {})
    if names is None or WILDCARD in names:
        return sorted(available)
    if type_url != VHOST_TYPE:
        return sorted(names & available.keys())
    return sorted(n for n in available if n in names or n.rpartition("/")[0] in names)


def desired(
    type_url: str, view: ProxyView, held: Held, names: set[str] | None
) -> dict[str, Encoded | None] | None:
    """What the proxy should hold of one type now, or None while routes must wait.

    `names` are the subscribed route configurations or virtual hosts (None: all); clusters and
    listeners are wildcard subscriptions.
    """
    if type_url == CLUSTER_TYPE:
        return desired_clusters(view, held)
    if type_url == LISTENER_TYPE:
        return dict(view.resources[LISTENER_TYPE])
    wanted = wanted_names(type_url, view, names)
    if not routes_ready(view, wanted, held):
        return None
    resources = view.resources.get(type_url, {})
    return {name: resources[name] for name in wanted}


def routes_ready(view: ProxyView, wanted: list[str], held: Held) -> bool:
    """Whether every cluster the wanted routing resources name is held by the proxy."""
    return all(
        cluster in held.clusters for name in wanted for cluster in view.route_refs.get(name, ())
    )
