"""Test support for integration tests that run the real data plane.

    free_port()         a TCP port on 127.0.0.1 that nothing listens on right now
    eventually(check)   retry a check until it passes or a deadline passes
    until(check)        the same from a coroutine, waiting on the event loop
    Upstream            an HTTP/1.1 server answering with its instance id, counting primary and
                        mirrored (shadow) requests apart
    EnvoyProcess        the real `envoy` binary with a given bootstrap, its admin API and its log
    envoy_validate      Envoy's verdict on a bootstrap, without starting it
    http_get, send_requests
                        a client for the Envoy listener, tallying statuses and bodies
    static_cluster, http_listener
                        bootstrap pieces, as dicts
    StaticTokens, bearer
                        fixed bearer tokens for an in-process app, and the headers to send one

The processes, ports and upstreams are `controlplane.harness`'s (the demo's and the benchmarks'
too), re-exported here beside the tests' own helpers. Everything binds 127.0.0.1 only, and
every wait is bounded.
"""

from controlplane.harness import (
    Counts,
    EnvoyError,
    EnvoyProcess,
    Upstream,
    envoy_validate,
    free_port,
    is_shadow_host,
)
from tests.support._auth import StaticTokens, bearer, secret_of
from tests.support._bootstrap import http_listener, static_cluster
from tests.support._client import Replies, Reply, http_get, send_requests
from tests.support._net import eventually, until

__all__ = [
    "Counts",
    "EnvoyError",
    "EnvoyProcess",
    "Replies",
    "Reply",
    "StaticTokens",
    "Upstream",
    "bearer",
    "envoy_validate",
    "eventually",
    "free_port",
    "http_get",
    "http_listener",
    "is_shadow_host",
    "secret_of",
    "send_requests",
    "static_cluster",
    "until",
]
