"""A state with every kind of instance, and readers for the resources built from it."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2

from controlplane.model import Activation, State
from controlplane.resources import ROUTE_CONFIG_NAME, Resources
from tests.unit._builders import change, commit, instance, service


def mesh(**web_fields: object) -> State:
    """web: blue live 80 (IP), green live 20 (host name), dark shadow 25% ([::1]),
    spare inactive, gone retired. api: one instance, inactive."""
    state = commit(
        State(),
        service("web", domains=("web.internal",), **web_fields),
        service("api"),
        instance("blue", address="10.0.0.1:8080"),
        instance("green", address="green.internal:8080"),
        instance("dark", address="[::1]:8081"),
        instance("spare", address="10.0.0.4:8080"),
        instance("gone", address="10.0.0.5:8080"),
        instance("lone", "api", address="10.0.1.1:8080"),
    )
    return commit(
        state,
        change(state, "blue", Activation.live(80)),
        change(state, "green", Activation.live(20)),
        change(state, "dark", Activation.shadow(25)),
        change(state, "gone", Activation.retired()),
    )


def clusters(resources: Resources) -> dict[str, cluster_pb2.Cluster]:
    decoded = {}
    for name, encoded in resources.clusters.items():
        cluster = cluster_pb2.Cluster()
        cluster.ParseFromString(encoded.payload)
        decoded[name] = cluster
    return decoded


def route_config(resources: Resources) -> route_pb2.RouteConfiguration:
    config = route_pb2.RouteConfiguration()
    config.ParseFromString(resources.routes[ROUTE_CONFIG_NAME].payload)
    return config


def vhost(resources: Resources, name: str) -> route_components_pb2.VirtualHost:
    (found,) = [v for v in route_config(resources).virtual_hosts if v.name == name]
    return found
