"""Streams that hold all of a view share the work of the next change (ServedView.changes_since,
ServedView.covers) instead of comparing every resource each. Whatever the sequence of changes,
NACKs and subscription changes, a proxy that applies what it is sent ends up holding exactly
the current state, and never a route naming a cluster it lacks."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from envoy.service.discovery.v3 import discovery_pb2
from hypothesis import example, given, settings
from hypothesis import strategies as st

from controlplane.control import Controller
from controlplane.errors import Conflict
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec
from controlplane.resources import (
    CLUSTER_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    VHOST_TYPE,
    ResourceBuilder,
)
from controlplane.xds._delta import DeltaSession
from controlplane.xds._sotw import SotwSession
from controlplane.xds._view import ServedView, ViewCache
from tests.xds._fixtures import LISTENER, Hooks, routed_clusters
from tests.xds.test_delta_session import request

SERVICES = ("web", "shop", "cart")


@dataclass
class Proxy:
    """What a delta client holds after applying every response it accepted."""

    session: DeltaSession
    held: dict[str, dict[str, Any]] = field(default_factory=dict)
    """type_url → name → the packed resource."""

    def apply(self, response: discovery_pb2.DeltaDiscoveryResponse, *, reject: bool) -> None:
        if reject:
            self.session.on_request(
                request(response.type_url, nonce=response.nonce, error="rejected by the test")
            )
            return
        held = self.held.setdefault(response.type_url, {})
        for resource in response.resources:
            held[resource.name] = resource
        for name in response.removed_resources:
            held.pop(name, None)
        self.session.on_request(request(response.type_url, nonce=response.nonce))

    def versions(self, type_url: str) -> dict[str, str]:
        return {name: r.version for name, r in self.held.get(type_url, {}).items()}


def delta_proxy() -> Proxy:
    hooks = Hooks()
    proxy = Proxy(DeltaSession(on_ack=hooks.ack, on_nack=hooks.nack))
    for type_url, names in (
        (CLUSTER_TYPE, ()),
        (LISTENER_TYPE, ()),
        (ROUTE_TYPE, ("weir",)),
        (VHOST_TYPE, ()),  # Envoy 1.40: a wildcard first request
    ):
        proxy.session.on_request(request(type_url, subscribe=names))
    return proxy


def drain(proxy: Proxy, view: ServedView, *, reject: str | None = None) -> None:
    """Apply and ACK until nothing more comes; NACK the first response of type `reject`."""
    while batch := proxy.session.responses(view):
        for response in batch:  # sent only once every cluster they name is ACKed
            if response.type_url == VHOST_TYPE:
                for resource in response.resources:
                    assert routed_clusters(resource.resource) <= proxy.versions(CLUSTER_TYPE).keys()
        for response in batch:
            refused = response.type_url == reject
            if refused:
                reject = None
            proxy.apply(response, reject=refused)


def mesh() -> Controller:
    c = Controller(SqliteStore(":memory:"))
    for n, service in enumerate(SERVICES[:2]):
        c.apply_service(ServiceSpec(name=service), actor="test")
        add_live(c, service, f"{service}-0", 9000 + 10 * n)
    return c


def add_live(c: Controller, service: str, instance_id: str, port: int) -> None:
    instance = Instance(id=instance_id, service=service, version="v1", address=f"127.0.0.1:{port}")
    c.add_instance(instance, actor="test")
    c.change(instance_id, Activation.live(1), actor="test")


def step(c: Controller, op: tuple[str, int, int]) -> None:
    """One change to the mesh, chosen by the test's data."""
    kind, pick, weight = op
    active = sorted(
        i for i, record in c.state.instances.items() if record.activation.state != "retired"
    )
    if kind == "weight" and active:
        instance_id = active[pick % len(active)]
        if c.state.instances[instance_id].activation != Activation.live(weight):
            c.change(instance_id, Activation.live(weight), actor="test")
    elif kind == "add":
        service = SERVICES[pick % len(SERVICES)]
        if service not in c.state.services:
            c.apply_service(ServiceSpec(name=service), actor="test")
        add_live(c, service, f"{service}-{len(c.state.instances)}", 9100 + len(c.state.instances))
    elif kind == "retire" and len(active) > 1:
        instance_id = active[pick % len(active)]
        with contextlib.suppress(Conflict):  # weir may refuse: a service's last live one
            if c.state.instances[instance_id].activation.state != "inactive":
                c.change(instance_id, Activation.inactive(), actor="test")
            c.retire(instance_id, actor="test")


operations = st.lists(
    st.tuples(
        st.sampled_from(["weight", "weight", "add", "retire", "nack", "resubscribe"]),
        st.integers(0, 20),
        st.integers(1, 5),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(operations)
# Two NACKs, then a virtual host dropped and named again: its refused content is what it asks
# for anew, and withholding it left the proxy without the service's routes (found by this test).
@example([("weight", 1, 2), ("nack", 0, 2), ("nack", 1, 1), ("resubscribe", 0, 1)])
def test_delta_streams_end_holding_exactly_the_current_state(ops: list[Any]) -> None:
    c, builder, views = mesh(), ResourceBuilder(), ViewCache()
    proxies = [delta_proxy(), delta_proxy()]  # two streams sharing each view's work
    for proxy in proxies:
        drain(proxy, views.of(builder(c.state), LISTENER, "delta"))
    for kind, pick, weight in ops:
        rejecting = kind == "nack"
        name = ""
        if kind == "resubscribe":
            # Naming a virtual host again (as after Envoy drops it) must bring it back.
            vhosts = sorted(proxies[0].held.get(VHOST_TYPE, {}))
            name = vhosts[pick % len(vhosts)]
            proxies[0].session.on_request(request(VHOST_TYPE, unsubscribe=(name,)))
            del proxies[0].held[VHOST_TYPE][name]  # what it unsubscribes from, it drops
            proxies[0].session.on_request(request(VHOST_TYPE, subscribe=(name,)))
        else:
            step(c, ("weight", pick, weight) if rejecting else (kind, pick, weight))
        view = views.of(builder(c.state), LISTENER, "delta")
        for proxy in proxies:
            before = proxy.versions(VHOST_TYPE)
            drain(proxy, view, reject=VHOST_TYPE if rejecting else None)
            if rejecting:
                assert proxy.versions(VHOST_TYPE) == before  # nothing else came for it
        if name:
            assert name in proxies[0].held[VHOST_TYPE], f"{name} named again, never sent"
    # One more change and every stream holds exactly the state: the rejected ones included.
    step(c, ("add", 0, 1))
    view = views.of(builder(c.state), LISTENER, "delta")
    for proxy in proxies:
        drain(proxy, view)
        for type_url in (CLUSTER_TYPE, VHOST_TYPE):
            wanted = {name: r.version for name, r in view.resources[type_url].items()}
            assert proxy.versions(type_url) == wanted


def sotw_sync(session: SotwSession, view: ServedView) -> dict[str, str]:
    """ACK everything until quiet; the version of each type last sent."""
    versions: dict[str, str] = {}
    while batch := session.responses(view):
        for response in batch:
            versions[response.type_url] = response.version_info
            names = ["weir"] if response.type_url == ROUTE_TYPE else []
            session.on_request(
                discovery_pb2.DiscoveryRequest(
                    type_url=response.type_url,
                    version_info=response.version_info,
                    response_nonce=response.nonce,
                    resource_names=names,
                )
            )
    return versions


def sotw_session(hooks: Hooks) -> SotwSession:
    session = SotwSession(on_ack=hooks.ack, on_nack=hooks.nack)
    for type_url, names in ((CLUSTER_TYPE, []), (LISTENER_TYPE, []), (ROUTE_TYPE, ["weir"])):
        session.on_request(discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=names))
    return session


def answer(
    session: SotwSession, response: discovery_pb2.DiscoveryResponse, *, error: str = ""
) -> None:
    reply = discovery_pb2.DiscoveryRequest(
        type_url=response.type_url,
        version_info=response.version_info,
        response_nonce=response.nonce,
        resource_names=["weir"] if response.type_url == ROUTE_TYPE else [],
    )
    if error:
        reply.error_detail.message = error
    session.on_request(reply)


def test_sotw_routes_wait_for_each_streams_own_cluster_ack() -> None:
    c, builder, views, hooks = mesh(), ResourceBuilder(), ViewCache(), Hooks()
    sessions = [sotw_session(hooks) for _ in range(3)]
    for session in sessions:
        sotw_sync(session, views.of(builder(c.state), LISTENER, "sotw"))
    c.change("web-0", Activation.live(4), actor="test")
    view = views.of(builder(c.state), LISTENER, "sotw")
    for session in sessions:
        [route] = session.responses(view)  # same clusters held: the route goes at once
        assert route.type_url == ROUTE_TYPE
        answer(session, route)
    add_live(c, "web", "web-new", 9500)  # a new cluster, then a route naming it
    view = views.of(builder(c.state), LISTENER, "sotw")
    clusters = [session.responses(view) for session in sessions]
    assert [[r.type_url for r in batch] for batch in clusters] == [[CLUSTER_TYPE]] * 3
    answer(sessions[0], clusters[0][0])
    answer(sessions[1], clusters[1][0])
    answer(sessions[2], clusters[2][0], error="rejected by the test")
    for session in sessions[:2]:  # they hold the new cluster: the route follows
        [route] = session.responses(view)
        assert "web--web-new" in routed_clusters(route.resources[0])
    assert sessions[2].responses(view) == []  # never a route naming a cluster it refused


def test_a_name_dropped_while_a_response_is_on_its_way_is_sent_again() -> None:
    c, builder, views = mesh(), ResourceBuilder(), ViewCache()
    proxy = delta_proxy()
    drain(proxy, views.of(builder(c.state), LISTENER, "delta"))
    c.change("web-0", Activation.live(3), actor="test")
    [update] = proxy.session.responses(views.of(builder(c.state), LISTENER, "delta"))
    assert [r.name for r in update.resources] == ["weir/web"]
    # Before the ACK, the proxy drops weir/shop and asks for it again.
    proxy.session.on_request(request(VHOST_TYPE, unsubscribe=("weir/shop",)))
    del proxy.held[VHOST_TYPE]["weir/shop"]
    proxy.session.on_request(request(VHOST_TYPE, subscribe=("weir/shop",)))
    proxy.apply(update, reject=False)
    [again] = proxy.session.responses(views.of(builder(c.state), LISTENER, "delta"))
    assert [r.name for r in again.resources] == ["weir/shop"]
