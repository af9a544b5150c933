"""Issue 15, attack 2: one oversized service freezing the whole fleet.

A state whose xDS responses exceed gRPC's message cap can never reach a proxy, nor can any
later change, rollbacks included. So a host name longer than DNS allows is refused, and a
change that would make any xDS response larger than the cap is refused before it is appended,
naming the limit; what the ledger holds can always be sent, and a real Envoy keeps taking
changes. The cap is lowered to 64 KiB here, so the wall is a few hundred instances away rather
than the ~36,000 of the default 4 MiB.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from controlplane.bootstrap import render_bootstrap
from controlplane.errors import Conflict
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec
from controlplane.resources import build_resources, message_sizes
from controlplane.serve import ControlPlane, ServeConfig
from controlplane.xds import XdsLimits
from tests.conftest import StartEnvoy
from tests.support import (
    EnvoyProcess,
    StaticTokens,
    Upstream,
    bearer,
    eventually,
    free_port,
    http_get,
)

pytestmark = pytest.mark.timeout(180)
CAP = 64 * 1024


@dataclass
class Fleet:
    plane: ControlPlane
    api: httpx.AsyncClient
    envoy: EnvoyProcess
    url: str
    """The Envoy's listener."""

    def envoy_clusters(self) -> int:
        dump = self.envoy.config_dump("dynamic_active_clusters")
        return len(dump.get("configs", []))


@asynccontextmanager
async def fleet(tmp_path: Path, start_envoy: StartEnvoy, *, delta: bool) -> AsyncIterator[Fleet]:
    async with AsyncExitStack() as stack:
        config = ServeConfig.on_free_ports(xds_limits=XdsLimits(max_message_bytes=CAP), stats="off")
        plane = ControlPlane(SqliteStore(tmp_path / "weir.db"), config, auth=StaticTokens())
        listening = await plane.start()
        stack.push_async_callback(plane.stop, 0)
        api = await stack.enter_async_context(
            httpx.AsyncClient(base_url=listening.api_url, headers=bearer(), trust_env=False)
        )
        a = stack.enter_context(Upstream("a"))
        b = stack.enter_context(Upstream("b"))
        controller = plane.controller
        controller.apply_service(ServiceSpec(name="web"), actor="test")
        for upstream in (a, b):
            instance = Instance(
                id=upstream.instance_id, service="web", version="v1", address=upstream.address
            )
            controller.add_instance(instance, actor="test")
        controller.change("a", Activation.live(100), actor="test")
        listen = f"127.0.0.1:{free_port()}"
        bootstrap = render_bootstrap(
            "front", "test", xds=listening.xds, listen=listen,
            admin=f"127.0.0.1:{free_port()}", delta=delta,
        )  # fmt: skip
        envoy = await asyncio.to_thread(start_envoy, bootstrap)
        url = f"http://{listen}/"
        await asyncio.to_thread(eventually, lambda: _answers(url, "a"), timeout=20)
        yield Fleet(plane, api, envoy, url)


def _answers(url: str, instance_id: str) -> None:
    assert http_get(url, "web", timeout=1.0).body == instance_id


async def test_a_host_name_longer_than_dns_allows_is_refused(
    tmp_path: Path, start_envoy: StartEnvoy
) -> None:
    async with fleet(tmp_path, start_envoy, delta=False) as given:
        seq = given.plane.controller.state.seq
        body = {"id": "huge", "service": "web", "version": "v1", "address": "h" * 100_000 + ":80"}

        response = await given.api.post("/v1/instances", json=body)

        print(f"\n100,000-character host name: {response.status_code}")
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "address"
        assert "at most 261 characters" in response.json()["error"]
        assert given.plane.controller.state.seq == seq


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_a_change_too_big_for_one_xds_message_is_refused_and_the_fleet_still_moves(
    tmp_path: Path, start_envoy: StartEnvoy, delta: bool
) -> None:
    async with fleet(tmp_path, start_envoy, delta=delta) as given:
        controller = given.plane.controller
        # When instances are registered until weir refuses one (or far past the cap)
        refusal = None
        for n in range(3000):
            address = f"10.1.{n // 250}.{n % 250 + 1}:8080"
            instance = Instance(id=f"i{n}", service="web", version="v1", address=address)
            try:
                controller.add_instance(instance, actor="test")
            except Conflict as exc:
                refusal = exc
                break
        registered = n
        largest = message_sizes(build_resources(controller.state)).largest()
        # and the next change is made (a rollback would be the same: an activation change)
        started = time.monotonic()
        controller.change("b", Activation.live(100), actor="test")
        controller.change("a", Activation.inactive(), actor="test")
        try:
            await asyncio.to_thread(eventually, lambda: _answers(given.url, "b"), timeout=15)
            reached = f"reached Envoy after {time.monotonic() - started:.2f}s"
        except AssertionError:
            reached = "never reached Envoy (15 s)"
        print(
            f"\n{'delta' if delta else 'sotw'}: {registered} instances registered, largest "
            f"response {largest[1]:,} bytes against a cap of {CAP:,}; refused: "
            f"{refusal.message if refusal else 'never'}; the next change {reached}"
        )

        # Then the one that would cross the cap is refused, naming it, and nothing is appended
        assert refusal is not None
        assert f"over the {CAP:,}-byte message limit" in refusal.message
        assert largest[1] <= CAP
        assert f"i{registered}" not in controller.state.instances
        # and through the API the refusal is a 409 naming the limit
        body = {"id": "one-more", "service": "web", "version": "v1", "address": "10.9.9.9:80"}
        response = await given.api.post("/v1/instances", json=body)
        assert response.status_code == 409, response.text
        assert "message limit" in response.json()["error"]
        # And the Envoy took the change and holds every cluster weir accepted
        assert reached.startswith("reached")
        assert given.envoy_clusters() == len(controller.state.instances)
