"""/v1/instances: register, read back, and move activation, one ledger entry per change."""

from __future__ import annotations

import httpx
import pytest

from controlplane.control import Controller
from controlplane.model import ActivationChanged, ActivationState
from tests.support import bearer


async def test_a_new_instance_is_201_and_inactive(api: httpx.AsyncClient) -> None:
    await api.put("/v1/services/web", json={"name": "web"})
    body = {
        "id": "web-1",
        "service": "web",
        "version": "1.4.2",
        "address": "10.0.0.1:8080",
        "labels": {"zone": "a"},
    }

    response = await api.post("/v1/instances", json=body)

    assert response.status_code == 201, response.text
    assert response.json() == {
        "instance": body,
        "activation": {"state": "inactive", "weight": None, "mirror_percent": None},
        "since_seq": 2,
        "live_share": 0.0,
    }


async def test_live_share_follows_the_weights(web: httpx.AsyncClient) -> None:
    await web.post("/v1/instances/web-2/activation", json={"state": "live", "weight": 3})

    one = (await web.get("/v1/instances/web-1")).json()
    two = (await web.get("/v1/instances/web-2")).json()

    assert one["live_share"] == pytest.approx(0.25)
    assert two["live_share"] == pytest.approx(0.75)
    assert two["activation"] == {"state": "live", "weight": 3, "mirror_percent": None}


async def test_a_live_activation_without_weight_gets_weight_1(web: httpx.AsyncClient) -> None:
    one = (await web.get("/v1/instances/web-1")).json()

    assert one["activation"]["weight"] == 1


async def test_live_again_without_weight_keeps_the_weight_it_has(
    web: httpx.AsyncClient, controller: Controller
) -> None:
    await web.post("/v1/instances/web-1/activation", json={"state": "live", "weight": 5})
    before = len(controller.history())

    again = await web.post("/v1/instances/web-1/activation", json={"state": "live"})

    assert again.status_code == 409
    assert again.json()["error"] == "instance 'web-1' is already live weight 5"
    assert len(controller.history()) == before


async def test_shadow_mirrors_100_percent_unless_told(web: httpx.AsyncClient) -> None:
    entry = (await web.post("/v1/instances/web-2/activation", json={"state": "shadow"})).json()

    assert entry["event"]["after"] == {"state": "shadow", "weight": None, "mirror_percent": 100.0}


async def test_an_activation_returns_the_ledger_entry(
    web: httpx.AsyncClient, controller: Controller
) -> None:
    response = await web.post(
        "/v1/instances/web-2/activation",
        json={"state": "shadow", "mirror_percent": 10, "reason": "try v2"},
        headers=bearer("bob"),
    )

    assert response.status_code == 200, response.text
    entry = response.json()
    assert entry["seq"] == controller.state.seq
    assert (entry["actor"], entry["reason"]) == ("bob", "try v2")
    assert entry["event"]["before"]["state"] == "inactive"
    assert entry["event"]["after"] == {"state": "shadow", "weight": None, "mirror_percent": 10.0}


async def test_forcing_the_last_live_instance_out_is_recorded(
    web: httpx.AsyncClient, controller: Controller
) -> None:
    response = await web.post(
        "/v1/instances/web-1/activation",
        json={"state": "inactive", "force": True, "reason": "incident 7"},
    )

    assert response.status_code == 200, response.text
    last = controller.history()[-1]
    assert isinstance(last.event, ActivationChanged)
    assert last.event.forced is True
    assert last.reason == "incident 7"


async def test_retire_takes_an_optional_reason(
    web: httpx.AsyncClient, controller: Controller
) -> None:
    with_reason = await web.post("/v1/instances/web-2/retire", json={"reason": "v2 is done"})
    await web.post("/v1/instances", json={**_instance("web-3")})
    without_body = await web.post("/v1/instances/web-3/retire")

    assert with_reason.status_code == without_body.status_code == 200
    assert controller.state.instances["web-2"].state is ActivationState.RETIRED
    assert controller.state.instances["web-3"].state is ActivationState.RETIRED
    assert controller.history()[-3].reason == "v2 is done"


async def test_instances_list_by_service(web: httpx.AsyncClient) -> None:
    await web.put("/v1/services/auth", json={"name": "auth"})
    await web.post("/v1/instances", json={**_instance("auth-1"), "service": "auth"})

    every = (await web.get("/v1/instances")).json()
    auth = (await web.get("/v1/instances", params={"service": "auth"})).json()
    unknown = await web.get("/v1/instances", params={"service": "nope"})

    assert [v["instance"]["id"] for v in every] == ["web-1", "web-2", "auth-1"]
    assert [v["instance"]["id"] for v in auth] == ["auth-1"]
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "service"


async def test_an_unknown_instance_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/instances/ghost")

    assert response.status_code == 404
    assert response.json() == {"error": "unknown instance 'ghost'", "field": "id"}


def _instance(instance_id: str) -> dict[str, str]:
    return {"id": instance_id, "service": "web", "version": "v9", "address": "10.0.0.9:80"}
