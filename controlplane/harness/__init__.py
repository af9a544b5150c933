"""Real processes on loopback, as `weir demo`, the tests and the benchmarks run them.

One implementation for all three, so what the tests check and the benchmarks measure is what
the demo shows an operator:

    free_port()         a TCP port on 127.0.0.1 nothing listens on, never handed out twice
    WeirProcess         `weir serve` as a child process on free ports, with its admin token
    weir_command()      the `weir` script of this Python's environment
    EnvoyProcess        the real `envoy` binary with a given bootstrap, its admin API and log
    envoy_validate      Envoy's own verdict on a bootstrap, without starting it
    Upstream, Counts    an HTTP instance answering with its id (failing, slow or resetting a
                        share on purpose), counting primary and mirrored requests apart
    is_shadow_host      whether a Host header is that of Envoy's mirrored copy
    SteadyLoad          bounded background traffic through an Envoy listener, tallied
    stop_process        a child process asked to stop (SIGTERM), killed if it lingers, reaped
    serve_in_thread, stop_serving
                        an HTTP server on a thread of its own, started and stopped

Everything binds 127.0.0.1 (unless told otherwise), every wait is bounded, and everything a
context manager starts it stops. Nothing here imports the CLI: the demo's tour, which does
run weir's commands, is `controlplane.demo`.
"""

from controlplane.harness._envoy import EnvoyError, EnvoyProcess, envoy_validate
from controlplane.harness._lifecycle import serve_in_thread, stop_process, stop_serving
from controlplane.harness._load import SteadyLoad
from controlplane.harness._ports import free_port
from controlplane.harness._upstream import Counts, Upstream, is_shadow_host
from controlplane.harness._weir import WeirProcess, weir_command

__all__ = [
    "Counts",
    "EnvoyError",
    "EnvoyProcess",
    "SteadyLoad",
    "Upstream",
    "WeirProcess",
    "envoy_validate",
    "free_port",
    "is_shadow_host",
    "serve_in_thread",
    "stop_process",
    "stop_serving",
    "weir_command",
]
