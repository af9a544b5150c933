"""/v1/apply: services and instances in one transaction and one publication, all or nothing."""

from __future__ import annotations

from typing import Any

import httpx

from controlplane.api import create_app
from controlplane.control import Controller
from controlplane.model import ActivationChanged, ActivationState, InstanceRegistered, Role, State
from controlplane.xds import ProxyRegistry
from tests.support import StaticTokens, bearer


def mesh(services: int, instances: int) -> dict[str, Any]:
    """`services` services of `instances` instances each, the first of each starting live."""
    body: dict[str, Any] = {"services": [], "instances": [], "reason": "sync"}
    for s in range(services):
        body["services"].append({"name": f"svc-{s}", "domains": [f"svc-{s}.internal"]})
        for i in range(instances):
            instance: dict[str, Any] = {
                "id": f"svc-{s}-{i}",
                "service": f"svc-{s}",
                "version": "v1",
                "address": f"10.0.{s}.{i + 1}:8080",
            }
            if i == 0:
                instance["activation"] = {"state": "live", "weight": 3}
            body["instances"].append(instance)
    return body


async def test_one_call_appends_the_whole_batch_in_one_publication(
    api: httpx.AsyncClient, controller: Controller
) -> None:
    published: list[State] = []
    controller.subscribe(published.append)

    response = await api.post("/v1/apply", json=mesh(3, 2))

    assert response.status_code == 200, response.text
    assert response.json() == {
        "entries": 3 + 6 + 3,
        "first_seq": 1,
        "last_seq": 12,
        "services_applied": 3,
        "services_unchanged": 0,
        "instances_registered": 6,
        "instances_unchanged": 0,
        "activations": 3,
    }
    assert len(published) == 1, "one transaction, one publication"
    state = controller.state
    assert [i.instance.id for i in state.live_of("svc-1")] == ["svc-1-0"]
    assert state.instances["svc-1-0"].activation.weight == 3
    assert state.instances["svc-1-1"].state is ActivationState.INACTIVE
    entries = controller.history()
    assert {e.actor for e in entries} == {"operator"} and {e.reason for e in entries} == {"sync"}
    # each instance's activation follows its registration, as an operator would make them
    kinds = [type(e.event) for e in entries if e.event.kind != "service_applied"]
    assert kinds[:3] == [InstanceRegistered, ActivationChanged, InstanceRegistered]


async def test_the_same_batch_again_appends_nothing(
    api: httpx.AsyncClient, controller: Controller
) -> None:
    await api.post("/v1/apply", json=mesh(2, 2))
    await api.post("/v1/instances/svc-0-1/activation", json={"state": "live"})
    length = len(controller.history())

    again = await api.post("/v1/apply", json=mesh(2, 2))

    assert again.status_code == 200, again.text
    assert again.json()["entries"] == 0
    assert again.json()["services_unchanged"] == 2 and again.json()["instances_unchanged"] == 4
    assert len(controller.history()) == length
    assert controller.state.instances["svc-0-1"].state is ActivationState.LIVE  # left alone


async def test_one_bad_entry_refuses_the_batch_and_names_it(
    api: httpx.AsyncClient, controller: Controller
) -> None:
    await api.post("/v1/apply", json=mesh(1, 1))
    length = len(controller.history())

    unknown = mesh(2, 2)
    unknown["instances"].append(
        {"id": "stray", "service": "nowhere", "version": "v1", "address": "10.9.9.9:80"}
    )
    taken = mesh(2, 2)
    taken["instances"][0]["address"] = "10.0.0.99:8080"  # svc-0-0 is registered, elsewhere
    bad = mesh(2, 2)
    bad["instances"][3]["address"] = "nowhere"
    twice = mesh(2, 2)
    twice["instances"].append(dict(twice["instances"][1]))

    refusals = [
        (unknown, 404, "nowhere"),
        (taken, 409, "svc-0-0"),
        (bad, 422, "instances.3.address"),
        (twice, 422, "'svc-0-1' is listed twice"),
    ]
    for body, status, named in refusals:
        response = await api.post("/v1/apply", json=body)
        assert response.status_code == status, response.text
        assert named in response.json()["error"]
    assert len(controller.history()) == length, "nothing of a refused batch is appended"


async def test_applying_a_batch_needs_an_admin(controller: Controller) -> None:
    app = create_app(controller, ProxyRegistry(), auth=StaticTokens({"ops": Role.OPERATOR}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://weir") as http:
        response = await http.post("/v1/apply", json=mesh(1, 1), headers=bearer("ops"))
    assert response.status_code == 403
    assert controller.history() == []


async def test_a_batch_wrong_everywhere_names_the_first_errors_and_counts_the_rest(
    api: httpx.AsyncClient,
) -> None:
    body = mesh(1, 30)
    for instance in body["instances"]:
        instance["address"] = "nowhere"

    response = await api.post("/v1/apply", json=body)

    assert response.status_code == 422
    message = response.json()["error"]
    assert message.count("address") == 10 and message.endswith("and 20 more")
