"""The proxy's one HTTP listener, routing by Host over ADS-delivered routes."""

from __future__ import annotations

from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import any_pb2
from google.protobuf.message import Message

from controlplane.resources._business import outcome_access_log, outcome_filter
from controlplane.resources._encoded import Encoded

ROUTE_CONFIG_NAME = "weir"
LISTENER_NAME = "weir_http"


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)
    return packed


def build_listener(host: str, port: int) -> Encoded:
    """The same listener for SotW and delta proxies: RDS over ADS names the route configuration,
    and on a delta stream that configuration brings its virtual hosts by VHDS itself."""
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix="weir",
        codec_type=hcm_pb2.HttpConnectionManager.AUTO,
        # Match virtual hosts on the name alone, so `checkout:15001` finds `checkout`.
        strip_any_host_port=True,
        rds=hcm_pb2.Rds(
            route_config_name=ROUTE_CONFIG_NAME,
            config_source=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource(),
                resource_api_version=config_source_pb2.V3,
            ),
        ),
        # Business outcomes: a header-to-metadata filter whose rules each virtual host brings,
        # and the access log that sends what it found to weir (resources/_business.py).
        access_log=[outcome_access_log()],
        http_filters=[
            outcome_filter(),
            hcm_pb2.HttpFilter(
                name="envoy.filters.http.router", typed_config=_pack(router_pb2.Router())
            ),
        ],
    )
    listener = listener_pb2.Listener(
        name=LISTENER_NAME,
        address=address_pb2.Address(
            socket_address=address_pb2.SocketAddress(address=host, port_value=port)
        ),
        filter_chains=[
            listener_components_pb2.FilterChain(
                filters=[
                    listener_components_pb2.Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=_pack(manager),
                    )
                ]
            )
        ],
    )
    return Encoded.of(LISTENER_NAME, listener)
