"""The proxy's one HTTP listener, routing by Host over ADS-delivered routes; with an access log
when the proxy asks for one."""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import address_pb2, config_source_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
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

ACCESS_LOG_FIELDS = {
    "start": "%START_TIME%",
    "id": "%REQ(X-REQUEST-ID)%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(:PATH)%",
    "authority": "%REQ(:AUTHORITY)%",
    "status": "%RESPONSE_CODE%",
    "flags": "%RESPONSE_FLAGS%",
    "details": "%RESPONSE_CODE_DETAILS%",
    "cluster": "%UPSTREAM_CLUSTER%",
    "upstream": "%UPSTREAM_HOST%",
    "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
    "upstream_failure": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
    "duration_ms": "%DURATION%",
}
"""One JSON object a line per request: what an operator needs to say why a request failed
(Envoy's response flags and code details, the instance cluster and host that answered)."""


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message, deterministic=True)
    return packed


def _access_log(path: str) -> accesslog_pb2.AccessLog:
    log = file_pb2.FileAccessLog(path=path)
    log.log_format.json_format.update(ACCESS_LOG_FIELDS)
    return accesslog_pb2.AccessLog(name="envoy.access_loggers.file", typed_config=_pack(log))


def build_listener(host: str, port: int, access_log: str | None = None) -> Encoded:
    """The same listener for SotW and delta proxies: RDS over ADS names the route configuration,
    and on a delta stream that configuration brings its virtual hosts by VHDS itself. With
    `access_log` (a file path on the proxy's machine) every request is logged there."""
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
    if access_log is not None:
        manager.access_log.append(_access_log(access_log))
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
