"""POST /v1/rollouts at the service's recent traffic: each step's forecast recorded with the
rollout, and a plan that cannot be decided in time refused with the options (409)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from controlplane.api import create_app
from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.ledger import SqliteStore
from controlplane.verdict import extra_failures, judge
from controlplane.xds import ProxyRegistry
from tests.evaluator._fakes import ScriptedSource
from tests.support import StaticTokens, bearer


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """web: web-1 (v1) live, serving 100 requests/s (0.1% failing) for a minute; web-2 (v2)."""
    controller = Controller(SqliteStore(tmp_path / "weir.db"))
    source = ScriptedSource()
    evaluator = Evaluator(controller, source, judge=judge, extra_failures=extra_failures)
    app = create_app(controller, ProxyRegistry(), evaluator, auth=StaticTokens())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://weir", headers=bearer()
    ) as client:
        await client.put("/v1/services/web", json={"name": "web"})
        for n in (1, 2):
            body = {"id": f"web-{n}", "service": "web", "version": f"v{n}",
                    "address": f"10.0.0.{n}:80"}  # fmt: skip
            assert (await client.post("/v1/instances", json=body)).status_code == 201
        await client.post("/v1/instances/web-1/activation", json={"state": "live"})
        for second in range(60):
            source.serve("web--web-1", 100, 1 if second % 10 == 0 else 0)
            await evaluator.step()
        yield client


async def test_steps_too_small_for_the_traffic_are_refused_with_the_options(
    api: httpx.AsyncClient,
) -> None:
    body = {"service": "web", "version": "v2", "steps": [1, 5, 25, 50, 100]}
    response = await api.post("/v1/rollouts", json=body)

    assert response.status_code == 409, response.text
    message = response.json()["error"]
    assert "100 requests/s" in str(message) and "--accept-risk" in str(message), message
    assert (await api.get("/v1/rollouts/web")).status_code == 404  # nothing started


async def test_accepting_the_risk_starts_it_with_the_forecast_recorded(
    api: httpx.AsyncClient,
) -> None:
    body = {"service": "web", "version": "v2", "steps": [1, 5, 25, 50, 100], "accept_risk": True}
    response = await api.post("/v1/rollouts", json=body)

    assert response.status_code == 201, response.text
    event = response.json()["event"]
    assert event["plan"]["accept_risk"] is True
    forecast = {f["label"]: f for f in event["forecast"]}
    assert forecast["1%"]["within"] is False and forecast["25%"]["within"] is True
    assert forecast["1%"]["seconds"] > forecast["25%"]["seconds"]


async def test_big_enough_steps_start_without_an_option(api: httpx.AsyncClient) -> None:
    body = {"service": "web", "version": "v2", "steps": [25, 50, 100]}
    response = await api.post("/v1/rollouts", json=body)

    assert response.status_code == 201, response.text
    assert all(f["within"] for f in response.json()["event"]["forecast"])


async def test_weirs_default_steps_start_where_the_traffic_can_judge_them(
    api: httpx.AsyncClient,
) -> None:
    # the service file names no steps, nor does the operator: weir's (1, 5, 25, 50, 100)
    response = await api.post("/v1/rollouts", json={"service": "web", "version": "v2"})

    assert response.status_code == 201, response.text
    event = response.json()["event"]
    assert event["plan"]["steps"] == [25, 50, 100]
    assert [f["label"] for f in event["left_out"]] == ["1%", "5%"]
    assert all(f["seconds"] > 300 for f in event["left_out"])  # over half of decide_within
    assert all(f["seconds"] <= 300 for f in event["forecast"])


async def test_steps_the_service_file_names_are_kept_as_named(api: httpx.AsyncClient) -> None:
    service = {"name": "web", "rollout": {"steps": [1, 5, 25, 50, 100], "accept_risk": True}}
    assert (await api.put("/v1/services/web", json=service)).status_code == 200

    response = await api.post("/v1/rollouts", json={"service": "web", "version": "v2"})

    assert response.status_code == 201, response.text
    event = response.json()["event"]
    assert event["plan"]["steps"] == [1, 5, 25, 50, 100] and event["left_out"] == []
