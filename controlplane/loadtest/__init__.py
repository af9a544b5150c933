"""`weir loadtest`: HTTP load through an Envoy listener, and what each instance got of it.

Every request carries the tag header, and the proxy names the instance that answered it, so
the report counts this run's requests alone while other traffic flows. Shadows' mirrored
copies come from the proxy's per-cluster stats read before and after; the ledger says what
changed meanwhile.
"""

from controlplane.loadtest._load import (
    MAX_REQUESTS,
    PROXY,
    ClientResult,
    LoadError,
    LoadPlan,
    Tally,
    check_headers,
    quantiles_ms,
    run_load,
)
from controlplane.loadtest._report import (
    Change,
    Check,
    InstanceRole,
    InstanceRow,
    Report,
    build_report,
)
from controlplane.loadtest._run import measure
from controlplane.loadtest._stats import (
    AdminUnavailable,
    ClusterStats,
    parse_stats,
    read_stats,
    settled,
    since,
)

__all__ = [
    "MAX_REQUESTS",
    "PROXY",
    "AdminUnavailable",
    "Change",
    "Check",
    "ClientResult",
    "ClusterStats",
    "InstanceRole",
    "InstanceRow",
    "LoadError",
    "LoadPlan",
    "Report",
    "Tally",
    "build_report",
    "check_headers",
    "measure",
    "parse_stats",
    "quantiles_ms",
    "read_stats",
    "run_load",
    "settled",
    "since",
]
