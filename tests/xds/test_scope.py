"""Scoped proxies: a proxy that declares the services it calls is served those alone (and those
whose files name its group among their callers), SotW and delta alike; a proxy that declares
nothing is served every service; what a proxy declares is hostile input, bounded."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.control import Controller
from controlplane.defaults import MAX_CALLS
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec
from controlplane.resources import CLUSTER_TYPE, VHOST_TYPE, ResourceBuilder
from controlplane.xds._errors import ProtocolError
from controlplane.xds._scope import declared_calls, scope_of
from controlplane.xds._view import ViewCache
from tests.xds._client import AdsClient
from tests.xds._fixtures import LISTENER, Hooks, cluster_names
from tests.xds._server import serving
from tests.xds.test_hygiene import refused, subscribed
from tests.xds.test_shared_changes import delta_proxy, drain, sotw_session, sotw_sync

SERVICES = ("web", "cart", "pay", "ship", "mail")
GROUP = "front"


def node(calls: Any = None, **fields: Any) -> base_pb2.Node:
    proxy = base_pb2.Node(id="sidecar-1", cluster=GROUP)
    if calls is not None:
        proxy.metadata.update({"weir_calls": calls})
    for key, value in fields.items():
        proxy.metadata.update({key: value})
    return proxy


def mesh() -> Controller:
    """Five services of two instances each, one live."""
    c = Controller(SqliteStore(":memory:"))
    for s, service in enumerate(SERVICES):
        c.apply_service(ServiceSpec(name=service), actor="test")
        for i in range(2):
            instance = Instance(
                id=f"{service}-{i}", service=service, version="v1", address=f"10.0.{s}.{i}:80"
            )
            c.add_instance(instance, actor="test")
        c.change(f"{service}-0", Activation.live(1), actor="test")
    return c


@pytest.mark.parametrize(
    ("calls", "declared"),
    [
        (None, None),
        (["cart", "pay"], {"cart", "pay"}),
        ("cart, pay,,cart", {"cart", "pay"}),
        ([], set()),
        ("", set()),
    ],
)
def test_what_a_proxy_declares_is_read_from_its_node(calls: Any, declared: Any) -> None:
    got = declared_calls(node(calls))
    assert got == (None if declared is None else frozenset(declared))


@pytest.mark.parametrize(
    ("calls", "message"),
    [
        (["cart", 7], "lists service names, not number"),
        ({"cart": True}, "not struct"),
        (["Cart!"], "'Cart!' is not a service name"),
        ("x" * 5000, "is not a service name"),
        ([f"s{n}" for n in range(MAX_CALLS + 1)], f"more than {MAX_CALLS} services"),
        (",".join(f"s{n}" for n in range(MAX_CALLS + 1)), f"more than {MAX_CALLS} services"),
    ],
    ids=["not-a-name", "a-map", "bad-name", "long-name", "too-many", "too-many-in-a-string"],
)
def test_a_declaration_out_of_bounds_is_refused_with_its_reason(calls: Any, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        declared_calls(node(calls))


def test_the_scope_adds_the_services_naming_the_proxys_group_as_caller() -> None:
    c = mesh()
    c.apply_service(ServiceSpec(name="mail", callers=(GROUP, "other")), actor="test")
    snapshot = ResourceBuilder()(c.state)
    assert scope_of(None, GROUP, snapshot) is None  # undeclared: everything
    assert scope_of(frozenset({"cart"}), GROUP, snapshot) == frozenset({"cart", "mail"})
    assert scope_of(frozenset({"cart"}), "elsewhere", snapshot) == frozenset({"cart"})


def vhost_services(names: set[str]) -> set[str]:
    """`web` from `weir/web`."""
    return {n.partition("/")[2] for n in names}


operations = st.lists(
    st.tuples(st.sampled_from(["call", "uncall", "weight", "add"]), st.integers(0, 20)),
    min_size=1,
    max_size=10,
)


@settings(max_examples=40, deadline=None)
@given(operations)
def test_a_scoped_delta_proxy_holds_exactly_its_services_as_they_and_its_scope_change(
    ops: list[tuple[str, int]],
) -> None:
    c, builder, views = mesh(), ResourceBuilder(), ViewCache()
    declared = frozenset({"web"})
    full, scoped = delta_proxy(), delta_proxy()

    def sync() -> None:
        snapshot = builder(c.state)
        drain(full, views.of(snapshot, LISTENER, "delta"))
        # drain() checks that no virtual host ever names a cluster the proxy lacks
        drain(scoped, views.of(snapshot, LISTENER, "delta", scope_of(declared, GROUP, snapshot)))

    sync()
    for kind, pick in ops:
        service = SERVICES[pick % len(SERVICES)]
        spec = c.state.services[service]
        if kind in ("call", "uncall"):
            callers = (GROUP,) if kind == "call" else ()
            if spec.callers != callers:
                c.apply_service(spec.model_copy(update={"callers": callers}), actor="test")
        elif kind == "weight":
            if c.state.instances[f"{service}-0"].activation != Activation.live(pick + 1):
                c.change(f"{service}-0", Activation.live(pick + 1), actor="test")
        else:
            instance_id = f"{service}-{len(c.state.instances)}"
            address = f"10.9.{pick}.{len(c.state.instances)}:80"
            c.add_instance(
                Instance(id=instance_id, service=service, version="v2", address=address),
                actor="test",
            )
        sync()
        calling = {"web"} | {s for s, spec in c.state.services.items() if GROUP in spec.callers}
        wanted = {
            s: r.version
            for s, r in views.of(builder(c.state), LISTENER, "delta")
            .resources[CLUSTER_TYPE]
            .items()
            if s.partition("--")[0] in calling
        }
        assert scoped.versions(CLUSTER_TYPE) == wanted
        assert vhost_services(set(scoped.versions(VHOST_TYPE))) == calling
        assert vhost_services(set(full.versions(VHOST_TYPE))) == set(SERVICES)


def test_a_scoped_sotw_proxy_gets_its_services_and_one_more_when_a_file_names_its_group() -> None:
    c, builder, views, hooks = mesh(), ResourceBuilder(), ViewCache(), Hooks()
    session = sotw_session(hooks)
    declared = frozenset({"cart", "pay", "absent"})  # a name that does not exist yet: ignored

    def view() -> Any:
        snapshot = builder(c.state)
        return views.of(snapshot, LISTENER, "sotw", scope_of(declared, GROUP, snapshot))

    sotw_sync(session, view())
    assert set(session.held.clusters) == {
        "cart--cart-0",
        "cart--cart-1",
        "pay--pay-0",
        "pay--pay-1",
    }
    c.apply_service(ServiceSpec(name="mail", callers=(GROUP,)), actor="test")
    sotw_sync(session, view())
    assert {n.partition("--")[0] for n in session.held.clusters} == {"cart", "pay", "mail"}


def test_views_of_scopes_no_stream_asks_for_are_forgotten() -> None:
    c, builder, views = mesh(), ResourceBuilder(), ViewCache()
    snapshot = builder(c.state)
    for n in range(50):  # fifty proxies, each with a scope of its own, came and went
        views.of(snapshot, LISTENER, "delta", frozenset({SERVICES[n % 5], f"gone-{n}"}))
    c.change("web-0", Activation.live(7), actor="test")
    views.of(builder(c.state), LISTENER, "delta", frozenset({"web"}))  # the one still here
    c.change("web-0", Activation.live(8), actor="test")
    views.of(builder(c.state), LISTENER, "delta", frozenset({"web"}))
    assert len(views._views) == 1 and len(views._scoped) == 1


async def test_over_grpc_a_scoped_proxy_gets_its_clusters_and_a_bad_one_ends_alone() -> None:
    c = mesh()
    async with (
        serving(c) as (xds, address),
        grpc.aio.insecure_channel(address) as channel,
        AdsClient(address, "scoped", channel=channel) as scoped,
        AdsClient(address, "front", channel=channel) as front,
        AdsClient(address, "hostile", channel=channel) as hostile,
    ):
        first = discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE)
        first.node.metadata.update({"weir_calls": ["pay"]})
        scoped.send(first)
        response = await scoped.receive()
        scoped.ack(response)
        assert sorted(cluster_names(list(response.resources))) == ["pay--pay-0", "pay--pay-1"]
        assert len(await subscribed(front)) == 10  # declared nothing: everything

        bad = discovery_pb2.DiscoveryRequest(type_url=CLUSTER_TYPE)
        bad.node.metadata.update({"weir_calls": [f"s{n}" for n in range(MAX_CALLS + 1)]})
        hostile.send(bad)
        error = await refused(hostile)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"more than {MAX_CALLS} services" in (error.details() or "")

        c.apply_service(ServiceSpec(name="ship", callers=("test",)), actor="test")
        response = await scoped.receive()  # its group (the client's node.cluster) calls ship
        assert {n.partition("--")[0] for n in cluster_names(list(response.resources))} == {
            "pay",
            "ship",
        }
        assert sorted(p.node_id for p in xds.registry.proxies()) == ["front", "scoped"]
