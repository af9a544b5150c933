"""State → Envoy resources, as a pure function. No I/O, no clock, no policy of its own.

Every instance that is not retired gets its own cluster `<service>--<id>`, so inactive ones stay
warm. One route configuration holds a virtual host per service; each of the service's routes
splits over the live instances by weight and mirrors to the shadow ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.matcher.v3 import string_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import any_pb2, duration_pb2, wrappers_pb2
from google.protobuf.message import Message

from controlplane.model import (
    ActivationState,
    InstanceState,
    Route,
    ServiceSpec,
    State,
    is_ip,
    split_address,
)
from controlplane.resources._encoded import Encoded, set_version

ROUTE_CONFIG_NAME = "weir"
LISTENER_NAME = "weir_http"
CONNECT_TIMEOUT_S = 1.0


class InconsistentResources(Exception):
    """A route names a cluster the same snapshot does not hold. Never pushed."""


@dataclass(frozen=True, slots=True)
class Resources:
    """Clusters and route configurations of one state, each encoded once."""

    clusters: Mapping[str, Encoded]
    routes: Mapping[str, Encoded]
    cluster_refs: Mapping[str, frozenset[str]]
    """For each route configuration, the clusters it names (weighted and mirrored)."""

    @property
    def version(self) -> str:
        return set_version([*self.clusters.values(), *self.routes.values()])

    def consistent(self) -> None:
        for route_name, refs in self.cluster_refs.items():
            missing = sorted(refs - self.clusters.keys())
            if missing:
                raise InconsistentResources(
                    f"route configuration {route_name!r} names clusters that do not exist: "
                    + ", ".join(missing)
                )


def build_resources(state: State) -> Resources:
    clusters: dict[str, Encoded] = {}
    for record in state.instances.values():
        if record.state is not ActivationState.RETIRED:
            cluster = _cluster(record)
            clusters[cluster.name] = Encoded.of(cluster.name, cluster)

    virtual_hosts = []
    refs: set[str] = set()
    for name in sorted(state.services):
        vhost, named = _virtual_host(state.services[name], state.instances_of(name))
        virtual_hosts.append(vhost)
        refs |= named
    config = route_pb2.RouteConfiguration(name=ROUTE_CONFIG_NAME, virtual_hosts=virtual_hosts)
    resources = Resources(
        clusters=dict(sorted(clusters.items())),
        routes={ROUTE_CONFIG_NAME: Encoded.of(ROUTE_CONFIG_NAME, config)},
        cluster_refs={ROUTE_CONFIG_NAME: frozenset(refs)},
    )
    resources.consistent()
    return resources


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)
    return packed


def _cluster(record: InstanceState) -> cluster_pb2.Cluster:
    instance = record.instance
    host, port = split_address(instance.address)
    endpoint = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(
            address=address_pb2.Address(
                socket_address=address_pb2.SocketAddress(address=host, port_value=port)
            )
        )
    )
    # STATIC needs an IP literal; a host name is resolved by Envoy (one address, one instance).
    discovery = cluster_pb2.Cluster.STATIC if is_ip(host) else cluster_pb2.Cluster.STRICT_DNS
    return cluster_pb2.Cluster(
        name=instance.cluster_name,
        type=discovery,
        # Instances usually listen on IPv4; Envoy's default would try an AAAA record first.
        dns_lookup_family=cluster_pb2.Cluster.V4_PREFERRED,
        connect_timeout=_duration(CONNECT_TIMEOUT_S),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=instance.cluster_name,
            endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[endpoint])],
        ),
    )


def _virtual_host(
    spec: ServiceSpec, instances: list[InstanceState]
) -> tuple[route_components_pb2.VirtualHost, set[str]]:
    live = [
        i for i in instances if i.state is ActivationState.LIVE and (i.activation.weight or 0) > 0
    ]
    shadow = [
        i
        for i in instances
        if i.state is ActivationState.SHADOW and (i.activation.mirror_percent or 0) > 0
    ]
    named = {i.instance.cluster_name for i in live}
    if live:
        named |= {i.instance.cluster_name for i in shadow}
    pins = _pins(spec, instances)
    routes = []
    for route in spec.effective_routes():
        # Envoy takes the first route that matches: each route's pinned variants go first.
        for header, version, targets in pins:
            routes.append(_pinned_route(route, header, version, targets))
            named |= {i.instance.cluster_name for i, _ in targets}
        routes.append(_route(spec, route, live, shadow))
    vhost = route_components_pb2.VirtualHost(
        name=spec.name, domains=list(spec.host_domains()), routes=routes
    )
    return vhost, named


Targets = list[tuple[InstanceState, int]]


def _pins(spec: ServiceSpec, instances: list[InstanceState]) -> list[tuple[str, str, Targets]]:
    """(header, version, weighted instances) for A/B pinning: per version, its live instances
    by weight, else its warm ones (shadow, inactive) equally, so testers reach a green that has
    no traffic yet."""
    if spec.pinning is None:
        return []
    by_version: dict[str, list[InstanceState]] = {}
    for record in instances:
        if record.state is not ActivationState.RETIRED:
            by_version.setdefault(record.instance.version, []).append(record)
    pins = []
    for version in sorted(by_version):
        group = by_version[version]
        live: Targets = [
            (i, i.activation.weight or 0)
            for i in group
            if i.state is ActivationState.LIVE and (i.activation.weight or 0) > 0
        ]
        pins.append((spec.pinning.header, version, live or [(i, 1) for i in group]))
    return pins


def _match(route: Route, pin: tuple[str, str] | None = None) -> route_components_pb2.RouteMatch:
    headers = dict(route.match.headers)
    if pin is not None:
        headers[pin[0]] = pin[1]
    match = route_components_pb2.RouteMatch(
        headers=[
            route_components_pb2.HeaderMatcher(
                name=name, string_match=string_pb2.StringMatcher(exact=value)
            )
            for name, value in sorted(headers.items())
        ]
    )
    if route.match.path is not None:
        match.path = route.match.path
    else:
        match.prefix = route.match.prefix or "/"
    return match


def _route(
    spec: ServiceSpec,
    route: Route,
    live: list[InstanceState],
    shadow: list[InstanceState],
) -> route_components_pb2.Route:
    match = _match(route)
    if not live:
        # Nothing live: answer plainly rather than route to nothing.
        return route_components_pb2.Route(
            match=match,
            direct_response=route_components_pb2.DirectResponseAction(
                status=503,
                body=base_pb2.DataSource(inline_string=f"weir: no live instance of {spec.name}\n"),
            ),
        )
    action = _action(route, [(i, i.activation.weight or 0) for i in live])
    action.request_mirror_policies.extend(
        route_components_pb2.RouteAction.RequestMirrorPolicy(
            cluster=i.instance.cluster_name,
            runtime_fraction=base_pb2.RuntimeFractionalPercent(
                default_value=percent_pb2.FractionalPercent(
                    numerator=round((i.activation.mirror_percent or 0) * 10_000),
                    denominator=percent_pb2.FractionalPercent.MILLION,
                )
            ),
        )
        for i in shadow
    )
    return route_components_pb2.Route(match=match, route=action)


def _pinned_route(
    route: Route, header: str, version: str, targets: Targets
) -> route_components_pb2.Route:
    """The route for requests pinned to one version: no mirror, the route's own policy."""
    return route_components_pb2.Route(
        match=_match(route, (header, version)), route=_action(route, targets)
    )


def _action(route: Route, targets: Targets) -> route_components_pb2.RouteAction:
    action = route_components_pb2.RouteAction(
        weighted_clusters=route_components_pb2.WeightedCluster(
            clusters=[
                route_components_pb2.WeightedCluster.ClusterWeight(
                    name=i.instance.cluster_name, weight=wrappers_pb2.UInt32Value(value=weight)
                )
                for i, weight in targets
            ]
        )
    )
    if route.timeout is not None:
        action.timeout.CopyFrom(_duration(route.timeout))
    if route.retries is not None:
        policy = route_components_pb2.RetryPolicy(
            retry_on=",".join(route.retries.on),
            num_retries=wrappers_pb2.UInt32Value(value=route.retries.attempts),
        )
        if route.retries.per_try_timeout is not None:
            policy.per_try_timeout.CopyFrom(_duration(route.retries.per_try_timeout))
        action.retry_policy.CopyFrom(policy)
    return action


def build_listener(host: str, port: int) -> Encoded:
    """The proxy's one HTTP listener, routing by Host over ADS-delivered routes."""
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix="weir",
        codec_type=hcm_pb2.HttpConnectionManager.AUTO,
        # Match virtual hosts on the name alone, so `checkout:15001` finds `checkout`.
        strip_any_host_port=True,
        rds=hcm_pb2.Rds(
            route_config_name=ROUTE_CONFIG_NAME,
            config_source=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.V3,
            ),
        ),
        http_filters=[
            hcm_pb2.HttpFilter(
                name="envoy.filters.http.router", typed_config=_pack(router_pb2.Router())
            )
        ],
    )
    listener = listener_pb2.Listener(
        name=LISTENER_NAME,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address=host, port_value=port)
        ),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=_pack(manager),
                    )
                ]
            )
        ],
    )
    return Encoded.of(LISTENER_NAME, listener)
