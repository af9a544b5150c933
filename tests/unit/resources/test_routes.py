"""Routes: live instances share traffic by weight, shadow ones get mirrored copies."""

from __future__ import annotations

import pytest
from envoy.type.v3 import percent_pb2

from controlplane.model import Activation, State
from controlplane.resources import (
    ROUTE_CONFIG_NAME,
    Encoded,
    InconsistentResources,
    Resources,
    build_resources,
)
from tests.unit._builders import change, commit
from tests.unit.resources._world import mesh, route_config, vhost


def test_a_virtual_host_per_service_answers_to_its_domains() -> None:
    config = route_config(build_resources(mesh()))
    assert config.name == ROUTE_CONFIG_NAME
    assert [(v.name, list(v.domains)) for v in config.virtual_hosts] == [
        ("api", ["api"]),
        ("web", ["web", "web.internal"]),
    ]


def test_live_instances_share_traffic_by_weight() -> None:
    (route,) = vhost(build_resources(mesh()), "web").routes
    assert route.match.prefix == "/"
    weighted = [(c.name, c.weight.value) for c in route.route.weighted_clusters.clusters]
    assert weighted == [("web--blue", 80), ("web--green", 20)]


def test_a_shadow_instance_gets_a_mirror_in_parts_per_million() -> None:
    (route,) = vhost(build_resources(mesh()), "web").routes
    (mirror,) = route.route.request_mirror_policies
    assert mirror.cluster == "web--dark"
    fraction = mirror.runtime_fraction.default_value
    assert (fraction.numerator, fraction.denominator) == (
        250_000,
        percent_pb2.FractionalPercent.MILLION,
    )


def test_inactive_instances_keep_a_cluster_but_no_route_names_them() -> None:
    resources = build_resources(mesh())
    assert "web--spare" in resources.clusters
    assert resources.cluster_refs[ROUTE_CONFIG_NAME] == {"web--blue", "web--green", "web--dark"}
    assert b"web--spare" not in resources.routes[ROUTE_CONFIG_NAME].payload


def test_without_a_live_instance_a_service_answers_503() -> None:
    (route,) = vhost(build_resources(mesh()), "api").routes
    assert route.WhichOneof("action") == "direct_response"
    assert route.direct_response.status == 503
    assert "no live instance of api" in route.direct_response.body.inline_string


def test_a_shadow_without_live_traffic_to_copy_is_not_named() -> None:
    state = mesh()
    state = commit(
        state,
        change(state, "blue", Activation.inactive()),
        change(state, "green", Activation.inactive(), forced=True),
    )
    resources = build_resources(state)
    (route,) = vhost(resources, "web").routes
    assert route.direct_response.status == 503
    assert resources.cluster_refs[ROUTE_CONFIG_NAME] == frozenset()


def test_routes_follow_the_service_file() -> None:
    routes = (
        {
            "match": {"prefix": "/api"},
            "timeout": "2s",
            "retries": {"attempts": 2, "on": ["5xx", "reset"], "per_try_timeout": "500ms"},
        },
        {"match": {"path": "/health", "headers": {"x-canary": "1"}}, "timeout": "250ms"},
    )
    api, health = vhost(build_resources(mesh(routes=routes)), "web").routes

    assert api.match.prefix == "/api"
    assert (api.route.timeout.seconds, api.route.timeout.nanos) == (2, 0)
    retry = api.route.retry_policy
    assert (retry.retry_on, retry.num_retries.value) == ("5xx,reset", 2)
    assert retry.per_try_timeout.ToMilliseconds() == 500

    assert health.match.path == "/health"
    (header,) = health.match.headers
    assert (header.name, header.string_match.exact) == ("x-canary", "1")
    assert health.route.timeout.ToMilliseconds() == 250
    assert not health.route.HasField("retry_policy")
    for route in (api, health):
        assert [c.name for c in route.route.weighted_clusters.clusters] == [
            "web--blue",
            "web--green",
        ]


def test_consistent_refuses_a_route_to_a_missing_cluster() -> None:
    good = build_resources(mesh())
    good.consistent()  # passes: every name is there
    dangling = Resources(
        clusters={k: v for k, v in good.clusters.items() if k != "web--green"},
        routes=good.routes,
        cluster_refs=good.cluster_refs,
    )
    with pytest.raises(InconsistentResources, match="web--green"):
        dangling.consistent()


def test_an_empty_state_builds_an_empty_route_configuration() -> None:
    resources = build_resources(State())
    assert resources.clusters == {}
    assert list(resources.routes) == [ROUTE_CONFIG_NAME]
    assert isinstance(resources.routes[ROUTE_CONFIG_NAME], Encoded)
