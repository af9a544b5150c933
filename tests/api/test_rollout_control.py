"""/v1/instances during a rollout: a change to an instance the rollout moves is a 409 naming
the rollout, unless `force: true`, which pauses the rollout in the same ledger batch."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from controlplane.control import Controller
from controlplane.rollout import RolloutDriver

ROLLOUT = {"steps": [10, 50, 100], "bake": "1h", "grace": "0s"}


async def start_rollout(api: httpx.AsyncClient) -> None:
    """web: a (v1) live at weight 9, c (v2) registered; rollout web/1 of v2 started."""
    await api.put("/v1/services/web", json={"name": "web", "rollout": ROLLOUT})
    for n, (instance_id, version) in enumerate([("a", "v1"), ("c", "v2")], start=1):
        address = f"10.0.0.{n}:80"
        body = {"id": instance_id, "service": "web", "version": version, "address": address}
        assert (await api.post("/v1/instances", json=body)).status_code == 201
    await api.post("/v1/instances/a/activation", json={"state": "live", "weight": 9})
    started = await api.post("/v1/rollouts", json={"service": "web", "version": "v2"})
    assert started.status_code == 201, started.text


@pytest.fixture
async def canary(api: httpx.AsyncClient, controller: Controller) -> httpx.AsyncClient:
    """web mid-canary: a (v1) live at weight 9, c (v2) live at weight 1 (step 1, 10%)."""
    await start_rollout(api)
    assert len(await RolloutDriver(controller).step()) == 2
    return api


REFUSED: dict[str, tuple[str, str, dict[str, Any]]] = {
    "reweight": ("c", "activation", {"state": "live", "weight": 5}),
    "deactivate": ("c", "activation", {"state": "inactive"}),
    "shadow": ("c", "activation", {"state": "shadow", "mirror_percent": 20}),
    "replaced instance": ("a", "activation", {"state": "live", "weight": 3}),
    "force false": ("c", "activation", {"state": "inactive", "force": False}),
}


@pytest.mark.parametrize(("instance_id", "path", "body"), REFUSED.values(), ids=REFUSED.keys())
async def test_a_change_to_an_instance_the_rollout_moves_is_a_409_naming_it(
    canary: httpx.AsyncClient,
    controller: Controller,
    instance_id: str,
    path: str,
    body: dict[str, Any],
) -> None:
    before = controller.history()

    response = await canary.post(f"/v1/instances/{instance_id}/{path}", json=body)

    assert response.status_code == 409, response.text
    assert response.json() == {
        "error": f"instance {instance_id!r} is controlled by rollout web/1 (canary of web to "
        "v2), at step 1 (10%); pause it (weir rollout pause web) or abort it first, or repeat "
        "with --force, which pauses it in the same ledger batch as this change",
        "field": "force",
    }
    assert controller.history() == before
    status = (await canary.get("/v1/rollouts/web")).json()
    assert status["state"] == "running"


async def test_force_changes_it_and_pauses_the_rollout_in_the_same_batch(
    canary: httpx.AsyncClient, controller: Controller
) -> None:
    before = len(controller.history())

    response = await canary.post(
        "/v1/instances/c/activation",
        json={"state": "live", "weight": 5, "force": True, "reason": "more load on v2"},
    )

    assert response.status_code == 200, response.text
    change = response.json()
    paused = change.pop("rollout_paused")
    assert change["event"]["after"] == {"state": "live", "weight": 5, "mirror_percent": None}
    assert change["event"]["forced"] is True
    assert (change["actor"], change["reason"]) == ("operator", "more load on v2")
    assert paused["event"] == {"kind": "rollout_paused", "rollout_id": "web/1", "service": "web"}
    assert paused["actor"] == "operator"
    assert "operator forced a change of c (live weight 1 → live weight 5)" in paused["reason"]
    history = (await canary.get("/v1/history", params={"service": "web"})).json()
    assert [e["seq"] for e in history[-2:]] == [before + 1, before + 2]
    assert history[-2] == paused and history[-1] == change
    assert paused["at"] == change["at"]  # appended together
    status = (await canary.get("/v1/rollouts/web")).json()
    assert status["state"] == "paused"
    assert await RolloutDriver(controller).step() == []


async def test_retire_is_refused_and_forced_the_same_way(
    api: httpx.AsyncClient, controller: Controller
) -> None:
    """Before its first step the candidate is inactive, so the rollout's hold is all that
    stands between the operator and retiring it."""
    await start_rollout(api)
    length = len(controller.history())

    refused = await api.post("/v1/instances/c/retire", json={"reason": "bad build"})
    assert refused.status_code == 409
    assert "controlled by rollout web/1" in refused.json()["error"]
    assert "before its first step" in refused.json()["error"]
    assert len(controller.history()) == length

    forced = await api.post("/v1/instances/c/retire", json={"reason": "bad build", "force": True})
    assert forced.status_code == 200, forced.text
    assert forced.json()["rollout_paused"]["seq"] == length + 1
    assert forced.json()["event"]["after"]["state"] == "retired"
    assert len(controller.history()) == length + 2


async def test_an_already_paused_rollout_is_not_paused_again(canary: httpx.AsyncClient) -> None:
    await canary.post("/v1/rollouts/web/pause", json={})

    response = await canary.post(
        "/v1/instances/c/activation", json={"state": "live", "weight": 2, "force": True}
    )

    assert response.status_code == 200, response.text
    assert response.json()["rollout_paused"] is None
