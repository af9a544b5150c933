"""The API in-process: a controller over a SQLite ledger in tmp_path, called over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from controlplane.api import create_app
from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.xds import ProxyRegistry
from tests.support import StaticTokens, bearer


@pytest.fixture
def controller(tmp_path: Path) -> Controller:
    return Controller(SqliteStore(tmp_path / "weir.db"))


@pytest.fixture
def registry() -> ProxyRegistry:
    return ProxyRegistry()


@pytest.fixture
async def api(controller: Controller, registry: ProxyRegistry) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(controller, registry, auth=StaticTokens())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://weir", headers=bearer()
    ) as client:
        yield client


@pytest.fixture
async def web(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """Service `web` with web-1 live (weight 1) and web-2 inactive."""
    await api.put("/v1/services/web", json={"name": "web"})
    for n in (1, 2):
        body = {"id": f"web-{n}", "service": "web", "version": f"v{n}", "address": f"10.0.0.{n}:80"}
        assert (await api.post("/v1/instances", json=body)).status_code == 201
    live = await api.post("/v1/instances/web-1/activation", json={"state": "live"})
    assert live.status_code == 200, live.text
    return api
