"""A snapshot narrowed to the services one proxy calls: their clusters and virtual hosts only.

A sidecar that calls ten services of a thousand should hold ten services' worth of Envoy
configuration, not all of it (Envoy's memory grows with every cluster it holds). The proxy's
scope is a set of service names (controlplane.xds._scope says where it comes from); the scoped
snapshot holds those services' clusters, their virtual hosts (inline in the route
configuration `weir` for SotW, as VHDS resources for delta) and nothing else, so every route
it carries names only clusters it carries. Names of services that do not exist are left out
until they do.

A pure function of the snapshot and the scope, like the snapshot is of the state; given the
scoped snapshot made for the same scope before, it hands out that one's mappings where they
did not change, so that streams tell an unchanged set apart at a glance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from controlplane.resources._build import Resources, _field
from controlplane.resources._encoded import ROUTE_TYPE, Encoded, content_version
from controlplane.resources._listener import ROUTE_CONFIG_NAME


def scoped(
    snapshot: Resources, services: Iterable[str], earlier: Resources | None = None
) -> Resources:
    """`snapshot` with only `services`' resources; `earlier` is the last scoped snapshot of the
    same scope, whose unchanged mappings are reused."""
    parts = [snapshot.services[n] for n in sorted(set(services)) if n in snapshot.services]
    clusters: Mapping[str, Encoded] = {n: c for p in parts for n, c in p.clusters.items()}
    if earlier is not None and _same(clusters, earlier.clusters):
        clusters = earlier.clusters
    virtual_hosts: Mapping[str, Encoded] = {p.virtual_host.name: p.virtual_host for p in parts}
    if earlier is not None and _same(virtual_hosts, earlier.virtual_hosts):
        routes, cluster_refs = earlier.routes, earlier.cluster_refs
        virtual_hosts, vhost_refs = earlier.virtual_hosts, earlier.vhost_refs
    else:
        inline = Encoded.from_payload(
            ROUTE_CONFIG_NAME,
            ROUTE_TYPE,
            _field(1, ROUTE_CONFIG_NAME.encode()) + b"".join(p.framed for p in parts),
        )
        routes = {ROUTE_CONFIG_NAME: inline}
        cluster_refs = {ROUTE_CONFIG_NAME: frozenset[str]().union(*(p.refs for p in parts))}
        vhost_refs = {p.virtual_host.name: p.refs for p in parts}
    listing = "\n".join(
        [
            *(p.digest for p in parts),
            *(f"{n} {e.version}" for n, e in [*routes.items(), *snapshot.vhds_routes.items()]),
        ]
    )
    return Resources(
        clusters=clusters,
        routes=routes,
        cluster_refs=cluster_refs,
        vhds_routes=snapshot.vhds_routes,
        virtual_hosts=virtual_hosts,
        vhost_refs=vhost_refs,
        services={p.spec.name: p for p in parts},
        version=content_version(listing.encode()),
    )


def _same(a: Mapping[str, Encoded], b: Mapping[str, Encoded]) -> bool:
    return a.keys() == b.keys() and all(a[n] is b[n] for n in a)
