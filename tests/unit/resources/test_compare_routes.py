"""A service with `compare`: its shadow instances are compared, so the route that mirrors is
a copy matching only the compared methods, mirroring to the comparator with the candidate named
in a header Envoy sets; every other request is routed as before and mirrored nowhere."""

from __future__ import annotations

from controlplane.model import COMPARE_HEADER, ROUTE_HEADER, Compare, State
from controlplane.resources import (
    COMPARE_CLUSTER,
    ROUTE_CONFIG_NAME,
    ResourceBuilder,
    build_resources,
    scoped,
)
from tests.unit._builders import commit, service
from tests.unit.resources._world import clusters, mesh, vhost

COMPARATOR = ("127.0.0.1", 18001)


def compared_mesh(**compare: object) -> State:
    return mesh(compare=Compare.model_validate(compare))


def test_the_compared_copy_matches_safe_methods_and_mirrors_to_the_comparator() -> None:
    resources = ResourceBuilder(comparator=COMPARATOR)(compared_mesh())
    compared, plain = vhost(resources, "web").routes
    [methods] = compared.match.headers
    assert methods.name == ":method"
    assert methods.string_match.safe_regex.regex == "^(GET|HEAD|OPTIONS)$"
    [mirror] = compared.route.request_mirror_policies
    assert mirror.cluster == COMPARE_CLUSTER
    assert mirror.disable_shadow_host_suffix_append
    assert mirror.runtime_fraction.default_value.numerator == 250_000
    headers = {m.append.header.key: m.append.header.value for m in mirror.request_headers_mutations}
    assert headers == {COMPARE_HEADER: "dark", ROUTE_HEADER: "0"}
    # Live traffic is split alike by both copies; the plain one mirrors nothing.
    assert compared.route.weighted_clusters == plain.route.weighted_clusters
    assert not plain.match.headers and not plain.route.request_mirror_policies


def test_the_comparator_cluster_is_served_and_the_shadow_no_longer_named() -> None:
    resources = ResourceBuilder(comparator=COMPARATOR)(compared_mesh(methods=["GET"]))
    comparator = clusters(resources)[COMPARE_CLUSTER]
    address = comparator.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address
    assert (address.socket_address.address, address.socket_address.port_value) == COMPARATOR
    assert resources.cluster_refs[ROUTE_CONFIG_NAME] == {"web--blue", "web--green", COMPARE_CLUSTER}
    assert "web--dark" in resources.clusters  # still warm, for the next step of a rollout
    compared, _ = vhost(resources, "web").routes
    assert compared.match.headers[0].string_match.safe_regex.regex == "^(GET)$"


def test_each_route_names_its_own_index() -> None:
    state = mesh(
        routes=({"match": {"prefix": "/api"}}, {"match": {"prefix": "/"}}),
        compare=Compare(),
    )
    routes = vhost(ResourceBuilder(comparator=COMPARATOR)(state), "web").routes
    indices = [
        m.append.header.value
        for r in routes
        for p in r.route.request_mirror_policies
        for m in p.request_headers_mutations
        if m.append.header.key == ROUTE_HEADER
    ]
    assert [r.match.prefix for r in routes] == ["/api", "/api", "/", "/"]
    assert indices == ["0", "1"]


def test_without_a_comparator_or_a_compare_section_shadows_are_mirrored_as_before() -> None:
    plain = build_resources(compared_mesh())
    (route,) = vhost(plain, "web").routes
    assert route.route.request_mirror_policies[0].cluster == "web--dark"
    assert COMPARE_CLUSTER not in plain.clusters
    uncompared = ResourceBuilder(comparator=COMPARATOR)(mesh())
    assert COMPARE_CLUSTER not in uncompared.clusters
    (route,) = vhost(uncompared, "web").routes
    assert route.route.request_mirror_policies[0].cluster == "web--dark"


def test_the_comparator_cluster_stays_while_any_service_compares_and_reaches_scoped_proxies() -> (
    None
):
    # Each compared service holds the comparator's cluster (the builder re-encodes only the
    # services that changed): it leaves the snapshot with the last of them, not the first.
    build = ResourceBuilder(comparator=COMPARATOR)
    both = commit(compared_mesh(), service("api", compare=Compare()))
    assert COMPARE_CLUSTER in build(both).clusters
    only_api = commit(both, service("web", domains=("web.internal",)))
    resources = build(only_api)
    assert COMPARE_CLUSTER in resources.clusters
    assert COMPARE_CLUSTER not in scoped(resources, ["web"]).clusters
    assert COMPARE_CLUSTER in scoped(resources, ["api"]).clusters
    assert COMPARE_CLUSTER not in build(commit(only_api, service("api"))).clusters
    again = build(commit(only_api, service("web", domains=("web.internal",), compare=Compare())))
    web = scoped(again, ["web"])
    assert (
        COMPARE_CLUSTER in web.clusters and COMPARE_CLUSTER in web.cluster_refs[ROUTE_CONFIG_NAME]
    )
    web.consistent()
