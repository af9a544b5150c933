"""What a mirrored request names, checked against the state: the candidate, its route, and the
old instances to hold it against. Pure.

Envoy's mirror policy for a compared shadow instance sets two headers on the copy it sends to
the comparator (overwriting whatever the caller sent): COMPARE_HEADER names the candidate and
ROUTE_HEADER the index of the service's route that matched. Anyone who can reach the
comparator's port can send them too, so nothing is taken on trust: the instance must be a
shadow of a service with `compare`, the route must exist and the method must be one the
service compares (and the comparator checks that the path is a path).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controlplane.model import (
    ActivationState,
    InstanceState,
    Route,
    ServiceSpec,
    State,
)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
        # Uncompressed answers compare field by field; the client never decompresses either.
        "accept-encoding",
    }
)
"""Request headers the comparator does not pass on (it sets Host and Content-Length itself)."""


@dataclass(frozen=True, slots=True)
class Refused:
    status: int
    reason: str
    counter: str
    """The outcome it is counted under (weir_compare_requests_total)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A mirrored request the comparator will compare."""

    candidate: InstanceState
    spec: ServiceSpec
    endpoint: str
    """Method and route, as the verdict names it: `GET prefix /api`."""
    baselines: tuple[InstanceState, ...]
    """The live instances of the old version, at least one."""


def named_target(state: State, method: str, instance_id: str, index_text: str) -> Target | Refused:
    """The candidate and route a request names (COMPARE_HEADER, ROUTE_HEADER), if a request
    with `method` to them may be compared."""
    record = state.instances.get(instance_id)
    if record is None or record.state is not ActivationState.SHADOW:
        return Refused(404, f"{instance_id[:64]!r} is not a shadow instance", "refused")
    spec = state.services.get(record.instance.service)
    if spec is None or spec.compare is None:
        return Refused(404, f"service {record.instance.service!r} is not compared", "refused")
    if method not in spec.compare.methods:
        return Refused(405, f"{method[:16]} is not compared for this service", "refused")
    routes = spec.effective_routes()
    if not index_text.isdigit() or int(index_text) >= len(routes):
        return Refused(400, f"no route {index_text[:16]!r} in {spec.name}", "refused")
    baselines = baselines_of(state.instances_of(spec.name), record)
    if not baselines:
        return Refused(503, f"no live instance of {spec.name} to compare with", "skipped")
    endpoint = f"{method} {describe_route(routes[int(index_text)])}"
    return Target(record, spec, endpoint, baselines)


def baselines_of(
    instances: Iterable[InstanceState], candidate: InstanceState
) -> tuple[InstanceState, ...]:
    """The live instances (weight above 0) the candidate is held against: those of other
    versions than the candidate's when there are any (a canary of the same version mid-way
    is not the old version)."""
    live = [
        i
        for i in instances
        if i.state is ActivationState.LIVE
        and (i.activation.weight or 0) > 0
        and i.instance.id != candidate.instance.id
    ]
    older = [i for i in live if i.instance.version != candidate.instance.version]
    return tuple(older or live)


def describe_route(route: Route) -> str:
    match = route.match
    text = f"path {match.path}" if match.path is not None else f"prefix {match.prefix or '/'}"
    if match.headers:
        text += " [" + ", ".join(f"{k}={v}" for k, v in sorted(match.headers.items())) + "]"
    return text


def forwarded_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request's headers as sent on to the three instances."""
    return [
        (name, value)
        for name, value in headers
        if (lower := name.lower()) not in HOP_BY_HOP
        and not lower.startswith(("x-weir-", "x-envoy-", ":"))
    ]
