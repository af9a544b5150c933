"""The defaults a newcomer gets (ledger file, ports, limits) and the names weir's bootstrap
and its servers agree on: one place, cheap to import. The README's "Limits" lists them."""

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
CALLS_METADATA_KEY = "weir_calls"
"""Node metadata naming the services a scoped proxy calls (`weir bootstrap --calls`)."""
MAX_CALLS = 512
"""Services one proxy may name in CALLS_METADATA_KEY; a proxy calling more is better served
everything."""
ADMIN_METADATA_KEY = "weir_admin"
"""Node metadata naming the proxy's admin host:port (the pull stats source reads it)."""
ACCESS_LOG_METADATA_KEY = "weir_access_log"
"""Node metadata naming a file (on the proxy's machine) where its listener logs each request."""
MAX_ACCESS_LOG_PATH = 1024
COALESCE_MS = 20
"""Ledger changes this close together reach Envoy as one push; a lone change goes at once."""
XDS_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Largest xDS request or response; a bigger request ends its stream with RESOURCE_EXHAUSTED."""
XDS_MAX_CONNECTION_AGE_S = 30 * 60
"""After this (±10%, gRPC's jitter) an xDS connection is asked to go, so a fleet rebalances."""
XDS_MAX_CONNECTION_AGE_GRACE_S = 30
"""How long streams on an aged connection may go on before it is closed."""
XDS_STREAMS_PER_PEER = 1024
"""Open ADS streams one client address may hold; the next is refused with RESOURCE_EXHAUSTED.
A host running many proxies (sidecars sharing its address) shares it."""
XDS_STREAMS_PER_PROXY = 8
"""Open ADS streams one proxy (node id) may hold from one address."""
XDS_MAX_STREAMS = 20_000
"""Open ADS streams in all."""
XDS_MAX_CONNECTIONS = 10_000
"""Open connections to the xDS port."""
XDS_MAX_NODE_BYTES = 64 * 1024
"""The most of a proxy's node (without Envoy's extension list) a stream keeps: its metadata,
locality and user agent. Envoy's own is about 0.2 KB."""
MAX_REQUEST_BODY = 1024 * 1024
"""1 MiB: the largest HTTP API request body; a service file or an activation is a few KiB."""
STATS_MAX_RPS = 50_000
"""Requests one proxy may claim per second through the metrics sink."""
API_MAX_CONNECTIONS = 1000
"""Open connections to the HTTP API; at the cap a new one evicts the oldest idle one."""
API_HEADER_TIMEOUT_S = 10.0
"""A connection must send a complete request head this soon after opening (or its previous
response)."""
API_BODY_TIMEOUT_S = 30.0
"""A request's body must arrive this soon after its head."""

XDS_CLUSTER = "weir_xds"
"""The bootstrap's cluster of controller replicas, which ADS, the stats sink and the access-log
service all name."""
CLUSTER_SEPARATOR = "--"
"""Between the service and the instance id in an instance's Envoy cluster name
(`<service>--<instance-id>`, controlplane.model.cluster_name); no other cluster has it."""
EVIDENCE_STATS = (
    rf"^cluster\.[^.]+{CLUSTER_SEPARATOR}[^.]+\.(retry\.)?upstream_rq_([1-5]xx|time|retry)$"
)
"""Envoy stat names of the evaluator's evidence: instance clusters (`<service>--<id>`) only.
Final responses by class and their time, responses retried by class, and retries made."""
SINK_BATCH_SIZE = 1000
"""Metrics per stats-sink message (`weir bootstrap`'s metrics_service `batch_size`): about 90 KB
each, whatever the proxy's size; the push source takes no bigger message."""
LOADTEST_HEADER = "x-weir-loadtest"
"""A request carrying this header (any value) gets INSTANCE_HEADER on its response."""
INSTANCE_HEADER = "x-weir-instance"
"""The cluster (`<service>--<instance id>`) that answered a request carrying LOADTEST_HEADER."""
