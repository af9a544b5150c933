"""/v1/dashboard/stream over ASGI, bounded with ?events=N: what a page is sent, which service it
is about, and bad input refused before anything streams. /v1/whoami says who calls."""

from __future__ import annotations

import json
from typing import Any

import httpx

from controlplane.api._dashboard_stream import MAX_EVENTS


def frames(text: str) -> list[dict[str, Any]]:
    events = [block for block in text.split("\n\n") if block.strip()]
    return [
        json.loads(line.removeprefix("data: "))
        for block in events
        for line in block.splitlines()
        if line.startswith("data: ")
    ]


async def test_one_event_holds_everything_the_page_shows(web: httpx.AsyncClient) -> None:
    answer = await web.get("/v1/dashboard/stream", params={"events": 1})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    (page,) = frames(answer.text)
    assert page["service"] == "web"  # the only one: chosen without asking
    assert page["me"] == {"name": "operator", "role": "admin"}
    assert [s["name"] for s in page["services"]] == ["web"]
    assert page["services"][0]["versions"] == [["v1", 1.0]]
    assert [i["instance"]["id"] for i in page["instances"]] == ["web-1", "web-2"]
    assert page["rollout"] == {"missing": "service 'web' has had no rollout"}
    assert page["budget"]["missing"].startswith("this weir server runs without an evaluator")
    assert [item["kind"] for item in page["timeline"]][:2] == [
        "activation_changed",
        "instance_registered",
    ]
    assert page["proxies"] == []


async def test_an_unknown_service_shows_one_that_exists(web: httpx.AsyncClient) -> None:
    answer = await web.get("/v1/dashboard/stream", params={"events": 1, "service": "nope"})

    assert frames(answer.text)[0]["service"] == "web"


async def test_bad_input_is_refused_before_any_event(web: httpx.AsyncClient) -> None:
    for params in ({"service": "x" * 64}, {"events": 0}, {"events": MAX_EVENTS + 1}):
        answer = await web.get("/v1/dashboard/stream", params=params)
        assert answer.status_code == 422, params
        assert answer.json()["error"]


async def test_whoami_names_the_token_and_its_role(api: httpx.AsyncClient) -> None:
    answer = await api.get("/v1/whoami")

    assert answer.json() == {"name": "operator", "role": "admin"}
    assert (await api.get("/v1/whoami", headers={"Authorization": ""})).status_code == 401
