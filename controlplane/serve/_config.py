"""What `weir serve` is told: one frozen value from the command line to the server.

The CLI builds a ServeConfig from its flags, and `serve()` and `ControlPlane` take it whole,
so an option is declared once (here, with its default and what it means) rather than re-listed
through every signature on the way. tests/serve/test_config.py checks that every field is
reachable from a `weir serve` flag, or says here why it is not.

Only values live here, nothing that does I/O, and the module is cheap to import: the CLI builds
one without loading the servers (grpc, FastAPI). What the server is handed besides are
collaborators, not options: the opened store, the API's authenticator and the xDS port's
credentials (read from the --xds-tls-* files before anything starts, so a bad file is an error
before the ledger opens).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from controlplane import defaults
from controlplane._gc import YOUNG_GC_THRESHOLD
from controlplane.api import ApiLimits
from controlplane.compare import ComparatorLimits
from controlplane.stats import PushLimits
from controlplane.xds import XdsLimits

NOT_FLAGS = {
    "young_gc_threshold": "process-wide, chosen by measurement (bench/README.md, 'Garbage "
    "collection'); tests and benchmarks that run the server in-process set it or leave the "
    "GC alone (None)",
}
"""The fields no `weir serve` flag sets, and why."""


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """Every option of the control plane, defaulting to what `weir serve` does with no flags.

    The limits come as the values the servers take (XdsLimits, PushLimits, ApiLimits,
    ComparatorLimits): the flags set the few an operator tunes, code may set any (a test's
    small message cap), and the servers are handed them as they are. The defaults listen on
    weir's fixed ports; tests and benchmarks, which run several servers at once, take
    `ServeConfig.on_free_ports(...)` instead."""

    xds: str = defaults.XDS
    """Where ADS (and the metrics sink, CSDS and access logs) listens; port 0 picks one."""
    api: str = defaults.API
    """Where the HTTP API, the dashboard and /metrics listen; port 0 picks one."""
    compare: str | None = defaults.COMPARE
    """Where the comparator listens, or None for no comparator (compared shadows are then
    mirrored to directly)."""
    compare_address: str | None = None
    """Where the proxies reach the comparator, if not where it is bound."""
    compare_limits: ComparatorLimits = field(default_factory=ComparatorLimits)
    """Compared requests in flight, admitted per second, and bytes read of each body."""
    stats: str = "push"
    """The evaluator's stats source: push, pull, promql, or "off" for no evaluator."""
    prometheus_url: str | None = None
    """The Prometheus server `stats="promql"` asks (and business objectives' PromQL)."""
    webhooks: tuple[str, ...] = ()
    """Each is POSTed a JSON notification of rollouts, verdicts, rollbacks and the budget
    freeze."""
    coalesce_ms: float = defaults.COALESCE_MS
    """Ledger changes less than this far apart reach Envoy as one push."""
    xds_limits: XdsLimits = field(default_factory=XdsLimits)
    """The xDS port's caps: message size, connection age, streams per address and proxy."""
    push_limits: PushLimits = field(default_factory=PushLimits)
    """What one proxy may claim through the metrics sink."""
    max_body: int = defaults.MAX_REQUEST_BODY
    """The largest API request body, in bytes; a larger one is refused with 413."""
    api_limits: ApiLimits = field(default_factory=ApiLimits)
    """The API port's connections: how many, and how soon each must send a request head."""
    young_gc_threshold: int | None = YOUNG_GC_THRESHOLD
    """Allocations between two young garbage collections, set by `serve()` for the process
    unless it chose its own (controlplane/_gc.py); None leaves the GC alone."""

    @classmethod
    def on_free_ports(cls, **options: Any) -> ServeConfig:
        """xDS and the API on free 127.0.0.1 ports, no comparator, and `options` (any field):
        what tests and benchmarks run, several at once on one machine."""
        free = cls(xds="127.0.0.1:0", api="127.0.0.1:0", compare=None)
        return replace(free, **options)
