"""The incremental (delta) protocol state machine against a fake stream."""

from __future__ import annotations

from envoy.service.discovery.v3 import discovery_pb2

from controlplane.model import Activation
from controlplane.resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from controlplane.xds._delta import DeltaSession
from tests.xds._fixtures import Hooks, add, controller, routed_clusters, view


def session() -> tuple[DeltaSession, Hooks]:
    hooks = Hooks()
    return DeltaSession(on_ack=hooks.ack, on_nack=hooks.nack), hooks


def request(
    type_url: str,
    *,
    nonce: str = "",
    subscribe: tuple[str, ...] = (),
    unsubscribe: tuple[str, ...] = (),
    initial: dict[str, str] | None = None,
    error: str = "",
) -> discovery_pb2.DeltaDiscoveryRequest:
    r = discovery_pb2.DeltaDiscoveryRequest(
        type_url=type_url,
        response_nonce=nonce,
        resource_names_subscribe=list(subscribe),
        resource_names_unsubscribe=list(unsubscribe),
        initial_resource_versions=initial or {},
    )
    if error:
        r.error_detail.message = error
    return r


def ack(s: DeltaSession, response: discovery_pb2.DeltaDiscoveryResponse) -> None:
    s.on_request(request(response.type_url, nonce=response.nonce))


def subscribe_all(s: DeltaSession) -> None:
    s.on_request(request(CLUSTER_TYPE))
    s.on_request(request(LISTENER_TYPE))
    s.on_request(request(ROUTE_TYPE, subscribe=("weir",)))


def sync(s: DeltaSession, c: object) -> list[discovery_pb2.DeltaDiscoveryResponse]:
    """Answer every response with an ACK until the session has nothing more to send."""
    sent: list[discovery_pb2.DeltaDiscoveryResponse] = []
    while batch := s.responses(view(c)):  # type: ignore[arg-type]
        for response in batch:
            ack(s, response)
        sent += batch
    return sent


def test_initial_sync_sends_each_type_once_in_order() -> None:
    s, hooks = session()
    subscribe_all(s)
    sent = sync(s, controller(("a", 1)))
    assert [r.type_url for r in sent] == [CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE]
    assert [r.name for r in sent[0].resources] == ["web--a"]
    assert len(hooks.acks) == 3


def test_a_weight_change_sends_only_the_route_configuration() -> None:
    c = controller(("a", 1), ("b", 1))
    s, _ = session()
    subscribe_all(s)
    sync(s, c)
    c.change("b", Activation.live(3), actor="test")
    [routes] = s.responses(view(c))
    assert routes.type_url == ROUTE_TYPE
    assert [r.name for r in routes.resources] == ["weir"]
    assert list(routes.removed_resources) == []


def test_retiring_removes_the_cluster_after_the_route_stops_naming_it() -> None:
    c = controller(("a", 1), ("b", 1))
    s, _ = session()
    subscribe_all(s)
    sync(s, c)
    c.change("b", Activation.inactive(), actor="test")
    c.retire("b", actor="test")
    [routes] = s.responses(view(c))
    assert routes.type_url == ROUTE_TYPE and routed_clusters(routes.resources[0].resource) == {
        "web--a"
    }
    ack(s, routes)
    [clusters] = s.responses(view(c))
    assert list(clusters.removed_resources) == ["web--b"]
    assert list(clusters.resources) == []


def test_a_reconnect_with_current_versions_resends_nothing() -> None:
    c = controller(("a", 1))
    s, _ = session()
    subscribe_all(s)
    sent = sync(s, c)
    holds = {r.type_url: {res.name: res.version for res in r.resources} for r in sent}

    again, _ = session()
    again.on_request(request(CLUSTER_TYPE, initial=holds[CLUSTER_TYPE]))
    again.on_request(request(LISTENER_TYPE, initial=holds[LISTENER_TYPE]))
    again.on_request(request(ROUTE_TYPE, subscribe=("weir",), initial=holds[ROUTE_TYPE]))
    answers = again.responses(view(c))
    # Each subscription gets its one answer, and it carries nothing: the proxy has it all.
    assert [(len(r.resources), len(r.removed_resources)) for r in answers] == [(0, 0)] * 3


def test_an_empty_snapshot_still_answers_the_first_request() -> None:
    s, _ = session()
    s.on_request(request(CLUSTER_TYPE))
    [answer] = s.responses(view(controller()))
    assert answer.type_url == CLUSTER_TYPE and list(answer.resources) == []
    ack(s, answer)
    assert s.responses(view(controller())) == []


def test_after_a_reconnect_clusters_it_holds_are_kept_until_routes_are_known() -> None:
    c = controller(("a", 1))
    s, _ = session()
    s.on_request(request(CLUSTER_TYPE, initial={"web--a": "x", "web--gone": "y"}))
    s.on_request(request(ROUTE_TYPE, subscribe=("weir",), initial={"weir": "old"}))
    # web--a is resent (its version differs) and the route may go out at once: the proxy holds a
    # cluster of every name it needs. web--gone stays: the proxy's old route may still name it.
    clusters, routes = s.responses(view(c))
    assert [r.name for r in clusters.resources] == ["web--a"]
    assert list(clusters.removed_resources) == []
    assert routes.type_url == ROUTE_TYPE
    ack(s, clusters)
    ack(s, routes)
    [cleanup] = s.responses(view(c))
    assert list(cleanup.removed_resources) == ["web--gone"]


def test_a_newly_subscribed_name_is_always_sent() -> None:
    c = controller(("a", 1))
    s, _ = session()
    subscribe_all(s)
    sync(s, c)
    s.on_request(request(ROUTE_TYPE, unsubscribe=("weir",)))
    assert s.responses(view(c)) == []
    s.on_request(request(ROUTE_TYPE, subscribe=("weir",)))
    [routes] = s.responses(view(c))
    assert [r.name for r in routes.resources] == ["weir"]


def test_a_nack_is_recorded_and_not_resent_until_the_state_changes() -> None:
    c = controller(("a", 1))
    s, hooks = session()
    s.on_request(request(CLUSTER_TYPE))
    [clusters] = s.responses(view(c))
    s.on_request(request(CLUSTER_TYPE, nonce=clusters.nonce, error="rejected: bad cluster"))
    assert [m for _, _, m in hooks.nacks] == ["rejected: bad cluster"]
    assert s.responses(view(c)) == []
    add(c, "b")
    [retry] = s.responses(view(c))
    assert sorted(r.name for r in retry.resources) == ["web--a", "web--b"]
