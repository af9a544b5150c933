"""`weir loadtest`: HTTP load through an Envoy listener, and what each instance got of it.

The callers' side (statuses, latencies) comes from the load itself; the instances' side from
the proxy's per-cluster stats read before and after, shadow clusters included, so an operator
sees that each shadow got its mirrored share while callers got only live instances' answers.
"""

from controlplane.loadtest._load import (
    MAX_REQUESTS,
    ClientResult,
    LoadError,
    LoadPlan,
    quantiles_ms,
    run_load,
)
from controlplane.loadtest._report import Check, InstanceRow, Report, Role, build_report
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
    "AdminUnavailable",
    "Check",
    "ClientResult",
    "ClusterStats",
    "InstanceRow",
    "LoadError",
    "LoadPlan",
    "Report",
    "Role",
    "build_report",
    "measure",
    "parse_stats",
    "quantiles_ms",
    "read_stats",
    "run_load",
    "settled",
    "since",
]
