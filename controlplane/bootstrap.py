"""Envoy bootstraps that point a proxy at weir over ADS (`weir bootstrap`).

A bootstrap holds only what Envoy needs before it can reach the controller: its node identity,
ADS as the source of clusters and listeners, the one static cluster leading to weir, and the
admin port. Everything else arrives over xDS. `node.metadata.weir_listen` tells the xDS server
where to build this proxy's HTTP listener; `node.metadata.weir_admin` tells the pull stats
source where this proxy's admin answers; `node.metadata.weir_calls` (`--calls`), when given,
scopes the proxy to the services it calls (see controlplane.xds._scope).

Stats: a 1 s flush to weir's metrics_service sink over the same `weir_xds` cluster. Envoy keeps
all of its own stats (listeners, connection manager, server, every cluster's), so its admin page
and any Prometheus scraping it show them as usual. Envoy 1.40's metrics_service sink has no
filter of its own (it sends every stat that was ever used, and the stats matcher would limit
what Envoy keeps, not only what it sends), so weir reads its evidence out of each flush and
passes over the rest, and `batch_size` splits a flush into messages well under the xDS port's
4 MiB cap. A proxy's flush grows with its clusters (`python -m bench.sink_cost`; README, "Stats
and their cost"). `lean_stats`
(`weir bootstrap --lean-stats`) puts back a stats matcher that keeps only the evidence and the
proxy's xDS health, for large fleets on push that give up Envoy's other stats for it.

mTLS (`--tls-cert/--tls-key/--tls-ca`, for `weir serve --xds-tls-*`): the `weir_xds` cluster
gets a TLS transport socket that presents the proxy's client certificate, trusts only the given
CA and checks that weir's certificate names the host it dials (or `--tls-server-name`). The
metrics sink shares the cluster, so its stats travel over the same connection.

High availability (`--xds` given once per replica): the `weir_xds` cluster lists every replica,
one priority each in the order given, so every proxy prefers the first live one; an active TCP
health check (every 0.5 s, one failure is enough) marks a dead replica within a second, so
Envoy opens its next ADS stream, and its metrics sink, to the next priority. Envoy's default
health-check interval for a cluster without requests is 60 s, and an ADS stream is not a
request: `no_traffic_interval` must be short too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from controlplane import defaults
from controlplane.defaults import (
    ACCESS_LOG_METADATA_KEY,
    ADMIN_METADATA_KEY,
    CALLS_METADATA_KEY,
    EVIDENCE_STATS,
    LISTEN_METADATA_KEY,
    MAX_ACCESS_LOG_PATH,
    MAX_CALLS,
    SINK_BATCH_SIZE,
    XDS_CLUSTER,
)
from controlplane.errors import InvalidInput
from controlplane.model import SERVICE_NAME, is_ip, split_address

MAX_DOWNSTREAM_CONNECTIONS = 50_000
STATS_FLUSH_INTERVAL = "1s"
XDS_HEALTH_STATS = (
    "control_plane.connected_state",
    *(
        f"{xds}.update_{outcome}"
        for xds in ("listener_manager.lds", "cluster_manager.cds")
        for outcome in ("attempt", "success", "rejected", "failure")
    ),
    "cluster_manager.active_clusters",
    "cluster_manager.warming_clusters",
)
"""Also kept: whether the proxy is connected to weir, what it accepted or rejected, and how
many clusters it holds (all of the mesh's, or a scoped sidecar's few)."""

_METRICS_SERVICE = "envoy.config.metrics.v3.MetricsServiceConfig"

_UPSTREAM_TLS = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_DOWNSTREAM_CONNECTIONS = (
    "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig"
)


@dataclass(frozen=True, slots=True)
class BootstrapTls:
    """Files on the proxy's machine (paths as given: Envoy reads them when it starts)."""

    cert: str
    """The proxy's PEM client certificate; its SAN names the node id (see weir serve)."""
    key: str
    ca: str
    """PEM CA certificates that sign weir's certificate."""
    server_name: str | None = None
    """The name weir's certificate must carry (and the SNI); default: the --xds host."""

    @classmethod
    def from_options(
        cls, cert: str | None, key: str | None, ca: str | None, server_name: str | None = None
    ) -> BootstrapTls | None:
        """All three files, or None for plaintext xDS; only some of them is an error."""
        given = {"tls-cert": cert, "tls-key": key, "tls-ca": ca}
        missing = [f"--{flag}" for flag, value in given.items() if not value]
        if len(missing) == len(given):
            if server_name:
                raise InvalidInput(
                    "--tls-server-name needs --tls-cert, --tls-key and --tls-ca",
                    field="tls-server-name",
                )
            return None
        if missing:
            raise InvalidInput(
                "mTLS to weir takes --tls-cert, --tls-key and --tls-ca together; "
                f"missing {', '.join(missing)}",
                field=missing[0].removeprefix("--"),
            )
        assert cert and key and ca
        return cls(cert, key, ca, server_name or None)


def _transport_socket(tls: BootstrapTls, xds_hosts: list[str]) -> dict[str, Any]:
    """Without --tls-server-name each replica's certificate must name the host it is dialled
    by: any of the hosts is accepted (one cluster, one context), and SNI is sent only when
    every replica goes by the same host name."""
    names = [tls.server_name] if tls.server_name else list(dict.fromkeys(xds_hosts))
    sans = [
        {"san_type": "IP_ADDRESS" if is_ip(name) else "DNS", "matcher": {"exact": name}}
        for name in names
    ]
    context: dict[str, Any] = {
        "@type": f"type.googleapis.com/{_UPSTREAM_TLS}",
        "common_tls_context": {
            "tls_certificates": [
                {"certificate_chain": {"filename": tls.cert}, "private_key": {"filename": tls.key}}
            ],
            "validation_context": {
                "trusted_ca": {"filename": tls.ca},
                "match_typed_subject_alt_names": sans,
            },
            "alpn_protocols": ["h2"],  # gRPC
        },
    }
    if len(names) == 1 and not is_ip(names[0]):
        context["sni"] = names[0]  # SNI carries host names only
    return {"name": "envoy.transport_sockets.tls", "typed_config": context}


def _address(flag: str, value: str) -> tuple[str, int]:
    try:
        return split_address(value)
    except ValueError as exc:
        raise InvalidInput(f"--{flag}: {exc}", field=flag) from exc


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


REPLICA_HEALTH_CHECK: dict[str, Any] = {
    "timeout": "0.5s",
    "interval": "0.5s",
    "no_traffic_interval": "0.5s",  # default 60 s: a cluster carrying only streams is idle
    "unhealthy_interval": "0.5s",
    "unhealthy_threshold": 1,
    "healthy_threshold": 1,
    "tcp_health_check": {},
}
"""How Envoy checks each replica when the bootstrap names several (see the module doc)."""


def _endpoints(replicas: list[tuple[str, int]]) -> list[dict[str, Any]]:
    if len(replicas) == 1:
        ((host, port),) = replicas
        return [{"lb_endpoints": [{"endpoint": {"address": _socket_address(host, port)}}]}]
    return [
        {
            "priority": priority,
            "lb_endpoints": [{"endpoint": {"address": _socket_address(host, port)}}],
        }
        for priority, (host, port) in enumerate(replicas)
    ]


def _xds_cluster(replicas: list[tuple[str, int]], tls: BootstrapTls | None) -> dict[str, Any]:
    every_ip = all(is_ip(host) for host, _ in replicas)
    cluster: dict[str, Any] = {
        "name": XDS_CLUSTER,
        "type": "STATIC" if every_ip else "STRICT_DNS",
        "connect_timeout": "1s",
    }
    if not every_ip:
        # A name such as `weir` in Docker often has only an IPv4 record; try that first.
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    cluster["load_assignment"] = {"cluster_name": XDS_CLUSTER, "endpoints": _endpoints(replicas)}
    cluster["typed_extension_protocol_options"] = {
        _HTTP_PROTOCOL_OPTIONS: {
            "@type": f"type.googleapis.com/{_HTTP_PROTOCOL_OPTIONS}",
            # gRPC needs HTTP/2; the pings find a controller that vanished without a FIN.
            "explicit_http_config": {
                "http2_protocol_options": {
                    "connection_keepalive": {"interval": "30s", "timeout": "5s"},
                },
            },
        },
    }
    cluster["upstream_connection_options"] = {
        "tcp_keepalive": {"keepalive_probes": 3, "keepalive_time": 30, "keepalive_interval": 5},
    }
    if len(replicas) > 1:
        cluster["health_checks"] = [dict(REPLICA_HEALTH_CHECK)]
    if tls is not None:
        cluster["transport_socket"] = _transport_socket(tls, [host for host, _ in replicas])
    return cluster


def _stats_config() -> dict[str, Any]:
    patterns: list[dict[str, Any]] = [{"safe_regex": {"regex": EVIDENCE_STATS}}]
    patterns += [{"exact": name} for name in XDS_HEALTH_STATS]
    return {"stats_matcher": {"inclusion_list": {"patterns": patterns}}}


def _metrics_sink() -> dict[str, Any]:
    return {
        "name": "envoy.stat_sinks.metrics_service",
        "typed_config": {
            "@type": f"type.googleapis.com/{_METRICS_SERVICE}",
            "transport_api_version": "V3",
            "grpc_service": {"envoy_grpc": {"cluster_name": XDS_CLUSTER}},
            "report_counters_as_deltas": True,
            "emit_tags_as_labels": True,
            "histogram_emit_mode": "HISTOGRAM",
            "batch_size": SINK_BATCH_SIZE,
        },
    }


def render_bootstrap(
    node_id: str,
    cluster: str,
    *,
    xds: str | Sequence[str],
    listen: str = defaults.SIDECAR_LISTEN,
    admin: str = defaults.ENVOY_ADMIN,
    delta: bool = False,
    tls: BootstrapTls | None = None,
    calls: Sequence[str] | None = None,
    lean_stats: bool = False,
    access_log: str | None = None,
) -> dict[str, Any]:
    """A complete Envoy v3 bootstrap for one proxy, as plain data (YAML- and JSON-ready);
    with `tls`, it reaches weir over mTLS. `xds` is weir's address, or every replica's in
    order of preference. With `calls` the proxy is scoped: weir serves it those services and
    the ones whose files name its `cluster` among their callers, nothing else. With
    `lean_stats` Envoy keeps only the stats weir reads. With `access_log` (an absolute path on
    the proxy's machine) weir's listener for this proxy logs every request there, a JSON
    object a line."""
    for flag, value in (("node-id", node_id), ("cluster", cluster)):
        if not value.strip() or any(c.isspace() for c in value):
            raise InvalidInput(f"--{flag} must be a non-empty name without spaces", field=flag)
    addresses = [xds] if isinstance(xds, str) else list(xds)
    if not addresses:
        raise InvalidInput("--xds needs at least one address", field="xds")
    replicas = [_address("xds", address) for address in addresses]
    if len(set(replicas)) != len(replicas):
        raise InvalidInput(f"--xds names a replica twice: {', '.join(addresses)}", field="xds")
    _address("listen", listen)  # only checked here; the xDS server builds the listener
    admin_host, admin_port = _address("admin", admin)
    stats: dict[str, Any] = {"stats_config": _stats_config()} if lean_stats else {}
    metadata: dict[str, Any] = {LISTEN_METADATA_KEY: listen, ADMIN_METADATA_KEY: admin}
    if calls is not None:
        metadata[CALLS_METADATA_KEY] = _calls(calls)
    if access_log is not None:
        if not access_log.startswith("/") or len(access_log) > MAX_ACCESS_LOG_PATH:
            raise InvalidInput(
                f"--access-log must be an absolute path of at most {MAX_ACCESS_LOG_PATH} "
                "characters",
                field="access-log",
            )
        if not access_log.isprintable():
            raise InvalidInput(
                "--access-log must hold printable characters only", field="access-log"
            )
        metadata[ACCESS_LOG_METADATA_KEY] = access_log
    return {
        "node": {
            "id": node_id,
            "cluster": cluster,
            "metadata": metadata,
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": "DELTA_GRPC" if delta else "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "static_resources": {"clusters": [_xds_cluster(replicas, tls)]},
        "admin": {"address": _socket_address(admin_host, admin_port)},
        **stats,
        "stats_flush_interval": STATS_FLUSH_INTERVAL,
        "stats_sinks": [_metrics_sink()],
        # Without a limit Envoy warns at start and accepts connections until it runs out of fds.
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": f"type.googleapis.com/{_DOWNSTREAM_CONNECTIONS}",
                        "max_active_downstream_connections": MAX_DOWNSTREAM_CONNECTIONS,
                    },
                }
            ]
        },
    }


def _calls(calls: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(calls))
    for name in names:
        if not SERVICE_NAME.fullmatch(name) or len(name) > 63:
            raise InvalidInput(f"--calls: {name!r} is not a service name", field="calls")
    if len(names) > MAX_CALLS:
        raise InvalidInput(
            f"--calls names {len(names)} services, more than the {MAX_CALLS} weir accepts; "
            "leave it out to serve the proxy every service",
            field="calls",
        )
    return names


def bootstrap_yaml(bootstrap: dict[str, Any], *, command: str | None = None) -> str:
    """The bootstrap as YAML, keys in Envoy's reading order, with how it was made on top."""
    header = f"# Envoy bootstrap made by `{command}`\n" if command else ""
    return header + yaml.safe_dump(bootstrap, sort_keys=False, default_flow_style=False)
