"""Envoy resources as a pure function of state."""

from controlplane.resources._build import (
    InconsistentResources,
    ResourceBuilder,
    Resources,
    build_resources,
)
from controlplane.resources._compare import COMPARE_CLUSTER
from controlplane.resources._encoded import (
    CLUSTER_TYPE,
    DELTA_TYPE_ORDER,
    LISTENER_TYPE,
    ROUTE_TYPE,
    TYPE_ORDER,
    VHOST_TYPE,
    Encoded,
    content_version,
    set_version,
)
from controlplane.resources._limits import MessageSizes, message_refusal, message_sizes
from controlplane.resources._listener import LISTENER_NAME, ROUTE_CONFIG_NAME, build_listener
from controlplane.resources._scope import scoped

__all__ = [
    "CLUSTER_TYPE",
    "COMPARE_CLUSTER",
    "DELTA_TYPE_ORDER",
    "LISTENER_NAME",
    "LISTENER_TYPE",
    "ROUTE_CONFIG_NAME",
    "ROUTE_TYPE",
    "TYPE_ORDER",
    "VHOST_TYPE",
    "Encoded",
    "InconsistentResources",
    "MessageSizes",
    "ResourceBuilder",
    "Resources",
    "build_listener",
    "build_resources",
    "content_version",
    "message_refusal",
    "message_sizes",
    "scoped",
    "set_version",
]
