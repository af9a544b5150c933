"""Delta streams with VHDS: a change to one service sends that service's virtual host alone,
and make-before-break holds between clusters and the virtual hosts that name them."""

from __future__ import annotations

import pytest
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import discovery_pb2

from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec
from controlplane.resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, VHOST_TYPE
from controlplane.xds._delta import DeltaSession
from controlplane.xds._errors import ProtocolError
from controlplane.xds._sotw import SotwSession
from tests.xds._fixtures import Hooks, add, controller, delta_view, routed_clusters, sotw_request
from tests.xds.test_delta_session import ack, request


def session() -> tuple[DeltaSession, Hooks]:
    hooks = Hooks()
    return DeltaSession(on_ack=hooks.ack, on_nack=hooks.nack), hooks


def subscribe_as_envoy(s: DeltaSession) -> None:
    """What Envoy 1.40 asks for: clusters and listeners by wildcard, the route configuration
    by name, and the virtual hosts with a first request that names nothing (a wildcard)."""
    s.on_request(request(CLUSTER_TYPE))
    s.on_request(request(LISTENER_TYPE))
    s.on_request(request(ROUTE_TYPE, subscribe=("weir",)))
    s.on_request(request(VHOST_TYPE))


def sync(s: DeltaSession, c: Controller) -> list[discovery_pb2.DeltaDiscoveryResponse]:
    sent: list[discovery_pb2.DeltaDiscoveryResponse] = []
    while batch := s.responses(delta_view(c)):
        for response in batch:
            ack(s, response)
        sent += batch
    return sent


def names(response: discovery_pb2.DeltaDiscoveryResponse) -> list[str]:
    return [r.name for r in response.resources]


def two_services() -> Controller:
    """web: a, b live 1:1. shop: till live."""
    c = controller(("a", 1), ("b", 1))
    c.apply_service(ServiceSpec(name="shop"), actor="test")
    till = Instance(id="till", service="shop", version="v1", address="127.0.0.1:9200")
    c.add_instance(till, actor="test")
    c.change("till", Activation.live(1), actor="test")
    return c


def test_the_first_sync_sends_the_route_configuration_then_every_virtual_host() -> None:
    s, hooks = session()
    subscribe_as_envoy(s)
    sent = sync(s, two_services())
    assert [(r.type_url, names(r)) for r in sent] == [
        (CLUSTER_TYPE, ["shop--till", "web--a", "web--b"]),
        (LISTENER_TYPE, ["weir_http"]),
        (ROUTE_TYPE, ["weir"]),
        (VHOST_TYPE, ["weir/shop", "weir/web"]),
    ]
    assert len(hooks.acks) == 4


def test_a_weight_change_sends_one_virtual_host_and_nothing_else() -> None:
    c = two_services()
    s, _ = session()
    subscribe_as_envoy(s)
    sync(s, c)
    c.change("b", Activation.live(3), actor="test")
    [vhost] = s.responses(delta_view(c))
    assert vhost.type_url == VHOST_TYPE
    assert names(vhost) == ["weir/web"] and list(vhost.removed_resources) == []
    assert routed_clusters(vhost.resources[0].resource) == {"web--a", "web--b"}


def test_virtual_hosts_asked_for_by_namespace_are_all_sent() -> None:
    s, _ = session()
    s.on_request(request(CLUSTER_TYPE))
    s.on_request(request(VHOST_TYPE, subscribe=("weir",)))
    sent = sync(s, two_services())
    assert names(sent[-1]) == ["weir/shop", "weir/web"]


def test_a_new_instance_is_routed_only_once_its_cluster_is_acked() -> None:
    c = two_services()
    s, _ = session()
    subscribe_as_envoy(s)
    sync(s, c)
    add(c, "c")
    c.change("c", Activation.live(1), actor="test")
    [clusters] = s.responses(delta_view(c))
    assert clusters.type_url == CLUSTER_TYPE and names(clusters) == ["web--c"]
    assert s.responses(delta_view(c)) == []  # the virtual host waits for the ACK
    ack(s, clusters)
    [vhost] = s.responses(delta_view(c))
    assert names(vhost) == ["weir/web"]
    assert routed_clusters(vhost.resources[0].resource) == {"web--a", "web--b", "web--c"}


def test_a_retired_cluster_goes_only_after_no_virtual_host_names_it() -> None:
    c = two_services()
    s, _ = session()
    subscribe_as_envoy(s)
    sync(s, c)
    c.change("b", Activation.inactive(), actor="test")
    c.retire("b", actor="test")
    [vhost] = s.responses(delta_view(c))
    assert vhost.type_url == VHOST_TYPE
    assert routed_clusters(vhost.resources[0].resource) == {"web--a"}
    assert s.responses(delta_view(c)) == []  # web--b stays while the old virtual host may
    ack(s, vhost)
    [clusters] = s.responses(delta_view(c))
    assert list(clusters.removed_resources) == ["web--b"] and names(clusters) == []


def test_a_cluster_stays_while_an_unacked_virtual_host_names_it() -> None:
    # Given a proxy holding a route to a and b, with a change dropping b in flight
    c = two_services()
    s, _ = session()
    subscribe_as_envoy(s)
    sync(s, c)
    c.change("b", Activation.inactive(), actor="test")
    [dropping_b] = s.responses(delta_view(c))
    # When b comes back and is retired again before that change is ACKed
    c.change("b", Activation.live(1), actor="test")
    assert s.responses(delta_view(c)) == []
    ack(s, dropping_b)
    [restoring_b] = s.responses(delta_view(c))
    assert routed_clusters(restoring_b.resources[0].resource) == {"web--a", "web--b"}
    # Then b's cluster is never removed while any route the proxy holds names it
    c.change("b", Activation.inactive(), actor="test")
    c.retire("b", actor="test")
    assert s.responses(delta_view(c)) == []
    ack(s, restoring_b)
    [vhost] = s.responses(delta_view(c))
    assert vhost.type_url == VHOST_TYPE and routed_clusters(vhost.resources[0].resource) == {
        "web--a"
    }
    ack(s, vhost)
    [clusters] = s.responses(delta_view(c))
    assert list(clusters.removed_resources) == ["web--b"]


def test_after_a_reconnect_held_clusters_stay_until_the_virtual_hosts_are_acked() -> None:
    # Given a proxy that reconnects holding web--a and web--gone, and the route configuration
    c = controller(("a", 1))
    synced, _ = session()
    subscribe_as_envoy(synced)
    route_version = {r.name: r.version for r in sync(synced, c)[2].resources if r.name == "weir"}
    s, _ = session()
    held = {"web--a": "x", "web--gone": "y"}
    s.on_request(request(CLUSTER_TYPE, initial=held))
    s.on_request(request(ROUTE_TYPE, subscribe=("weir",), initial=route_version))
    s.on_request(request(VHOST_TYPE))  # Envoy does not say which virtual hosts it holds
    # When it ACKs the answers but the virtual hosts
    clusters, routes, vhosts = s.responses(delta_view(c))
    assert (names(routes), names(vhosts)) == ([], ["weir/web"])
    ack(s, clusters)
    ack(s, routes)
    # Then web--gone stays: an old virtual host may still name it
    assert s.responses(delta_view(c)) == []
    ack(s, vhosts)
    [cleanup] = s.responses(delta_view(c))
    assert list(cleanup.removed_resources) == ["web--gone"]


def test_a_new_service_adds_its_virtual_host_and_leaves_the_others() -> None:
    c = controller(("a", 1))
    s, _ = session()
    subscribe_as_envoy(s)
    sync(s, c)
    c.apply_service(ServiceSpec(name="shop"), actor="test")
    [vhost] = s.responses(delta_view(c))
    assert names(vhost) == ["weir/shop"]


def test_a_nacked_virtual_host_is_recorded_and_not_resent() -> None:
    c = two_services()
    s, hooks = session()
    subscribe_as_envoy(s)
    sync(s, c)
    c.change("b", Activation.live(7), actor="test")
    [vhost] = s.responses(delta_view(c))
    s.on_request(request(VHOST_TYPE, nonce=vhost.nonce, error="rejected: bad virtual host"))
    assert hooks.nacks[-1][0] == VHOST_TYPE and hooks.nacks[-1][2] == "rejected: bad virtual host"
    assert s.responses(delta_view(c)) == []
    c.change("b", Activation.live(8), actor="test")
    [retry] = s.responses(delta_view(c))
    assert names(retry) == ["weir/web"]


def test_an_empty_mesh_is_served_inline_until_it_has_a_virtual_host() -> None:
    # Envoy holds its listener back until a first VHDS update carries something; an empty mesh
    # has nothing to carry, so its (empty) route configuration goes inline.
    c = Controller(SqliteStore(":memory:"))
    s, _ = session()
    subscribe_as_envoy(s)
    sent = sync(s, c)
    [routes] = [r for r in sent if r.type_url == ROUTE_TYPE]
    config = route_pb2.RouteConfiguration()
    routes.resources[0].resource.Unpack(config)
    assert not config.HasField("vhds")
    # When a first service appears, the route configuration turns to VHDS and brings it
    c.apply_service(ServiceSpec(name="shop"), actor="test")
    routes, vhost = sync(s, c)
    routes.resources[0].resource.Unpack(config)
    assert config.HasField("vhds") and list(config.virtual_hosts) == []
    assert names(vhost) == ["weir/shop"]


def test_a_sotw_stream_cannot_ask_for_virtual_hosts() -> None:
    s = SotwSession(on_ack=Hooks().ack, on_nack=Hooks().nack)
    with pytest.raises(ProtocolError, match="delta"):
        s.on_request(sotw_request(VHOST_TYPE))
