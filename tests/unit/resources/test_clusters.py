"""One cluster per instance that is not retired, named <service>--<id>."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2

from controlplane.resources import build_resources
from tests.unit.resources._world import clusters, mesh


def test_every_instance_but_the_retired_has_its_own_cluster() -> None:
    built = clusters(build_resources(mesh()))
    # clusters come as a mapping in no particular order (the builder updates the last one)
    assert sorted(built) == ["api--lone", "web--blue", "web--dark", "web--green", "web--spare"]
    assert all(cluster.name == name for name, cluster in built.items())


def test_an_ip_is_static_and_a_host_name_is_resolved_by_envoy() -> None:
    built = clusters(build_resources(mesh()))
    kinds = {name: cluster_pb2.Cluster.DiscoveryType.Name(c.type) for name, c in built.items()}
    assert kinds["web--blue"] == kinds["web--dark"] == "STATIC"
    assert kinds["web--green"] == "STRICT_DNS"


def test_a_cluster_points_at_its_instance_address() -> None:
    built = clusters(build_resources(mesh()))

    def endpoint(name: str) -> tuple[str, int]:
        (locality,) = built[name].load_assignment.endpoints
        (lb_endpoint,) = locality.lb_endpoints
        socket = lb_endpoint.endpoint.address.socket_address
        return socket.address, socket.port_value

    assert endpoint("web--blue") == ("10.0.0.1", 8080)
    assert endpoint("web--green") == ("green.internal", 8080)
    assert endpoint("web--dark") == ("::1", 8081)
    assert built["web--blue"].load_assignment.cluster_name == "web--blue"
