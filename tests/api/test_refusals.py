"""Bad input is refused with a 4xx naming the field, and nothing reaches the ledger."""

from __future__ import annotations

from typing import Any, NamedTuple

import httpx
import pytest

from controlplane.control import Controller


class Refusal(NamedTuple):
    method: str
    path: str
    body: Any
    status: int
    field: str | None
    words: str
    """Words the error message must hold."""


INSTANCE = {"id": "web-3", "service": "web", "version": "v3", "address": "10.0.0.3:80"}
ADD = "/v1/instances"
ACTIVATE = "/v1/instances/web-2/activation"
ACTIVATE_LIVE = "/v1/instances/web-1/activation"
APPLY = "/v1/services/web"

REFUSALS = {
    "id-not-dns-label": Refusal(
        "POST", ADD, {**INSTANCE, "id": "Web_3"}, 422, "id", "'Web_3' is not DNS-label style"
    ),
    "unknown-service": Refusal(
        "POST", ADD, {**INSTANCE, "service": "nope"}, 404, "service", "unknown service 'nope'"
    ),
    "duplicate-id": Refusal(
        "POST", ADD, {**INSTANCE, "id": "web-1"}, 409, "id", "'web-1' is already taken"
    ),
    "address-not-host-port": Refusal(
        "POST", ADD, {**INSTANCE, "address": "10.0.0.3"}, 422, "address", "is not host:port"
    ),
    "unknown-instance-field": Refusal(
        "POST", ADD, {**INSTANCE, "colour": "red"}, 422, "colour", "Extra inputs are not permitted"
    ),
    "unknown-instance": Refusal(
        "POST", "/v1/instances/ghost/activation", {"state": "live"}, 404, "id",
        "unknown instance 'ghost'",
    ),
    "negative-weight": Refusal(
        "POST", ACTIVATE, {"state": "live", "weight": -1}, 422, "weight",
        "weight: Input should be greater than or equal to 0",
    ),
    "mirror-over-100": Refusal(
        "POST", ACTIVATE, {"state": "shadow", "mirror_percent": 140}, 422, "mirror_percent",
        "mirror_percent: Input should be less than or equal to 100",
    ),
    "mirror-below-0": Refusal(
        "POST", ACTIVATE, {"state": "shadow", "mirror_percent": -5}, 422, "mirror_percent",
        "mirror_percent: Input should be greater than or equal to 0",
    ),
    "weight-for-shadow": Refusal(
        "POST", ACTIVATE, {"state": "shadow", "weight": 3}, 422, "weight",
        "weight applies only to state live",
    ),
    "retired-by-activation": Refusal(
        "POST", ACTIVATE, {"state": "retired"}, 422, "state",
        "Input should be 'live', 'shadow' or 'inactive'",
    ),
    "zero-total-weight": Refusal(
        "POST", ACTIVATE_LIVE, {"state": "live", "weight": 0}, 409, "weight", "total weight of 0"
    ),
    "last-live-instance": Refusal(
        "POST", ACTIVATE_LIVE, {"state": "inactive"}, 409, "force", "last live instance"
    ),
    "retire-a-live-instance": Refusal(
        "POST", "/v1/instances/web-1/retire", {}, 409, None, "deactivate it first"
    ),
    "slo-over-100": Refusal(
        "PUT", APPLY, {"name": "web", "slo": {"success_rate": 140}}, 422, "slo.success_rate",
        "success_rate: Input should be less than 100",
    ),
    "unknown-service-field": Refusal(
        "PUT", APPLY, {"name": "web", "colour": "red"}, 422, "colour",
        "colour: Extra inputs are not permitted",
    ),
    "path-and-body-names-differ": Refusal(
        "PUT", APPLY, {"name": "auth"}, 422, "name",
        "the path names service 'web' but the body names 'auth'",
    ),
    "bad-duration": Refusal(
        "PUT", APPLY, {"name": "web", "slo": {"window": "soon"}}, 422, "slo.window",
        "'soon' is not a duration",
    ),
    "compare-post-without-opting-in": Refusal(
        "PUT", APPLY, {"name": "web", "compare": {"methods": ["GET", "POST"]}}, 422, "compare",
        "POST may change the service's data",
    ),
    "compare-bad-field": Refusal(
        "PUT", APPLY, {"name": "web", "compare": {"ignore": ["price"]}}, 422, "compare.ignore",
        "'price' is not a field",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=name) for name, c in REFUSALS.items()])
async def test_bad_input_is_refused_whole(
    web: httpx.AsyncClient, controller: Controller, case: Refusal
) -> None:
    before = len(controller.history())

    response = await web.request(case.method, case.path, json=case.body)

    assert response.status_code == case.status, response.text
    answer = response.json()
    assert case.words in answer["error"]
    assert answer["field"] == case.field
    assert len(controller.history()) == before


async def test_an_empty_bearer_token_is_refused(
    api: httpx.AsyncClient, controller: Controller
) -> None:
    response = await api.put(
        "/v1/services/web", json={"name": "web"}, headers={"Authorization": "Bearer "}
    )

    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["error"]
    assert controller.history() == []


async def test_every_field_at_fault_is_named(api: httpx.AsyncClient) -> None:
    body = {"id": "X", "service": "web", "version": "v1", "address": "nowhere"}

    answer = (await api.post("/v1/instances", json=body)).json()

    assert answer["error"].startswith("id: 'X' is not DNS-label style")
    assert "; address: 'nowhere' is not host:port" in answer["error"]


async def test_malformed_json_is_422(api: httpx.AsyncClient) -> None:
    response = await api.put(
        "/v1/services/web", content=b"{", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert "JSON" in response.json()["error"]


async def test_an_unknown_path_answers_in_the_same_shape(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/nothing")

    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "field": None}
