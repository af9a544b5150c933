"""Mirroring to weir's comparator: the routes of a service with `compare` that has a shadow
instance, and the comparator's cluster.

Such a service's route is split in two. The first copy matches only the methods the service
compares (GET, HEAD and OPTIONS by default) and mirrors to the cluster `weir_compare` -- the
comparator in `weir serve` -- instead of to the shadow instance itself; each mirror policy
names its shadow instance and the route in headers Envoy sets on the copy, overwriting any a
caller sent, and keeps the Host as the caller sent it. The second copy routes every other
request as before, mirroring nothing. A POST is therefore never mirrored unless the service file
lists it. Live traffic is routed the same by both copies; only the mirror differs, and the mirror
stays Envoy's fire and forget.
"""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.type.v3 import percent_pb2

from controlplane.model import COMPARE_HEADER, ROUTE_HEADER, Compare

COMPARE_CLUSTER = "weir_compare"
"""No instance's cluster can be named so: theirs are `<service>--<id>`, DNS labels only."""

_MILLION = percent_pb2.FractionalPercent.MILLION
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def mirror_to_comparator(
    route: route_components_pb2.Route,
    compare: Compare,
    index: int,
    shadows: Sequence[tuple[str, float]],
) -> None:
    """Make `route` (already matching and routing as usual) the compared copy: only `compare`'s
    methods, and one mirror to the comparator per (shadow instance id, mirror percent)."""
    methods = route.match.headers.add()
    methods.name = ":method"
    methods.string_match.safe_regex.regex = "^(" + "|".join(compare.methods) + ")$"
    for instance_id, percent in shadows:
        mirror = route.route.request_mirror_policies.add()
        mirror.cluster = COMPARE_CLUSTER
        fraction = mirror.runtime_fraction.default_value
        fraction.numerator = round(percent * 10_000)
        fraction.denominator = _MILLION
        mirror.disable_shadow_host_suffix_append = True
        for name, value in ((COMPARE_HEADER, instance_id), (ROUTE_HEADER, str(index))):
            option = mirror.request_headers_mutations.add().append
            option.header.key = name
            option.header.value = value
            option.append_action = _OVERWRITE
