"""State → Envoy resources, as a pure function. No I/O, no clock, no policy of its own.

Every instance that is not retired gets its own cluster `<service>--<id>`, so inactive ones stay
warm. Each service gets a virtual host; each of its routes splits over the live instances by
weight and mirrors to the shadow ones. The virtual hosts are served two ways:

- inline, all of them in one route configuration `weir`, for SotW streams (the only form SotW
  can carry: a route configuration is its smallest unit);
- for delta streams, by VHDS: the route configuration `weir` holds no virtual host but a `vhds`
  source (ADS), and each service's virtual host is its own resource `weir/<service>`.

Why VHDS rather than scoped RDS (a route configuration per service, chosen by :authority):
`python -m bench.mesh_scale` measured a one-instance weight change at 1,000 services x 5
instances as one 352-byte delta response instead of 177 KB with the one route configuration;
scoped RDS would send 384 bytes. But scoped RDS picks a configuration by an exact header value:
the wildcard domains a service may list (`*.checkout.example`) and `host:port` authorities
(which `strip_any_host_port` handles for virtual hosts) would stop routing. VHDS keeps the
one-virtual-host-per-service model and its matching as they are. Envoy 1.40 subscribes to the
virtual hosts as soon as the route configuration arrives (a first request naming nothing) and
takes every one pushed: no on-demand filter is needed, and none is configured.

Building 1,000 x 5 from nothing takes 65-85 ms of CPU; a `ResourceBuilder` also remembers the
encoded cluster of each instance and the encoded virtual host of each service, keyed by all
they are made of, so the next state re-encodes only what differs (~10 ms for the whole build
after a one-instance change). The output never depends on what was remembered: the same state
gives the same bytes and versions either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    version: str = field(init=False)
    """A hash over every resource's name and version: the same state, the same version."""

    def __post_init__(self) -> None:
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


class ResourceBuilder:
    """`build_resources` with a memory of the pieces it encoded for the previous state.

    Safe to call from several threads: each build reads the memory as it found it and installs
    its own pieces at the end, so a race costs re-encoding, never a wrong byte.
    """

    def __init__(self, *, comparator: tuple[str, int] | None = None) -> None:
        """With `comparator` (host, port: weir's comparator as the proxies reach it), services
        with `compare` mirror to it (resources/_compare.py) and the cluster `weir_compare` is
        served while any service has that section."""
        self._comparator = comparator
        self._clusters: tuple[dict[tuple[str, str, str], Encoded], Mapping[str, Encoded]] = (
            {},
            {},
        )
        """The clusters of the last build, by what they are made of and by name."""
        self._vhosts: dict[str, _VirtualHost] = {}

    def __call__(self, state: State) -> Resources:
        (known_clusters, known_by_name), known_vhosts = self._clusters, self._vhosts
        clusters: dict[tuple[str, str, str], Encoded] = {}
        encoded = 0
        by_service: dict[str, list[InstanceState]] = {name: [] for name in state.services}
        for record in state.instances.values():
            by_service.setdefault(record.instance.service, []).append(record)
            if record.state is not ActivationState.RETIRED:
                instance = record.instance
                key = (instance.service, instance.id, instance.address)
                if (cluster := known_clusters.get(key)) is None:
                    cluster = _encode_cluster(instance)
                    encoded += 1
                clusters[key] = cluster
        if self._comparator is not None and any(
            spec.compare is not None for spec in state.services.values()
        ):
            host, port = self._comparator
            key = ("", COMPARE_CLUSTER, f"{host}:{port}")
            if (cluster := known_clusters.get(key)) is None:
                cluster = _encode_comparator_cluster(*self._comparator)
                encoded += 1
            clusters[key] = cluster
        if encoded == 0 and len(clusters) == len(known_clusters):
            # The very same clusters: hand out the same mapping, so that each stream can tell
            # at a glance that they did not change (see DeltaSession and SotwSession).
            by_name = known_by_name
        else:
            by_name = dict(sorted((e.name, e) for e in clusters.values()))

        vhosts: dict[str, _VirtualHost] = {}
        for name in sorted(state.services):
            spec, instances = state.services[name], by_service[name]
            inputs = tuple(_inputs(record) for record in instances)
            known = known_vhosts.get(name)
            if (
                known is not None
                and known.inputs == inputs
                and (known.spec is spec or known.spec == spec)
            ):
                vhosts[name] = known
            else:
                vhosts[name] = _encode_vhost(spec, instances, inputs, self._comparator is not None)
        self._clusters, self._vhosts = (clusters, by_name), vhosts

        inline = Encoded.from_payload(
            ROUTE_CONFIG_NAME,
            ROUTE_TYPE,
            _field(1, ROUTE_CONFIG_NAME.encode()) + b"".join(v.framed for v in vhosts.values()),
        )
        every_ref: frozenset[str] = frozenset().union(*(v.refs for v in vhosts.values()))
        resources = Resources(
            clusters=by_name,
            routes={ROUTE_CONFIG_NAME: inline},
            cluster_refs={ROUTE_CONFIG_NAME: every_ref},
            vhds_routes={ROUTE_CONFIG_NAME: _VHDS_ROUTE_CONFIG},
            virtual_hosts={v.resource.name: v.resource for v in vhosts.values()},
            vhost_refs={v.resource.name: v.refs for v in vhosts.values()},
        )
        resources.consistent()
        return resources


build_resources = ResourceBuilder()
"""The process-wide builder: `build_resources(state) -> Resources`."""


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
