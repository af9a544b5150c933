"""What one proxy should hold, and the make-before-break rules that order how it gets there.

A proxy's view is the shared snapshot plus its own listener. The rules, applied per stream to
what that proxy has acknowledged:

- clusters: everything in the snapshot, plus every cluster a route the proxy still holds
  names — so a cluster leaves only after the route update that stops naming it is ACKed;
- routes: sent only once every cluster they name is ACKed — so a route never names a cluster
  the proxy does not have yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controlplane.resources import (
    CLUSTER_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    Encoded,
    Resources,
)


@dataclass(frozen=True, slots=True)
class ProxyView:
    version: str
    """The snapshot's version: the same state gives the same version, also after a restart."""
    resources: Mapping[str, Mapping[str, Encoded]]
    """type_url → name → resource."""
    route_refs: Mapping[str, frozenset[str]]

    @classmethod
    def of(cls, snapshot: Resources, listener: Encoded) -> ProxyView:
        return cls(
            version=snapshot.version,
            resources={
                CLUSTER_TYPE: snapshot.clusters,
                LISTENER_TYPE: {listener.name: listener},
                ROUTE_TYPE: snapshot.routes,
            },
            route_refs=snapshot.cluster_refs,
        )


@dataclass(slots=True)
class Held:
    """What the proxy is known to hold (ACKed), per type."""

    clusters: dict[str, Encoded | None]
    """Cluster name → the resource, or None when the proxy told us only the name (reconnect)."""
    route_refs: frozenset[str] | None
    """Clusters named by the routes the proxy holds; None while unknown (fresh stream)."""


def desired_clusters(view: ProxyView, held: Held) -> dict[str, Encoded | None]:
    """The clusters to hold now: the snapshot's, and any that held routes still name.

    While the held routes are unknown (after a reconnect, before our first route ACK), nothing
    the proxy reported holding is dropped.
    """
    desired: dict[str, Encoded | None] = dict(view.resources[CLUSTER_TYPE])
    keep = held.clusters.keys() if held.route_refs is None else held.route_refs
    for name in keep:
        if name not in desired and name in held.clusters:
            desired[name] = held.clusters[name]
    return desired


def desired(
    type_url: str, view: ProxyView, held: Held, names: set[str] | None
) -> dict[str, Encoded | None] | None:
    """What the proxy should hold of one type now, or None while routes must wait.

    `names` are the subscribed route configurations (None: all); clusters and listeners are
    wildcard subscriptions.
    """
    if type_url == CLUSTER_TYPE:
        return desired_clusters(view, held)
    if type_url == LISTENER_TYPE:
        return dict(view.resources[LISTENER_TYPE])
    if not routes_ready(view, names, held):
        return None
    routes = view.resources[ROUTE_TYPE]
    wanted = routes.keys() if names is None else names & routes.keys()
    return {name: routes[name] for name in sorted(wanted)}


def routes_ready(view: ProxyView, names: set[str] | None, held: Held) -> bool:
    """Whether every cluster the wanted route configurations name is held by the proxy."""
    wanted = view.route_refs.keys() if names is None else names & view.route_refs.keys()
    needed: set[str] = set()
    for name in wanted:
        needed |= view.route_refs[name]
    return needed <= held.clusters.keys()
