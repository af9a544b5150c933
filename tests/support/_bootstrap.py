"""Pieces of Envoy configuration, as the dicts a YAML bootstrap or xDS file would hold."""

from __future__ import annotations

from typing import Any

from controlplane.model import split_address
from tests.support._net import HOST

HCM_TYPE = (
    "type.googleapis.com/"
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def static_cluster(name: str, address: str) -> dict[str, Any]:
    """A STATIC cluster of one endpoint, `address` being host:port with an IP host."""
    host, port = split_address(address)
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _socket(host, port)}},
                    ]
                }
            ],
        },
    }


def http_listener(name: str, routing: dict[str, Any], *, port: int = 0) -> dict[str, Any]:
    """An HTTP listener on 127.0.0.1:`port` (0: the OS picks; see listener_address()).

    `routing` is the connection manager's route source: {"route_config": {...}} or
    {"rds": {...}}.
    """
    manager = {
        "@type": HCM_TYPE,
        "stat_prefix": name,
        "strip_any_host_port": True,
        **routing,
        "http_filters": [
            {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER_TYPE}}
        ],
    }
    return {
        "name": name,
        "address": _socket(HOST, port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def _socket(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}
