"""A/B pinning: a request naming a version in the pin header goes to that version only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from controlplane.model import Instance, InstanceRegistered, Pinning, State
from controlplane.resources import ROUTE_CONFIG_NAME, build_resources
from tests.unit._builders import commit
from tests.unit.resources._world import mesh, vhost


def pinned_mesh(**pinning: object) -> State:
    """mesh() with pinning on, dark launches allowed; blue, green, dark and spare run v1 and a
    v2 instance waits."""
    state = mesh(pinning={"enabled": True, "dark_launch": True, **pinning})
    v2 = Instance(id="next", service="web", version="v2", address="10.0.0.9:8080")
    return commit(state, InstanceRegistered(instance=v2))


def table(state: State) -> list[tuple[list[tuple[str, str]], list[tuple[str, int]], int]]:
    """(headers matched, weighted clusters, mirrors) of each route of web, in order."""
    return [
        (
            [(h.name, h.string_match.exact) for h in route.match.headers],
            [(c.name, c.weight.value) for c in route.route.weighted_clusters.clusters],
            len(route.route.request_mirror_policies),
        )
        for route in vhost(build_resources(state), "web").routes
    ]


def test_each_version_gets_a_pinned_route_before_the_weighted_one() -> None:
    assert table(pinned_mesh()) == [
        ([("x-weir-version", "v1")], [("web--blue", 80), ("web--green", 20)], 0),
        ([("x-weir-version", "v2")], [("web--next", 1)], 0),  # inactive, reachable when pinned
        ([], [("web--blue", 80), ("web--green", 20)], 1),
    ]


def test_a_pinned_route_keeps_the_routes_own_match_and_policy() -> None:
    routes = ({"match": {"prefix": "/api", "headers": {"x-team": "a"}}, "timeout": "2s"},)
    state = commit(mesh(routes=routes, pinning={"enabled": True, "header": "X-Pin"}))
    first, *_ = vhost(build_resources(state), "web").routes

    assert first.match.prefix == "/api"
    assert [(h.name, h.string_match.exact) for h in first.match.headers] == [
        ("x-pin", "v1"),
        ("x-team", "a"),
    ]
    assert first.route.timeout.seconds == 2


def test_pinned_clusters_are_named_so_they_are_sent_before_the_route() -> None:
    refs = build_resources(pinned_mesh()).cluster_refs[ROUTE_CONFIG_NAME]
    assert "web--next" in refs


def test_without_a_pinning_section_nothing_changes() -> None:
    assert len(vhost(build_resources(mesh()), "web").routes) == 1


def test_an_empty_pinning_section_is_not_an_opt_in() -> None:
    state = mesh(pinning={})
    v2 = Instance(id="next", service="web", version="v2", address="10.0.0.9:8080")
    assert (
        len(vhost(build_resources(commit(state, InstanceRegistered(instance=v2))), "web").routes)
        == 1
    )


def test_without_dark_launch_an_inactive_version_cannot_be_pinned() -> None:
    state = commit(
        mesh(pinning={"enabled": True}),
        InstanceRegistered(
            instance=Instance(id="next", service="web", version="v2", address="10.0.0.9:8080")
        ),
    )
    headers = [
        h.string_match.exact
        for r in vhost(build_resources(state), "web").routes
        for h in r.match.headers
    ]
    assert "v2" not in headers


@pytest.mark.parametrize("header", [":authority", "bad header", ""])
def test_a_pin_header_must_be_a_plain_header_name(header: str) -> None:
    with pytest.raises(ValidationError):
        Pinning(header=header)
