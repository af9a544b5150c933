"""The SotW protocol state machine against a fake stream: requests in, responses out."""

from __future__ import annotations

import pytest
from envoy.service.discovery.v3 import discovery_pb2

from controlplane.model import Activation
from controlplane.resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE
from controlplane.xds._errors import ProtocolError
from controlplane.xds._sotw import SotwSession
from tests.xds._fixtures import (
    Hooks,
    add,
    cluster_names,
    controller,
    routed_clusters,
    sotw_request,
    view,
)


def session() -> tuple[SotwSession, Hooks]:
    hooks = Hooks()
    return SotwSession(on_ack=hooks.ack, on_nack=hooks.nack), hooks


def ack(
    s: SotwSession, response: discovery_pb2.DiscoveryResponse, names: tuple[str, ...] = ()
) -> None:
    s.on_request(
        sotw_request(
            response.type_url, nonce=response.nonce, version=response.version_info, names=names
        )
    )


def synced() -> tuple[SotwSession, Hooks, list[discovery_pb2.DiscoveryResponse]]:
    """A session that subscribed to all three types and ACKed everything for one live instance."""
    c = controller(("a", 1))
    s, hooks = session()
    s.on_request(sotw_request(CLUSTER_TYPE))
    s.on_request(sotw_request(LISTENER_TYPE))
    s.on_request(sotw_request(ROUTE_TYPE, names=("weir",)))
    sent = s.responses(view(c))
    for response in sent:
        ack(s, response, names=("weir",) if response.type_url == ROUTE_TYPE else ())
    sent += s.responses(view(c))
    for response in sent[2:]:
        ack(s, response, names=("weir",))
    return s, hooks, sent


def test_nothing_is_sent_for_a_type_before_it_is_subscribed() -> None:
    s, _ = session()
    s.on_request(sotw_request(CLUSTER_TYPE))
    [response] = s.responses(view(controller(("a", 1))))
    assert response.type_url == CLUSTER_TYPE
    assert cluster_names(list(response.resources)) == ["web--a"]


def test_routes_wait_for_the_clusters_they_name_to_be_acked() -> None:
    c = controller(("a", 1))
    s, hooks = session()
    s.on_request(sotw_request(CLUSTER_TYPE))
    s.on_request(sotw_request(ROUTE_TYPE, names=("weir",)))
    [clusters] = s.responses(view(c))
    assert clusters.type_url == CLUSTER_TYPE
    assert s.responses(view(c)) == []  # routes held back: the cluster is not ACKed yet
    ack(s, clusters)
    [routes] = s.responses(view(c))
    assert routes.type_url == ROUTE_TYPE
    assert routed_clusters(routes.resources[0]) == {"web--a"}
    assert hooks.acks == [(CLUSTER_TYPE, clusters.version_info)]


def test_an_acked_version_is_not_resent() -> None:
    s, _, _ = synced()
    assert s.responses(view(controller(("a", 1)))) == []


def test_a_new_instance_is_acked_as_a_cluster_before_any_route_names_it() -> None:
    s, _, _ = synced()
    c = controller(("a", 1))
    add(c, "b")
    c.change("b", Activation.live(1), actor="test")
    [clusters] = s.responses(view(c))
    assert clusters.type_url == CLUSTER_TYPE
    assert cluster_names(list(clusters.resources)) == ["web--a", "web--b"]
    ack(s, clusters)
    [routes] = s.responses(view(c))
    assert routed_clusters(routes.resources[0]) == {"web--a", "web--b"}


def test_a_retired_cluster_stays_until_the_route_that_named_it_is_acked() -> None:
    c = controller(("a", 1), ("b", 1))
    s, _ = session()
    for type_url in (CLUSTER_TYPE, LISTENER_TYPE):
        s.on_request(sotw_request(type_url))
    s.on_request(sotw_request(ROUTE_TYPE, names=("weir",)))
    for response in s.responses(view(c)):
        ack(s, response)
    [routes] = s.responses(view(c))
    ack(s, routes, names=("weir",))

    c.change("b", Activation.inactive(), actor="test")
    c.retire("b", actor="test")
    pending = s.responses(view(c))
    # The proxy still routes to b: the cluster list keeps it, and only the route update goes out.
    assert [r.type_url for r in pending] == [ROUTE_TYPE]
    assert routed_clusters(pending[0].resources[0]) == {"web--a"}
    ack(s, pending[0], names=("weir",))
    [clusters] = s.responses(view(c))
    assert cluster_names(list(clusters.resources)) == ["web--a"]


def test_a_cluster_stays_while_an_unacked_route_names_it() -> None:
    c = controller(("a", 1), ("b", 1))
    s, _ = session()
    for type_url in (CLUSTER_TYPE, LISTENER_TYPE):
        s.on_request(sotw_request(type_url))
    s.on_request(sotw_request(ROUTE_TYPE, names=("weir",)))
    for response in s.responses(view(c)):
        ack(s, response)
    [routes] = s.responses(view(c))
    ack(s, routes, names=("weir",))
    # Given a route to a alone, ACKed, then a route to a and b in flight
    c.change("b", Activation.inactive(), actor="test")
    [to_a] = s.responses(view(c))
    c.change("b", Activation.live(1), actor="test")
    ack(s, to_a, names=("weir",))
    [to_a_and_b] = s.responses(view(c))
    assert routed_clusters(to_a_and_b.resources[0]) == {"web--a", "web--b"}
    # When b is retired before the proxy answers
    c.change("b", Activation.inactive(), actor="test")
    c.retire("b", actor="test")
    # Then b's cluster is kept: the proxy may be routing to it by now
    assert s.responses(view(c)) == []
    ack(s, to_a_and_b, names=("weir",))
    [to_a_again] = s.responses(view(c))
    ack(s, to_a_again, names=("weir",))
    [clusters] = s.responses(view(c))
    assert cluster_names(list(clusters.resources)) == ["web--a"]


def test_a_nack_is_recorded_and_the_rejected_version_is_never_resent() -> None:
    c = controller(("a", 1))
    s, hooks = session()
    s.on_request(sotw_request(CLUSTER_TYPE))
    [clusters] = s.responses(view(c))
    s.on_request(
        sotw_request(CLUSTER_TYPE, nonce=clusters.nonce, error="cluster web--a: bad config")
    )
    assert hooks.nacks == [(CLUSTER_TYPE, clusters.version_info, "cluster web--a: bad config")]
    assert s.responses(view(c)) == []
    add(c, "b")  # a new state is the only thing that sends again
    [retry] = s.responses(view(c))
    assert retry.version_info != clusters.version_info


def test_a_request_answering_an_old_nonce_is_ignored() -> None:
    c = controller(("a", 1))
    s, hooks = session()
    s.on_request(sotw_request(CLUSTER_TYPE))
    [first] = s.responses(view(c))
    ack(s, first)
    add(c, "b")
    [second] = s.responses(view(c))
    s.on_request(sotw_request(CLUSTER_TYPE, nonce=first.nonce, error="late complaint"))
    assert hooks.nacks == []
    ack(s, second)
    assert hooks.acks[-1] == (CLUSTER_TYPE, second.version_info)


def test_changes_during_an_unacked_response_coalesce_into_one() -> None:
    c = controller(("a", 1))
    s, _ = session()
    s.on_request(sotw_request(CLUSTER_TYPE))
    [first] = s.responses(view(c))
    add(c, "b")
    assert s.responses(view(c)) == []
    add(c, "c", port=9101)
    ack(s, first)
    [combined] = s.responses(view(c))
    assert cluster_names(list(combined.resources)) == ["web--a", "web--b", "web--c"]


def test_a_reconnecting_proxy_that_holds_the_current_version_gets_nothing() -> None:
    _, _, sent = synced()
    s, _ = session()
    for response in sent:
        names = ("weir",) if response.type_url == ROUTE_TYPE else ()
        s.on_request(sotw_request(response.type_url, version=response.version_info, names=names))
    assert s.responses(view(controller(("a", 1)))) == []


def test_an_unknown_type_ends_the_stream() -> None:
    s, _ = session()
    with pytest.raises(ProtocolError, match=r"envoy\.config\.endpoint"):
        s.on_request(
            sotw_request("type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment")
        )
