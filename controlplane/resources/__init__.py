"""Envoy resources as a pure function of state."""

from controlplane.resources._build import (
    LISTENER_NAME,
    ROUTE_CONFIG_NAME,
    InconsistentResources,
    Resources,
    build_listener,
    build_resources,
)
from controlplane.resources._encoded import (
    CLUSTER_TYPE,
    LISTENER_TYPE,
    ROUTE_TYPE,
    TYPE_ORDER,
    Encoded,
    content_version,
    set_version,
)

__all__ = [
    "CLUSTER_TYPE",
    "LISTENER_NAME",
    "LISTENER_TYPE",
    "ROUTE_CONFIG_NAME",
    "ROUTE_TYPE",
    "TYPE_ORDER",
    "Encoded",
    "InconsistentResources",
    "Resources",
    "build_listener",
    "build_resources",
    "content_version",
    "set_version",
]
