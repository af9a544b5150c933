"""A small mesh for integration tests: weir serve, upstream instances and real Envoys."""

from __future__ import annotations

import math

from tests.conftest import StartEnvoy, StartUpstream
from tests.integration._weir import WeirServer
from tests.support import EnvoyProcess, Upstream, eventually, free_port, http_get

SERVICE = "web"


def within_4_sd(observed: int, n: int, p: float) -> bool:
    return abs(observed - n * p) <= 4 * math.sqrt(n * p * (1 - p))


def register(
    weir: WeirServer, start_upstream: StartUpstream, *ids: str, by_name: bool = False
) -> dict[str, Upstream]:
    """Start an upstream per id and register it; `by_name` gives the address as localhost:port,
    which Envoy must resolve (a DNS cluster, warmed asynchronously) rather than an IP."""
    upstreams = {}
    for instance_id in ids:
        upstream = start_upstream(instance_id)
        address = f"localhost:{upstream.port}" if by_name else upstream.address
        weir.instance(SERVICE, instance_id, address)
        upstreams[instance_id] = upstream
    return upstreams


def connect_envoy(
    weir: WeirServer, start_envoy: StartEnvoy, node_id: str, *, delta: bool
) -> tuple[EnvoyProcess, str]:
    """A real Envoy bootstrapped by weir; returns it and the URL of its weir-made listener."""
    listen = f"127.0.0.1:{free_port()}"
    envoy = start_envoy(weir.bootstrap(node_id, listen=listen, delta=delta))
    return envoy, f"http://{listen}/"


def serves(url: str, *bodies: str) -> None:
    """Wait until the listener answers 200 with one of `bodies`."""

    def check() -> None:
        try:
            reply = http_get(url, SERVICE, timeout=1.0)
        except Exception as exc:  # not listening yet
            raise AssertionError(str(exc)) from exc
        assert reply.status == 200 and reply.body in bodies, reply

    eventually(check, timeout=15)
