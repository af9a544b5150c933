"""The defaults a newcomer gets (DESIGN.md): one place, cheap to import."""

STORE = "weir.db"
"""SQLite in the working directory."""
XDS = "127.0.0.1:18000"
"""ADS (and later the metrics sink) over gRPC."""
API = "127.0.0.1:8080"
"""HTTP API and /metrics."""
COMPARE = "127.0.0.1:18001"
"""The comparator: Envoy mirrors the requests of compared shadow instances here."""
COMPARE_CONCURRENCY = 64
"""Compared requests in flight; more are dropped, not queued."""
COMPARE_RATE = 200.0
"""Compared requests admitted per second; more are dropped."""
COMPARE_MAX_BODY = 1024 * 1024
"""1 MiB: the most of a request's body, and of each answer's, the comparator reads."""
SIDECAR_LISTEN = "127.0.0.1:15001"
"""A sidecar's HTTP listener, which the xDS server builds."""
ENVOY_ADMIN = "127.0.0.1:9901"
LISTEN_METADATA_KEY = "weir_listen"
"""Node metadata naming where the xDS server builds a proxy's HTTP listener."""
COALESCE_MS = 20
"""Ledger changes this close together reach Envoy as one push; a lone change goes at once."""
XDS_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Largest xDS request or response; a bigger request ends its stream with RESOURCE_EXHAUSTED."""
XDS_MAX_CONNECTION_AGE_S = 30 * 60
"""After this (±10%, gRPC's jitter) an xDS connection is asked to go, so a fleet rebalances."""
XDS_MAX_CONNECTION_AGE_GRACE_S = 30
"""How long streams on an aged connection may go on before it is closed."""
XDS_STREAMS_PER_PEER = 64
"""Open ADS streams one client address may hold; the next is refused with RESOURCE_EXHAUSTED."""
MAX_REQUEST_BODY = 1024 * 1024
"""1 MiB: the largest HTTP API request body; a service file or an activation is a few KiB."""
