"""A builder told which services a write touched builds what a fresh builder builds."""

from __future__ import annotations

from collections.abc import Callable

from controlplane.model import Activation, ServiceDeleted, State
from controlplane.resources import ResourceBuilder, Resources, message_sizes
from tests.unit._builders import change, commit, instance, service
from tests.unit.resources._world import mesh


def built(resources: Resources) -> tuple[object, ...]:
    every = [
        *resources.clusters.items(),
        *resources.routes.items(),
        *resources.virtual_hosts.items(),
    ]
    return (
        resources.version,
        list(resources.virtual_hosts),  # in name order
        dict(resources.called_by),
        sorted((name, encoded.payload) for name, encoded in every),
        message_sizes(resources),
        dict(resources.vhost_refs),
        dict(resources.cluster_refs),
    )


def test_each_write_builds_what_a_fresh_builder_builds() -> None:
    builder = ResourceBuilder()
    state = mesh()
    builder(state)
    writes: list[tuple[str, Callable[[State], State]]] = [
        ("web", lambda s: commit(s, instance("late", address="10.0.0.9:8080"))),
        ("web", lambda s: commit(s, change(s, "late", Activation.live(10)))),
        ("shop", lambda s: commit(s, service("shop", domains=("shop.example",)))),
        ("shop", lambda s: commit(s, instance("cart", "shop", address="10.0.2.1:8080"))),
        ("shop", lambda s: commit(s, change(s, "cart", Activation.live(1)))),
        ("api", lambda s: commit(s, service("api", domains=("api.internal",)))),
        ("web", lambda s: commit(s, change(s, "late", Activation.inactive()))),
        ("web", lambda s: commit(s, change(s, "late", Activation.retired()))),
        ("aaa", lambda s: commit(s, service("aaa"))),  # sorts before every other service
        ("aaa", lambda s: commit(s, service("aaa", callers=("edge",)))),
        ("api", lambda s: commit(s, service("api", callers=("edge", "batch")))),
        ("aaa", lambda s: commit(s, ServiceDeleted(service="aaa"))),
    ]
    for touched, write in writes:
        after = write(state)
        assert built(builder.after(state, after, [touched])) == built(ResourceBuilder()(after))
        state = after


def test_a_state_it_did_not_build_last_is_built_whole() -> None:
    builder = ResourceBuilder()
    state = mesh()
    builder(state)
    other = commit(State(), service("api"), instance("lone", "api", address="10.0.1.1:8080"))
    after = commit(other, service("web"))
    # told only of "web", but `other` is not what it built last: nothing of it is trusted
    assert built(builder.after(other, after, ["web"])) == built(ResourceBuilder()(after))
