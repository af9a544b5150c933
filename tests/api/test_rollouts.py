"""/v1/rollouts: start, status, and the operator actions, over ASGI against a real ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from controlplane.api import create_app
from controlplane.control import Controller
from controlplane.model import (
    ArmEvidence,
    Outcome,
    ProposedEntry,
    Verdict,
    VerdictRecorded,
)
from controlplane.rollout import RolloutDriver
from controlplane.xds import ProxyRegistry
from tests.support import StaticTokens, bearer

ROLLOUT = {"steps": [10, 50, 100], "bake": "1h", "grace": "0s"}


@pytest.fixture
async def web(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """web: a (v1) live at weight 9, c (v2) registered and inactive; rollouts bake for an hour."""
    await api.put("/v1/services/web", json={"name": "web", "rollout": ROLLOUT})
    for n, (instance_id, version) in enumerate([("a", "v1"), ("c", "v2")], start=1):
        body = {
            "id": instance_id,
            "service": "web",
            "version": version,
            "address": f"10.0.0.{n}:80",
        }
        assert (await api.post("/v1/instances", json=body)).status_code == 201
    await api.post("/v1/instances/a/activation", json={"state": "live", "weight": 9})
    return api


def passes(controller: Controller) -> None:
    """The evaluator's pass on the current step's change."""
    rollout = controller.state.active_rollout("web")
    assert rollout is not None and rollout.current is not None
    change = rollout.current.changes[0]
    verdict = Verdict(
        outcome=Outcome.PASS,
        reason="no worse than the baseline",
        candidate=ArmEvidence(requests=120, errors=0, p99_ms=12.5),
        elapsed_s=3,
    )
    event = VerdictRecorded(
        change_seq=change.seq, instance_id=change.instance_id, service="web", verdict=verdict
    )
    controller.submit([ProposedEntry(actor="evaluator", event=event)])


async def test_start_takes_the_service_files_defaults_and_names_who(
    web: httpx.AsyncClient,
) -> None:
    response = await web.post(
        "/v1/rollouts", json={"service": "web", "version": "v2"}, headers=bearer("ann")
    )

    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["actor"] == "ann"
    assert entry["event"]["rollout_id"] == "web/1"
    assert entry["event"]["plan"] == {
        "strategy": "canary",
        "steps": [10.0, 50.0, 100.0],
        "bake": "1h",
        "grace": "0ms",
        "decide_within": "10m",
        "accept_risk": False,
    }


async def test_status_shows_step_shares_verdict_and_time_to_the_next_step(
    web: httpx.AsyncClient, controller: Controller
) -> None:
    await web.post("/v1/rollouts", json={"service": "web", "version": "v2", "bake": "10m"})
    await RolloutDriver(controller).step()
    passes(controller)

    status = (await web.get("/v1/rollouts/web")).json()

    assert status["state"] == "running"
    assert (status["step"], status["steps"], status["step_label"]) == (1, 3, "10%")
    assert status["new_version_share"] == pytest.approx(0.1)
    shares = {s["instance_id"]: s for s in status["shares"]}
    assert shares["c"]["activation"] == "live weight 1" and shares["c"]["role"] == "new"
    assert (shares["c"]["requests"], shares["c"]["p99_ms"]) == (120, 12.5)
    assert shares["a"]["live_share"] == pytest.approx(0.9)
    [verdict] = status["verdicts"]
    assert (verdict["instance_id"], verdict["verdict"], verdict["final"]) == ("c", "pass", True)
    assert status["next"]["action"] == "wait"
    assert status["next"]["why"].startswith("holding step 1 (10%) until")
    assert 0 < status["next"]["in_s"] <= 600
    assert [h["label"] for h in status["history"]] == ["10%"]
    assert [e["what"] for e in status["events"]] == [
        "rollout web/1 started: canary to v2",
        "rollout web/1 step 1: 10%",
        "c: inactive → live weight 1",
        "verdict pass on #7",
    ]
    assert status["driver_running"] is None  # this app was built without a driver


async def test_promote_pause_resume_and_abort_each_record_who_and_why(
    web: httpx.AsyncClient, controller: Controller
) -> None:
    await web.post("/v1/rollouts", json={"service": "web", "version": "v2"})
    driver = RolloutDriver(controller)
    await driver.step()
    bob = bearer("bob")

    promoted = await web.post(
        "/v1/rollouts/web/promote", json={"reason": "dashboards fine"}, headers=bob
    )
    await driver.step()
    paused = await web.post("/v1/rollouts/web/pause", headers=bob)
    resumed = await web.post("/v1/rollouts/web/resume", headers=bob)
    aborted = await web.post("/v1/rollouts/web/abort", json={"reason": "pager"}, headers=bob)

    assert [r.status_code for r in (promoted, paused, resumed, aborted)] == [200] * 4
    assert promoted.json()["event"]["kind"] == "rollout_promoted"
    assert promoted.json()["reason"] == "dashboards fine"
    assert {promoted.json()["actor"], paused.json()["actor"], resumed.json()["actor"]} == {"bob"}
    finished, *restored = aborted.json()
    assert finished["event"]["outcome"] == "aborted" and finished["actor"] == "bob"
    assert [(e["actor"], e["event"]["instance_id"]) for e in restored] == [("rollout", "c")]
    status = (await web.get("/v1/rollouts/web")).json()
    assert status["state"] == "aborted" and status["next"]["action"] == "none"
    assert status["new_version_share"] == 0


REFUSALS: list[tuple[str, str, dict[str, Any] | None, int, str | None, str]] = [
    (
        "POST",
        "/v1/rollouts",
        {"service": "nope", "version": "v2"},
        404,
        "service",
        "unknown service 'nope'",
    ),
    (
        "POST",
        "/v1/rollouts",
        {"service": "web", "version": "v9"},
        404,
        "version",
        "unknown version 'v9'",
    ),
    (
        "POST",
        "/v1/rollouts",
        {"service": "web", "version": "v1"},
        409,
        "version",
        "already serves all live traffic",
    ),
    (
        "POST",
        "/v1/rollouts",
        {"service": "web", "version": "v2", "steps": [50, 10, 100]},
        422,
        "steps",
        "steps must rise strictly",
    ),
    (
        "POST",
        "/v1/rollouts",
        {"service": "web", "version": "v2", "steps": [10, 50]},
        422,
        "steps",
        "the last step must be 100",
    ),
    (
        "POST",
        "/v1/rollouts",
        {"service": "web", "version": "v2", "bake": "soon"},
        422,
        "bake",
        "is not a duration",
    ),
    (
        "POST",
        "/v1/rollouts",
        {"service": "web", "version": "v2", "strategy": "big-bang"},
        422,
        "strategy",
        "Input should be",
    ),
    (
        "POST",
        "/v1/rollouts",
        {"service": "web", "version": "v2", "strategy": "partial", "steps": [1, 100]},
        422,
        "steps",
        "steps does not apply to a partial rollout",
    ),
    (
        "POST",
        "/v1/rollouts",
        {"service": "web", "version": "v2", "colour": "red"},
        422,
        "colour",
        "Extra inputs",
    ),
    ("GET", "/v1/rollouts/web", None, 404, "service", "service 'web' has had no rollout"),
    ("POST", "/v1/rollouts/web/pause", None, 404, "service", "no rollout in progress"),
    ("POST", "/v1/rollouts/web/abort", None, 404, "service", "no rollout in progress"),
    ("GET", "/v1/rollouts/nope", None, 404, "service", "unknown service 'nope'"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "field", "words"), REFUSALS)
async def test_a_refusal_names_the_field_and_records_nothing(
    web: httpx.AsyncClient,
    controller: Controller,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    field: str | None,
    words: str,
) -> None:
    length = len(controller.history())

    response = await web.request(method, path, json=body)

    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert response.json()["field"] == field
    assert len(controller.history()) == length


async def test_a_second_rollout_is_refused_naming_the_first(web: httpx.AsyncClient) -> None:
    await web.post("/v1/rollouts", json={"service": "web", "version": "v2"})

    response = await web.post("/v1/rollouts", json={"service": "web", "version": "v2"})

    assert response.status_code == 409
    assert "rollout web/1 (canary of web to v2) in progress" in response.json()["error"]


async def test_an_exhausted_budget_refuses_a_new_rollout(
    web: httpx.AsyncClient, controller: Controller
) -> None:
    controller.gate_on_budget(lambda service: f"the error budget of {service} is exhausted")

    response = await web.post("/v1/rollouts", json={"service": "web", "version": "v2"})

    assert response.status_code == 409
    assert response.json() == {
        "error": "no rollout now: the error budget of web is exhausted",
        "field": "budget",
    }


async def test_the_list_and_the_driver_are_shown_when_the_server_runs_one(
    controller: Controller, registry: ProxyRegistry, web: httpx.AsyncClient
) -> None:
    driver = RolloutDriver(controller, clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    app = create_app(controller, registry, rollouts=driver, auth=StaticTokens())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://w", headers=bearer()
    ) as api:
        await api.post("/v1/rollouts", json={"service": "web", "version": "v2"})
        controller.gate_on_budget(lambda service: "budget spent")
        await driver.step()

        [listed] = (await api.get("/v1/rollouts")).json()

    assert listed["id"] == "web/1" and listed["step"] == 0
    assert listed["refused"] == "budget spent"
    assert listed["driver_running"] is False


async def test_the_rollout_paths_are_in_the_openapi_schema(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]

    assert {path: set(ops) for path, ops in paths.items() if "rollouts" in path} == {
        "/v1/rollouts": {"get", "post"},
        "/v1/rollouts/{service}": {"get"},
        "/v1/rollouts/{service}/promote": {"post"},
        "/v1/rollouts/{service}/pause": {"post"},
        "/v1/rollouts/{service}/resume": {"post"},
        "/v1/rollouts/{service}/abort": {"post"},
    }
    abort = paths["/v1/rollouts/{service}/abort"]["post"]["responses"]["409"]
    assert abort["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
