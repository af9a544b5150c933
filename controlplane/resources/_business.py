"""What Envoy does for business objectives and sticky cohorts (pure functions of the spec).

Outcomes. An instance reports each request's outcome in a response header (`x-weir-outcome:
order=1; revenue=12.50`). Every proxy's listener carries Envoy's header-to-metadata filter,
with no rule of its own, and a gRPC access log to weir over the `weir_xds` cluster. A service
with objectives read from that header gets, on its virtual host, the filter's per-route rules:
copy the header into dynamic metadata `weir.outcome` (`-` when the answer has none) and remove
it from the answer, unless the service file exposes it. The access log sends only requests that
carry that metadata, so services without objectives cost nothing but the filter's look-up; its
runtime key `weir.outcome_sample` (a percentage, 100 unless an operator lowers it through
Envoy's runtime) samples them. Each entry names the upstream cluster, hence the instance.

Sticky cohorts. With `cohort:` the route hashes the named header or cookie
(`hash_policy`) and the weighted clusters pick by that hash (`use_hash_policy`, Envoy 1.36+):
the hash modulo the total weight falls in one cluster's range, walking the clusters in order.
So the newest instance goes first and the weights are scaled to a fixed total: as the newest
one's weight grows its range [0, w) only widens, and a user on it stays on it.
"""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import config_source_pb2
from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.access_loggers.grpc.v3 import als_pb2
from envoy.extensions.filters.http.header_to_metadata.v3 import header_to_metadata_pb2 as h2m
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.v3 import percent_pb2
from google.protobuf import any_pb2

from controlplane.defaults import XDS_CLUSTER
from controlplane.model import ServiceSpec

OUTCOME_FILTER = "envoy.filters.http.header_to_metadata"
OUTCOME_NAMESPACE = "weir.outcome"
OUTCOME_KEY = "outcome"
NO_OUTCOME = "-"
"""The metadata value of an answer without the header (Envoy refuses an empty one)."""
ACCESS_LOG_NAME = "weir_outcomes"
SAMPLE_RUNTIME_KEY = "weir.outcome_sample"
COHORT_TOTAL_WEIGHT = 10_000
"""Sticky routes scale the live weights to this total, so a hash's place never moves."""


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)  # type: ignore[arg-type]
    return packed


def outcome_filter() -> hcm_pb2.HttpFilter:
    """The listener's header-to-metadata filter: no rule of its own (virtual hosts add them);
    before the router, so it sees each answer after the router's own changes."""
    return hcm_pb2.HttpFilter(name=OUTCOME_FILTER, typed_config=_pack(h2m.Config()))


def outcome_access_log() -> accesslog_pb2.AccessLog:
    """The gRPC access log to weir: requests whose answer went through an outcome rule."""
    config = als_pb2.HttpGrpcAccessLogConfig()
    common = config.common_config
    common.log_name = ACCESS_LOG_NAME
    common.transport_api_version = config_source_pb2.V3
    common.grpc_service.envoy_grpc.cluster_name = XDS_CLUSTER
    log = accesslog_pb2.AccessLog(name="envoy.access_loggers.http_grpc")
    log.typed_config.Pack(config, deterministic=True)
    both = log.filter.and_filter.filters
    present = both.add().metadata_filter.matcher
    present.filter = OUTCOME_NAMESPACE
    present.path.add().key = OUTCOME_KEY
    present.value.present_match = True
    sample = both.add().runtime_filter
    sample.runtime_key = SAMPLE_RUNTIME_KEY
    sample.percent_sampled.numerator = 100
    sample.percent_sampled.denominator = percent_pb2.FractionalPercent.HUNDRED
    return log


def reads_outcome_header(spec: ServiceSpec) -> bool:
    return any(o.source.header is not None for o in spec.objectives)


def add_outcome_rules(vhost: route_components_pb2.VirtualHost, spec: ServiceSpec) -> None:
    """The virtual host's header-to-metadata rules, for a service reading the outcome header."""
    if not reads_outcome_header(spec):
        return
    rule = h2m.Config.Rule(header=spec.outcome_header.name, remove=not spec.outcome_header.expose)
    rule.on_header_present.metadata_namespace = OUTCOME_NAMESPACE
    rule.on_header_present.key = OUTCOME_KEY
    rule.on_header_present.type = h2m.Config.STRING
    rule.on_header_missing.metadata_namespace = OUTCOME_NAMESPACE
    rule.on_header_missing.key = OUTCOME_KEY
    rule.on_header_missing.value = NO_OUTCOME
    rule.on_header_missing.type = h2m.Config.STRING
    config = h2m.Config()
    config.response_rules.append(rule)
    vhost.typed_per_filter_config[OUTCOME_FILTER].Pack(config, deterministic=True)


def stick(action: route_components_pb2.RouteAction, spec: ServiceSpec) -> None:
    """Make a weighted route's pick follow the cohort's hash (no-op without `cohort:`).

    The clusters arrive in registration order; the newest goes first, and the weights are
    scaled to COHORT_TOTAL_WEIGHT (largest remainders, ties to the newer instance)."""
    cohort = spec.cohort
    weighted = action.weighted_clusters
    if cohort is None or not weighted.clusters:
        return
    targets = [(c.name, c.weight.value) for c in reversed(weighted.clusters)]
    total = sum(weight for _, weight in targets)
    exact = [COHORT_TOTAL_WEIGHT * weight / total for _, weight in targets]
    scaled = [int(x) for x in exact]
    short = COHORT_TOTAL_WEIGHT - sum(scaled)
    for i in sorted(range(len(exact)), key=lambda i: (scaled[i] - exact[i], i))[:short]:
        scaled[i] += 1
    del weighted.clusters[:]
    for (name, _), weight in zip(targets, scaled, strict=True):
        if weight > 0:
            target = weighted.clusters.add()
            target.name = name
            target.weight.value = weight
    weighted.use_hash_policy.value = True
    policy = action.hash_policy.add()
    if cohort.header is not None:
        policy.header.header_name = cohort.header
    else:
        assert cohort.cookie is not None
        policy.cookie.name = cohort.cookie
