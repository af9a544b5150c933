"""`weir demo` and what it runs: demo upstream instances and real Envoy processes."""

from controlplane.demo._envoy import EnvoyError, EnvoyProcess, envoy_validate
from controlplane.demo._tour import run_tour
from controlplane.demo._upstream import Counts, Upstream, is_shadow_host

__all__ = [
    "Counts",
    "EnvoyError",
    "EnvoyProcess",
    "Upstream",
    "envoy_validate",
    "is_shadow_host",
    "run_tour",
]
