"""PUT/GET /v1/services: a service file goes in whole, or not at all."""

from __future__ import annotations

import httpx

from controlplane.control import Controller
from tests.support import bearer

CHECKOUT = {
    "name": "checkout",
    "domains": ["checkout", "checkout.internal"],
    "routes": [
        {"match": {"prefix": "/api"}, "timeout": "2s", "retries": {"attempts": 2, "on": ["5xx"]}}
    ],
    "slo": {"success_rate": 99.9, "latency_p99_ms": 300, "window": "30d"},
    "rollout": {"strategy": "canary", "steps": [1, 5, 25, 50, 100], "bake": "60s"},
}


async def test_apply_records_the_service_and_returns_its_ledger_entry(
    api: httpx.AsyncClient, controller: Controller
) -> None:
    response = await api.put("/v1/services/checkout", json=CHECKOUT)

    assert response.status_code == 200, response.text
    entry = response.json()
    assert entry["seq"] == 1
    assert entry["actor"] == "operator"
    assert entry["event"]["kind"] == "service_applied"
    assert controller.state.services["checkout"].domains == ("checkout", "checkout.internal")


async def test_the_token_names_who_made_the_change(
    api: httpx.AsyncClient, controller: Controller
) -> None:
    await api.put("/v1/services/web", json={"name": "web"}, headers=bearer("alice"))

    assert controller.history()[-1].actor == "alice"


async def test_services_read_back_as_applied(api: httpx.AsyncClient) -> None:
    await api.put("/v1/services/checkout", json=CHECKOUT)
    await api.put("/v1/services/auth", json={"name": "auth"})

    listed = (await api.get("/v1/services")).json()
    one = (await api.get("/v1/services/checkout")).json()

    assert [s["name"] for s in listed] == ["auth", "checkout"]
    assert one["slo"]["window"] == "30d"
    assert one["rollout"]["bake"] == "1m"


async def test_an_unknown_service_is_404_naming_it(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/services/nope")

    assert response.status_code == 404
    assert response.json() == {"error": "unknown service 'nope'", "field": "name"}


async def test_a_domain_another_service_routes_is_409(
    api: httpx.AsyncClient, controller: Controller
) -> None:
    await api.put("/v1/services/checkout", json=CHECKOUT)

    response = await api.put("/v1/services/cart", json={"name": "cart", "domains": ["checkout"]})

    assert response.status_code == 409
    assert response.json()["field"] == "domains"
    assert len(controller.history()) == 1
