"""The delta form of the routes (VHDS): a route configuration that names no virtual host, and a
virtual host per service that is a resource of its own. The same routing as the inline form."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from envoy.config.route.v3 import route_components_pb2, route_pb2

from controlplane.resources import (
    ROUTE_CONFIG_NAME,
    VHOST_TYPE,
    Encoded,
    InconsistentResources,
    Resources,
    build_resources,
)
from tests.unit._builders import go_live
from tests.unit.resources._world import mesh, route_config


def vhds_vhost(resources: Resources, service: str) -> route_components_pb2.VirtualHost:
    encoded = resources.virtual_hosts[f"{ROUTE_CONFIG_NAME}/{service}"]
    assert encoded.type_url == VHOST_TYPE
    return route_components_pb2.VirtualHost.FromString(encoded.payload)


def test_the_delta_route_configuration_asks_ads_for_its_virtual_hosts() -> None:
    config = route_pb2.RouteConfiguration.FromString(
        build_resources(mesh()).vhds_routes[ROUTE_CONFIG_NAME].payload
    )
    assert config.name == ROUTE_CONFIG_NAME
    assert list(config.virtual_hosts) == []
    assert config.vhds.config_source.HasField("ads")


def test_each_service_is_a_virtual_host_named_after_its_route_configuration() -> None:
    resources = build_resources(mesh())
    assert list(resources.virtual_hosts) == ["weir/api", "weir/web"]
    web = vhds_vhost(resources, "web")
    # Envoy removes a VHDS virtual host by resource name and keys it by its own: the same.
    assert web.name == "weir/web"
    assert list(web.domains) == ["web", "web.internal"]


def test_the_virtual_hosts_route_as_the_inline_ones_do() -> None:
    routes = ({"match": {"prefix": "/api"}, "timeout": "2s"}, {"match": {"path": "/health"}})
    resources = build_resources(
        mesh(routes=routes, pinning={"enabled": True, "header": "x-weir-version"})
    )
    for inline in route_config(resources).virtual_hosts:
        delta = vhds_vhost(resources, inline.name)
        delta.name = inline.name
        assert delta == inline
    assert resources.vhost_refs == {
        "weir/api": frozenset(),
        "weir/web": {"web--blue", "web--green", "web--dark"},
    }


def test_both_forms_are_what_protobuf_itself_encodes() -> None:
    # The inline configuration is assembled from each virtual host's bytes: check it against
    # protobuf's own deterministic encoding of the decoded messages.
    resources = build_resources(mesh(pinning={"enabled": True, "header": "x-weir-version"}))
    inline = resources.routes[ROUTE_CONFIG_NAME].payload
    assert route_config(resources).SerializeToString(deterministic=True) == inline
    for encoded in resources.virtual_hosts.values():
        decoded = route_components_pb2.VirtualHost.FromString(encoded.payload)
        assert decoded.SerializeToString(deterministic=True) == encoded.payload


def test_a_weight_change_changes_one_virtual_host_and_no_cluster() -> None:
    before = build_resources(mesh())
    after = build_resources(go_live(mesh(), "green", 30))

    def versions(mapping: Mapping[str, Encoded]) -> dict[str, str]:
        return {n: e.version for n, e in mapping.items()}

    assert versions(after.clusters) == versions(before.clusters)
    changed = {
        n
        for n, v in versions(after.virtual_hosts).items()
        if versions(before.virtual_hosts)[n] != v
    }
    assert changed == {"weir/web"}
    assert after.vhds_routes == before.vhds_routes
    assert after.version != before.version


def test_consistent_refuses_a_virtual_host_naming_a_missing_cluster() -> None:
    good = build_resources(go_live(mesh(), "spare", 1))
    dangling = Resources(
        clusters={k: v for k, v in good.clusters.items() if k != "web--spare"},
        routes={},
        cluster_refs={},
        vhds_routes=good.vhds_routes,
        virtual_hosts=good.virtual_hosts,
        vhost_refs=good.vhost_refs,
    )
    with pytest.raises(InconsistentResources, match="web--spare"):
        dangling.consistent()
