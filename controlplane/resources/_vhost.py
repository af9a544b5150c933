"""The virtual host of one service: its routes split over the live instances by weight and
mirrored to the shadow ones, with A/B pinning routes first when the service asks for them.

Messages are filled in field by field (`.add()`, attribute paths) rather than from nested
constructors: with upb every nested constructor builds a message and then copies it.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.route.v3 import route_components_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import duration_pb2

from controlplane.model import ActivationState, InstanceState, Route, ServiceSpec
from controlplane.resources._business import add_outcome_rules, stick
from controlplane.resources._compare import COMPARE_CLUSTER, mirror_to_comparator

Targets = list[tuple[str, int]]
"""(cluster name, weight) pairs."""

_MILLION = percent_pb2.FractionalPercent.MILLION
_DEFAULT_ROUTES = ServiceSpec(name="default").effective_routes()
"""What a service without routes of its own gets: built once, not per virtual host."""


def virtual_host(
    spec: ServiceSpec, instances: Sequence[InstanceState], *, comparator: bool = False
) -> tuple[route_components_pb2.VirtualHost, frozenset[str]]:
    """The service's virtual host, without its name (the caller names it), and the clusters
    it routes or mirrors to. With a `comparator` and a `compare` section, shadow instances are
    compared rather than mirrored to (see _compare)."""
    live: Targets = []
    shadow: list[tuple[str, float]] = []
    compared: list[tuple[str, float]] = []
    for record in instances:
        activation = record.activation
        if activation.state is ActivationState.LIVE and (activation.weight or 0) > 0:
            live.append((record.instance.cluster_name, activation.weight or 0))
        elif activation.state is ActivationState.SHADOW and (activation.mirror_percent or 0) > 0:
            shadow.append((record.instance.cluster_name, activation.mirror_percent or 0))
            compared.append((record.instance.id, activation.mirror_percent or 0))
    if not (comparator and spec.compare is not None and live):
        compared = []
    named = {name for name, _ in live}
    if live:
        named |= {COMPARE_CLUSTER} if compared else {name for name, _ in shadow}
    pins = _pins(spec, instances)
    vhost = route_components_pb2.VirtualHost(domains=spec.host_domains())
    for index, route in enumerate(spec.effective_routes() if spec.routes else _DEFAULT_ROUTES):
        # Envoy takes the first route that matches: each route's pinned variants go first.
        for header, version, targets in pins:
            pinned = vhost.routes.add()
            _match(pinned.match, route, (header, version))
            _action(pinned.route, route, targets)
            named |= {name for name, _ in targets}
        if compared and spec.compare is not None:
            message = vhost.routes.add()
            _route(message, spec, route, live, [])
            mirror_to_comparator(message, spec.compare, index, compared)
        _route(vhost.routes.add(), spec, route, live, [] if compared else shadow)
    add_outcome_rules(vhost, spec)
    return vhost, frozenset(named)


def _pins(spec: ServiceSpec, instances: Sequence[InstanceState]) -> list[tuple[str, str, Targets]]:
    """(header, version, weighted instances) for A/B pinning: per version, its live instances
    by weight, else its shadow ones equally (and its inactive ones, with `dark_launch`), so
    testers reach a green that has no traffic yet. Nothing unless pinning is enabled."""
    pinning = spec.pinning
    if pinning is None or not pinning.enabled:
        return []
    warm_states = {ActivationState.SHADOW}
    if pinning.dark_launch:
        warm_states.add(ActivationState.INACTIVE)
    by_version: dict[str, list[InstanceState]] = {}
    for record in instances:
        if record.state is not ActivationState.RETIRED:
            by_version.setdefault(record.instance.version, []).append(record)
    pins = []
    for version in sorted(by_version):
        group = by_version[version]
        live: Targets = [
            (i.instance.cluster_name, i.activation.weight or 0)
            for i in group
            if i.state is ActivationState.LIVE and (i.activation.weight or 0) > 0
        ]
        warm: Targets = [(i.instance.cluster_name, 1) for i in group if i.state in warm_states]
        if live or warm:
            pins.append((pinning.header, version, live or warm))
    return pins


def _match(
    match: route_components_pb2.RouteMatch, route: Route, pin: tuple[str, str] | None = None
) -> None:
    headers = dict(route.match.headers)
    if pin is not None:
        headers[pin[0]] = pin[1]
    if route.match.path is not None:
        match.path = route.match.path
    else:
        match.prefix = route.match.prefix or "/"
    for name, value in sorted(headers.items()):
        header = match.headers.add()
        header.name = name
        header.string_match.exact = value


def _route(
    message: route_components_pb2.Route,
    spec: ServiceSpec,
    route: Route,
    live: Targets,
    shadow: list[tuple[str, float]],
) -> None:
    _match(message.match, route)
    if not live:
        # Nothing live: answer plainly rather than route to nothing.
        message.direct_response.status = 503
        message.direct_response.body.inline_string = f"weir: no live instance of {spec.name}\n"
        return
    action = message.route
    _action(action, route, live)
    stick(action, spec)  # sticky cohorts: the user's hash picks the instance
    for name, percent in shadow:
        mirror = action.request_mirror_policies.add()
        mirror.cluster = name
        fraction = mirror.runtime_fraction.default_value
        fraction.numerator = round(percent * 10_000)
        fraction.denominator = _MILLION


def _action(action: route_components_pb2.RouteAction, route: Route, targets: Targets) -> None:
    weighted = action.weighted_clusters.clusters
    for name, weight in targets:
        target = weighted.add()
        target.name = name
        target.weight.value = weight
    if route.timeout is not None:
        _duration(action.timeout, route.timeout)
    if route.retries is not None:
        policy = action.retry_policy
        policy.retry_on = ",".join(route.retries.on)
        policy.num_retries.value = route.retries.attempts
        if route.retries.per_try_timeout is not None:
            _duration(policy.per_try_timeout, route.retries.per_try_timeout)


def _duration(duration: duration_pb2.Duration, seconds: float) -> None:
    whole = int(seconds)
    duration.seconds = whole
    duration.nanos = round((seconds - whole) * 1e9)
