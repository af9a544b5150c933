"""State → Envoy resources, as a pure function. No I/O, no clock, no policy of its own.

Every instance that is not retired gets its own cluster `<service>--<id>`, so inactive ones stay
warm. Each service gets a virtual host; each of its routes splits over the live instances by
weight and mirrors to the shadow ones. The virtual hosts are served two ways:

- inline, all of them in one route configuration `weir`, for SotW streams (the only form SotW
  can carry: a route configuration is its smallest unit);
- for delta streams, by VHDS: the route configuration `weir` holds no virtual host but a `vhds`
  source (ADS), and each service's virtual host is its own resource `weir/<service>`.

Why VHDS rather than scoped RDS (a route configuration per service, chosen by :authority):
both make a one-instance weight change in a large mesh cost a delta proxy one small resource
instead of the whole route configuration (`python -m bench.mesh_scale`; bench/README.md has
the bytes). But scoped RDS picks a configuration by an exact header value:
the wildcard domains a service may list (`*.checkout.example`) and `host:port` authorities
(which `strip_any_host_port` handles for virtual hosts) would stop routing. VHDS keeps the
one-virtual-host-per-service model and its matching as they are. Envoy 1.40 subscribes to the
virtual hosts as soon as the route configuration arrives (a first request naming nothing) and
takes every one pushed: no on-demand filter is needed, and none is configured.

A `ResourceBuilder` remembers what it built per service; the next state re-encodes only the
services whose spec or instance records changed, and assembles the snapshot from the rest as
they were (see bench/README.md, mesh_scale, for what a build and a rebuild cost). The output
never depends on what was remembered: the same state gives the same bytes and versions.

A builder that knows weir's comparator serves its cluster `weir_compare` as one of the clusters
of each service with `compare` (resources/_compare.py): a proxy scoped to such a service holds
it, and it leaves the snapshot with the last of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from envoy.config.core.v3 import config_source_pb2
from envoy.config.route.v3 import route_pb2

from controlplane.model import ActivationState, Instance, InstanceState, ServiceSpec, State
from controlplane.resources._cluster import cluster, endpoint_cluster
from controlplane.resources._compare import COMPARE_CLUSTER
from controlplane.resources._encoded import (
    CLUSTER_TYPE,
    ROUTE_TYPE,
    VHOST_TYPE,
    Encoded,
    content_version,
    set_version,
)
from controlplane.resources._listener import ROUTE_CONFIG_NAME
from controlplane.resources._vhost import virtual_host


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


class InconsistentResources(Exception):
    """A route names a cluster the same snapshot does not hold. Never pushed."""


@dataclass(frozen=True, slots=True)
class Resources:
    """Clusters and routes of one state, each encoded once."""

    clusters: Mapping[str, Encoded]
    routes: Mapping[str, Encoded]
    """Route configurations with their virtual hosts inline (SotW)."""
    cluster_refs: Mapping[str, frozenset[str]]
    """For each inline route configuration, the clusters it names (weighted and mirrored)."""
    vhds_routes: Mapping[str, Encoded] = field(default_factory=_empty)
    """The same route configurations for delta streams: a `vhds` source, no virtual host."""
    virtual_hosts: Mapping[str, Encoded] = field(default_factory=_empty)
    """Each service's virtual host as a VHDS resource, named `<route configuration>/<service>`."""
    vhost_refs: Mapping[str, frozenset[str]] = field(default_factory=_empty)
    """For each of those virtual hosts, the clusters it names."""
    services: Mapping[str, ServiceResources] = field(default_factory=_empty)
    """Each service's own resources, for proxies scoped to the services they call."""
    called_by: Mapping[str, frozenset[str]] = field(default_factory=_empty)
    """Proxy group (node.cluster) → the services whose files name it among their callers."""
    version: str = ""
    """A hash over every resource's name and version: the same state, the same version.
    Worked out from the resources when not given (the builder gives it, made per service)."""
    cluster_bytes: int | None = None
    """The sizes (`Encoded.size`) of all clusters added up, when the builder kept count."""
    vhost_bytes: int | None = None
    """The same of all VHDS virtual hosts."""

    def __post_init__(self) -> None:
        if not self.version:
            every = [
                *self.clusters.values(),
                *self.routes.values(),
                *self.vhds_routes.values(),
                *self.virtual_hosts.values(),
            ]
            object.__setattr__(self, "version", set_version(every))

    def consistent(self) -> None:
        for refs_by_name in (self.cluster_refs, self.vhost_refs):
            for name, refs in refs_by_name.items():
                missing = sorted(r for r in refs if r not in self.clusters)
                if missing:
                    raise InconsistentResources(
                        f"route configuration {name!r} names clusters that do not exist: "
                        + ", ".join(missing)
                    )


@dataclass(frozen=True, slots=True)
class _VirtualHost:
    """One service's virtual host, encoded both ways, and what it was made from."""

    spec: ServiceSpec
    inputs: tuple[tuple[object, ...], ...]
    resource: Encoded
    """The VHDS resource `weir/<service>`."""
    framed: bytes
    """The same virtual host named `<service>`, framed as a field of the inline configuration."""
    refs: frozenset[str]


@dataclass(frozen=True, slots=True)
class ServiceResources:
    """One service's resources, and the state they were built from."""

    spec: ServiceSpec
    records: Sequence[InstanceState]
    """Its instances' records as the state held them (compared by identity: the fold replaces
    a record when it changes, so the same objects mean the same resources)."""
    clusters: Mapping[str, Encoded]
    """Name → cluster of each instance that is not retired, in name order."""
    vhost: _VirtualHost
    digest: str
    """A hash of the names and versions of its clusters and virtual host: its share of the
    snapshot's version."""

    @property
    def virtual_host(self) -> Encoded:
        """The VHDS resource `weir/<service>`."""
        return self.vhost.resource

    @property
    def framed(self) -> bytes:
        """The virtual host as a field of an inline route configuration."""
        return self.vhost.framed

    @property
    def refs(self) -> frozenset[str]:
        """The clusters its virtual host names."""
        return self.vhost.refs


class ResourceBuilder:
    """`build_resources` with a memory of what it built for the previous state.

    A service whose spec and instance records are the very objects it built from last time
    keeps all it had (its clusters, its virtual host, its share of the version), so a change
    re-encodes its own service and the build costs a pass over the services' records, not a
    re-encoding of the mesh. The output never depends on what was remembered: the same state
    gives the same bytes and versions either way.

    Told which services a state changed since the one it built last (`after`), it looks at
    those alone: the controller's check of each write then costs the write's services.

    Safe to call from several threads: each build reads the memory as it found it and installs
    its own at the end, so a race costs re-encoding, never a wrong byte.
    """

    def __init__(self, *, comparator: tuple[str, int] | None = None) -> None:
        """With `comparator` (host, port: weir's comparator as the proxies reach it), services
        with `compare` mirror to it (resources/_compare.py) and hold its cluster."""
        self._comparator = None if comparator is None else _encode_comparator_cluster(*comparator)
        self._memory: tuple[State, Resources] | None = None
        """The state built last, and its resources."""

    def __call__(self, state: State) -> Resources:
        memory = self._memory
        if memory is not None and memory[0] is state:
            return memory[1]
        return self._build(state, memory[1] if memory is not None else None, None)

    def after(self, before: State, state: State, services: Iterable[str]) -> Resources:
        """The resources of `state`, which is `before` with entries folded in that touched no
        service but `services`; as `self(state)`, but when `before` is the state built last,
        only those services are looked at."""
        memory = self._memory
        if memory is None or memory[0] is not before:
            return self(state)
        if state is before:
            return memory[1]
        return self._build(state, memory[1], sorted(set(services)))

    def _build(self, state: State, last: Resources | None, only: list[str] | None) -> Resources:
        """`only`: the services that may differ from `last`'s (None: any of them)."""
        known: Mapping[str, ServiceResources] = last.services if last is not None else {}
        services: dict[str, ServiceResources] = {}
        rebuilt: list[tuple[ServiceResources | None, ServiceResources]] = []
        vhosts_changed = last is None or len(known) != len(state.services)
        service_records = state.service_records
        names = sorted(state.services)
        if only is not None:
            if any(name not in state.services for name in only):
                return self._build(state, last, None)  # a service left: a pass over them all
            services = dict(known)
            names = only
        for name in names:
            spec, records = state.services[name], service_records.get(name, ())
            before = known.get(name)
            # The fold makes a service's records again only when they change, so an unchanged
            # service is told by identity; equal records (another ledger's) make the same
            # resources all the same.
            if (
                before is not None
                and before.spec is spec
                and (before.records is records or before.records == records)
            ):
                services[name] = before
                continue
            built = services[name] = _build_service(spec, records, before, self._comparator)
            rebuilt.append((before, built))
            vhosts_changed |= before is None or built.virtual_host is not before.virtual_host
        if only is not None and len(services) != len(known):
            services = dict(sorted(services.items()))  # a new service: in name order again
        if any(name not in services for name in known):
            last = None  # a state of another ledger: nothing of the last build to start from
        if last is not None and not rebuilt:
            self._memory = (state, last)
            return last  # the very same resources (an entry that touched no service)
        resources = _assemble(services, last, rebuilt, vhosts_changed)
        if last is None:
            resources.consistent()
        else:
            _consistent(resources, rebuilt)
        self._memory = (state, resources)
        return resources


def _consistent(
    resources: Resources, rebuilt: list[tuple[ServiceResources | None, ServiceResources]]
) -> None:
    """`Resources.consistent` for a snapshot assembled from a consistent one: only the rebuilt
    services' routes can name a cluster that is not there (a service's routes name its own
    clusters, and the comparator's stays while any service names it)."""
    for _, service in rebuilt:
        missing = sorted(r for r in service.refs if r not in resources.clusters)
        if missing:
            raise InconsistentResources(
                f"virtual host {service.virtual_host.name!r} names clusters that do not exist: "
                + ", ".join(missing)
            )


def _build_service(
    spec: ServiceSpec,
    records: tuple[InstanceState, ...],
    before: ServiceResources | None,
    comparator: Encoded | None,
) -> ServiceResources:
    known = before.clusters if before is not None else {}
    # A cluster is made of its instance alone, and an instance never changes; but the builder
    # may last have seen another ledger (a test's, a replica's restore) where the same name was
    # another instance, so a cluster is kept only when it was built from an equal instance.
    built_from = {r.instance.cluster_name: r.instance for r in before.records} if before else {}
    made: dict[str, Encoded] = {}
    for record in records:
        if record.state is not ActivationState.RETIRED:
            name = record.instance.cluster_name
            kept = known.get(name)
            same = kept is not None and built_from.get(name) == record.instance
            made[name] = kept if kept is not None and same else _encode_cluster(record.instance)
    if comparator is not None and spec.compare is not None:
        made[COMPARE_CLUSTER] = comparator  # one object, shared by every compared service
    clusters: Mapping[str, Encoded] = dict(sorted(made.items()))
    if before is not None and _same_encoded(clusters, before.clusters):
        clusters = before.clusters  # the same mapping: streams tell it apart at a glance
    inputs = tuple(_inputs(record) for record in records)
    if (
        before is not None
        and before.vhost.inputs == inputs
        and (before.spec is spec or before.spec == spec)
    ):
        vhost = before.vhost
    else:
        vhost = _encode_vhost(spec, records, inputs, comparator is not None)
        if before is not None and vhost.resource == before.vhost.resource:
            # The same bytes (an inactive instance came or went): the same resource object,
            # so the snapshot's routes are not assembled again.
            old = before.vhost
            vhost = _VirtualHost(spec, inputs, old.resource, old.framed, old.refs)
    listing = "\n".join(
        f"{n} {e.version}" for n, e in [*clusters.items(), (vhost.resource.name, vhost.resource)]
    )
    return ServiceResources(spec, records, clusters, vhost, content_version(listing.encode()))


def _same_encoded(a: Mapping[str, Encoded], b: Mapping[str, Encoded]) -> bool:
    return a.keys() == b.keys() and all(a[n] is b[n] for n in a)


def _assemble(
    services: dict[str, ServiceResources],
    last: Resources | None,
    rebuilt: list[tuple[ServiceResources | None, ServiceResources]],
    vhosts_changed: bool,
) -> Resources:
    clusters, cluster_bytes = _clusters(services, last, rebuilt)
    if last is not None and not vhosts_changed:
        routes, cluster_refs = last.routes, last.cluster_refs
        virtual_hosts, vhost_refs = last.virtual_hosts, last.vhost_refs
        vhost_bytes = last.vhost_bytes
    else:
        inline = Encoded.from_payload(
            ROUTE_CONFIG_NAME,
            ROUTE_TYPE,
            _field(1, ROUTE_CONFIG_NAME.encode()) + b"".join(map(_FRAMED, services.values())),
        )
        every_ref: frozenset[str] = frozenset().union(*map(_REFS, services.values()))
        routes, cluster_refs = {ROUTE_CONFIG_NAME: inline}, {ROUTE_CONFIG_NAME: every_ref}
        virtual_hosts, vhost_refs, vhost_bytes = _virtual_hosts(services, last, rebuilt)
    listing = "\n".join(
        [
            *map(_DIGEST, services.values()),
            *(f"{n} {e.version}" for n, e in [*routes.items(), *_VHDS_ROUTES.items()]),
        ]
    )
    return Resources(
        clusters=clusters,
        routes=routes,
        cluster_refs=cluster_refs,
        vhds_routes=_VHDS_ROUTES,
        virtual_hosts=virtual_hosts,
        vhost_refs=vhost_refs,
        services=services,
        called_by=_called_by(services, last, rebuilt),
        version=content_version(listing.encode()),
        cluster_bytes=cluster_bytes,
        vhost_bytes=vhost_bytes,
    )


_FRAMED = attrgetter("vhost.framed")
_REFS = attrgetter("vhost.refs")
_DIGEST = attrgetter("digest")


def _called_by(
    services: dict[str, ServiceResources],
    last: Resources | None,
    rebuilt: list[tuple[ServiceResources | None, ServiceResources]],
) -> Mapping[str, frozenset[str]]:
    """Proxy group → the services that name it among their callers: the last build's, unless a
    rebuilt service names callers it did not before (a service that left makes `last` None)."""
    if last is not None and all(
        (before.spec.callers if before is not None else ()) == after.spec.callers
        for before, after in rebuilt
    ):
        return last.called_by
    called_by: dict[str, set[str]] = {}
    for name, service in services.items():
        for group in service.spec.callers:
            called_by.setdefault(group, set()).add(name)
    return {group: frozenset(names) for group, names in called_by.items()}


def _virtual_hosts(
    services: dict[str, ServiceResources],
    last: Resources | None,
    rebuilt: list[tuple[ServiceResources | None, ServiceResources]],
) -> tuple[dict[str, Encoded], dict[str, frozenset[str]], int]:
    """Every VHDS virtual host by name (in name order, whatever was built before), what each
    names, and their sizes added up: the last build's with the rebuilt services' changes (a
    service that came is put in its place by a pass over all; one that left makes a fresh
    build)."""
    if last is None or last.vhost_bytes is None or any(b is None for b, _ in rebuilt):
        virtual_hosts = {s.virtual_host.name: s.virtual_host for s in services.values()}
        vhost_refs = {s.virtual_host.name: s.refs for s in services.values()}
        return virtual_hosts, vhost_refs, sum(v.size for v in virtual_hosts.values())
    virtual_hosts, vhost_refs = dict(last.virtual_hosts), dict(last.vhost_refs)
    size = last.vhost_bytes
    for _, service in rebuilt:
        vhost = service.virtual_host
        old = virtual_hosts.get(vhost.name)
        if old is not vhost:
            size += vhost.size - (old.size if old is not None else 0)
            virtual_hosts[vhost.name] = vhost
            vhost_refs[vhost.name] = service.refs
    return virtual_hosts, vhost_refs, size


def _clusters(
    services: dict[str, ServiceResources],
    last: Resources | None,
    rebuilt: list[tuple[ServiceResources | None, ServiceResources]],
) -> tuple[Mapping[str, Encoded], int]:
    """Every cluster by name (in no particular order), and their sizes added up: the last
    build's with the rebuilt services' changes, or, when none changed, the last build's very
    mapping, so that each stream can tell at a glance that they did not change (see
    DeltaSession, SotwSession)."""
    if last is None or last.cluster_bytes is None:
        every = {name: c for s in services.values() for name, c in s.clusters.items()}
        return every, sum(c.size for c in every.values())
    changed = [(b, a) for b, a in rebuilt if b is None or a.clusters is not b.clusters]
    if not changed:
        return last.clusters, last.cluster_bytes
    clusters = dict(last.clusters)
    size = last.cluster_bytes
    for before, after in changed:
        for name in before.clusters if before is not None else ():
            if name not in after.clusters and (gone := clusters.pop(name, None)) is not None:
                size -= gone.size
        for name, encoded in after.clusters.items():
            old = clusters.get(name)
            if old is not encoded:
                size += encoded.size - (old.size if old is not None else 0)
                clusters[name] = encoded
    if COMPARE_CLUSTER in last.clusters and COMPARE_CLUSTER not in clusters:
        # the comparator's is every compared service's: gone only with the last of them
        for service in services.values():
            if COMPARE_CLUSTER in service.clusters:
                clusters[COMPARE_CLUSTER] = service.clusters[COMPARE_CLUSTER]
                size += clusters[COMPARE_CLUSTER].size
                break
    return clusters, size


def build_resources(state: State) -> Resources:
    """The resources of `state`, built from nothing: for a one-off build. What builds state
    after state (the controller, the xDS server it feeds) keeps a ResourceBuilder of its own."""
    return ResourceBuilder()(state)


def _inputs(record: InstanceState) -> tuple[object, ...]:
    """All of an instance that its service's virtual host depends on."""
    activation = record.activation
    return (
        record.instance.id,
        record.instance.version,
        activation.state,
        activation.weight,
        activation.mirror_percent,
    )


def _encode_cluster(instance: Instance) -> Encoded:
    name = instance.cluster_name
    payload = cluster(instance, name).SerializeToString(deterministic=True)
    return Encoded.from_payload(name, CLUSTER_TYPE, payload)


def _encode_comparator_cluster(host: str, port: int) -> Encoded:
    payload = endpoint_cluster(COMPARE_CLUSTER, host, port).SerializeToString(deterministic=True)
    return Encoded.from_payload(COMPARE_CLUSTER, CLUSTER_TYPE, payload)


def _encode_vhost(
    spec: ServiceSpec,
    instances: Sequence[InstanceState],
    inputs: tuple[tuple[object, ...], ...],
    comparator: bool,
) -> _VirtualHost:
    message, refs = virtual_host(spec, instances, comparator=comparator)
    # The name is field 1 and comes first in a deterministic encoding, so one encoding of the
    # rest serves both names, byte for byte what encoding each named message would give.
    body = message.SerializeToString(deterministic=True)
    vhds_name = f"{ROUTE_CONFIG_NAME}/{spec.name}"
    # Envoy keys VHDS virtual hosts by their own name and removes them by resource name: the two
    # must be the same.
    resource = Encoded.from_payload(vhds_name, VHOST_TYPE, _field(1, vhds_name.encode()) + body)
    framed = _field(2, _field(1, spec.name.encode()) + body)
    return _VirtualHost(spec, inputs, resource, framed, refs)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field: its tag, its length, its bytes."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes((n,)) for n in range(0x80)]


def _vhds_route_config() -> Encoded:
    """`weir` for delta streams: its virtual hosts come by VHDS over the same ADS stream."""
    config = route_pb2.RouteConfiguration(name=ROUTE_CONFIG_NAME)
    source = config.vhds.config_source
    source.ads.SetInParent()
    source.resource_api_version = config_source_pb2.V3
    return Encoded.of(ROUTE_CONFIG_NAME, config)


_VHDS_ROUTE_CONFIG = _vhds_route_config()
_VHDS_ROUTES: Mapping[str, Encoded] = MappingProxyType({ROUTE_CONFIG_NAME: _VHDS_ROUTE_CONFIG})
