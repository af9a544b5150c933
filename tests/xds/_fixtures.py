"""Small builders for protocol tests: a controller on an in-memory ledger and a proxy view."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec
from controlplane.resources import build_listener, build_resources
from controlplane.xds._view import ServedView

LISTENER = build_listener("127.0.0.1", 15001)


def controller(*live: tuple[str, int]) -> Controller:
    """A controller with service `web` and the given (id, weight) instances live."""
    c = Controller(SqliteStore(":memory:"))
    c.apply_service(ServiceSpec(name="web"), actor="test")
    for n, (instance_id, weight) in enumerate(live):
        add(c, instance_id, port=9000 + n)
        c.change(instance_id, Activation.live(weight), actor="test")
    return c


def add(c: Controller, instance_id: str, *, port: int = 9100) -> None:
    c.add_instance(
        Instance(id=instance_id, service="web", version="v1", address=f"127.0.0.1:{port}"),
        actor="test",
    )


def view(c: Controller) -> ServedView:
    """What a SotW stream is served: the route configuration with its virtual hosts inline."""
    return ServedView.of(build_resources(c.state), LISTENER)


def delta_view(c: Controller) -> ServedView:
    """What a delta stream is served: virtual hosts by VHDS."""
    return ServedView.of(build_resources(c.state), LISTENER, "delta")


def cluster_names(resources: list[any_pb2.Any]) -> list[str]:
    names = []
    for packed in resources:
        cluster = cluster_pb2.Cluster()
        packed.Unpack(cluster)
        names.append(cluster.name)
    return names


def routed_clusters(packed: any_pb2.Any) -> set[str]:
    """The clusters a packed route configuration or virtual host routes to."""
    if packed.Is(route_components_pb2.VirtualHost.DESCRIPTOR):
        vhost = route_components_pb2.VirtualHost()
        packed.Unpack(vhost)
        vhosts = [vhost]
    else:
        config = route_pb2.RouteConfiguration()
        packed.Unpack(config)
        vhosts = list(config.virtual_hosts)
    return {
        weighted.name
        for vhost in vhosts
        for route in vhost.routes
        for weighted in route.route.weighted_clusters.clusters
    }


class Hooks:
    """Records the ACKs and NACKs a session reports."""

    def __init__(self) -> None:
        self.acks: list[tuple[str, str]] = []
        self.nacks: list[tuple[str, str, str]] = []

    def ack(self, type_url: str, version: str) -> None:
        self.acks.append((type_url, version))

    def nack(self, type_url: str, version: str, message: str) -> None:
        self.nacks.append((type_url, version, message))


def sotw_request(
    type_url: str,
    *,
    nonce: str = "",
    version: str = "",
    names: tuple[str, ...] = (),
    error: str = "",
) -> discovery_pb2.DiscoveryRequest:
    request = discovery_pb2.DiscoveryRequest(
        type_url=type_url, response_nonce=nonce, version_info=version, resource_names=list(names)
    )
    if error:
        request.error_detail.message = error
        request.error_detail.code = 3
    return request
