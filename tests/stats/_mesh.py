"""Given a control plane in this process, a real Envoy bootstrapped by `weir bootstrap`'s
renderer, and real upstreams behind two services:

    web   ─ web--ok      live, always 200
          └ web--mirror  shadow, 100% of web's traffic mirrored to it (responses discarded)
    api   ─ api--flaky   live, 500 for about 30% of requests (seeded)
    retry ─ retry--r     live behind route retries (2, on 5xx and reset): 500 for about 25%
                         of attempts, no answer (a reset) for about 5%
    warm  ─ warm--w      live; only used to wait for Envoy to be configured

The control plane runs on the test's event loop (so the tests can read its push sink and
registry); everything that blocks (starting Envoy, sending traffic) runs in a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from controlplane.bootstrap import render_bootstrap
from controlplane.ledger import SqliteStore
from controlplane.serve import ControlPlane, ServeConfig
from controlplane.stats import ClusterCounts, Scrape
from tests.conftest import StartEnvoy
from tests.support import (
    EnvoyProcess,
    StaticTokens,
    Upstream,
    bearer,
    eventually,
    free_port,
    http_get,
    send_requests,
)

T = TypeVar("T")


@dataclass
class StatsMesh:
    plane: ControlPlane
    bootstrap: dict[str, Any]
    envoy: EnvoyProcess
    listener: str
    upstreams: dict[str, Upstream]
    sent: Counter[tuple[str, int]] = field(default_factory=Counter)
    """Every counted request sent through Envoy, by (service, status)."""

    @property
    def admin(self) -> str:
        return str(self.bootstrap["node"]["metadata"]["weir_admin"])

    async def send(self, web: int, api: int, retry: int = 0) -> None:
        """`web` requests to web, `api` to api and `retry` to retry, one after another; tally
        their statuses."""
        for service, n in (("web", web), ("api", api), ("retry", retry)):
            replies = await asyncio.to_thread(send_requests, self.listener, n, service)
            for status, count in replies.statuses().items():
                self.sent[(service, status)] += count

    def expected(self) -> dict[str, tuple[int, int]]:
        """(requests, 5xx) per instance cluster, from what the client saw."""

        def sent(to: str, failed: bool = False) -> int:
            return sum(
                n
                for (service, status), n in self.sent.items()
                if service == to and (status >= 500 or not failed)
            )

        web, api, retry = sent("web"), sent("api"), sent("retry")
        expected = {
            "api--flaky": (api, sent("api", failed=True)),
            "web--mirror": (web, 0),
            "web--ok": (web, 0),
        }
        if retry:
            expected["retry--r"] = (retry, sent("retry", failed=True))
        return expected

    def untimed(self) -> dict[str, int]:
        """Requests to retry--r whose last attempt got no answer: Envoy's own 503 to the
        client (the upstream fails with 500), and no upstream response to time."""
        return {"retry--r": self.sent[("retry", 503)]}

    def attempts(self) -> tuple[int, int]:
        """(attempts, failed attempts) that reached retry--r, as the upstream counted them."""
        counts = self.upstreams["retry--r"].counts()
        return counts.primary, counts.failed


def observed(clusters: Mapping[str, ClusterCounts]) -> dict[str, tuple[int, int]]:
    """(requests, 5xx) per cluster, leaving out the warm-up service."""
    return {
        name: (counts.requests, counts.errors)
        for name, counts in clusters.items()
        if not name.startswith("warm--")
    }


async def read_until(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout: float
) -> T:
    """Read until `done(value)`; after `timeout` seconds fail with the last value or error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = await read()
        except Exception as exc:  # a source not ready yet says so by raising
            last = exc
        else:
            if done(value):
                return value
            last = value
        await asyncio.sleep(0.1)
    raise AssertionError(f"not done after {timeout:g}s; last: {last!r}")


def latency_matches_requests(scrape: Scrape, untimed: Mapping[str, int]) -> bool:
    """Every request of every cluster is also in its latency histogram, but for `untimed`
    ones: Envoy times a request by its upstream response, and one that ended without any (its
    last attempt reset) has none."""
    return all(
        sum(c.latency) == c.requests - untimed.get(name, 0) for name, c in scrape.clusters.items()
    )


def matches(
    expected: Mapping[str, tuple[int, int]],
    attempts: tuple[int, int] | None = None,
    untimed: Mapping[str, int] | None = None,
) -> Callable[[Scrape], bool]:
    """Whether a scrape holds exactly the expected (requests, 5xx), each request timed but the
    `untimed`, and retry--r's `attempts` (all, failed) when given."""

    def check(scrape: Scrape) -> bool:
        retried = scrape.clusters.get("retry--r", ClusterCounts())
        return (
            observed(scrape.clusters) == expected
            and latency_matches_requests(scrape, untimed or {})
            and (attempts is None or (retried.attempts, retried.attempt_errors) == attempts)
        )

    return check


async def _configure(api: httpx.AsyncClient, upstreams: Mapping[str, Upstream]) -> None:
    async def call(method: str, path: str, body: Any) -> None:
        response = await api.request(method, path, json=body)
        assert response.status_code in (200, 201), f"{method} {path}: {response.text}"

    for service in ("web", "api", "warm"):
        await call("PUT", f"/v1/services/{service}", {"name": service})
    retries = {"attempts": 2, "on": ["5xx", "reset"]}
    await call("PUT", "/v1/services/retry", {"name": "retry", "routes": [{"retries": retries}]})
    for cluster, upstream in upstreams.items():
        service, instance_id = cluster.split("--")
        instance = {"id": instance_id, "service": service, "version": "v1"}
        await call("POST", "/v1/instances", instance | {"address": upstream.address})
    live = {"state": "live", "weight": 100}
    for instance_id in ("ok", "flaky", "r", "w"):
        await call("POST", f"/v1/instances/{instance_id}/activation", live)
    shadow = {"state": "shadow", "mirror_percent": 100}
    await call("POST", "/v1/instances/mirror/activation", shadow)


@asynccontextmanager
async def stats_mesh(tmp_path: Path, start_envoy: StartEnvoy) -> AsyncIterator[StatsMesh]:
    async with AsyncExitStack() as stack:
        plane = ControlPlane(
            SqliteStore(tmp_path / "weir.db"), ServeConfig.on_free_ports(), auth=StaticTokens()
        )
        listening = await plane.start()
        stack.push_async_callback(plane.stop, 0)
        upstreams = {
            "web--ok": Upstream("ok"),
            "web--mirror": Upstream("mirror"),
            "api--flaky": Upstream("flaky", error_rate=0.3, error_status=500, seed=7),
            "retry--r": Upstream("r", error_rate=0.25, error_status=500, reset_rate=0.05, seed=5),
            "warm--w": Upstream("w"),
        }
        for upstream in upstreams.values():
            stack.enter_context(upstream)
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=listening.api_url, timeout=10.0, trust_env=False, headers=bearer()
            )
        )
        await _configure(api, upstreams)
        listen = f"127.0.0.1:{free_port()}"
        bootstrap = render_bootstrap(
            "stats-proxy", "test", xds=listening.xds, listen=listen,
            admin=f"127.0.0.1:{free_port()}",
        )  # fmt: skip
        envoy = await asyncio.to_thread(start_envoy, bootstrap)
        url = f"http://{listen}/"
        await asyncio.to_thread(_serves, url)
        mesh = StatsMesh(plane, bootstrap, envoy, url, upstreams)
        # Envoy leaves before the control plane stops, as in an orderly shutdown.
        stack.push_async_callback(asyncio.to_thread, lambda: mesh.envoy.stop())
        yield mesh


def _serves(url: str) -> None:
    def check() -> None:
        try:
            reply = http_get(url, "warm", timeout=1.0)
        except httpx.HTTPError as exc:  # not listening yet
            raise AssertionError(str(exc)) from exc
        assert reply.status == 200, reply

    eventually(check, timeout=20)
