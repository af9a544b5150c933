"""Acting from the dashboard: an operator pauses, resumes, promotes and undoes a rollout, each
after confirming; a refusal by the API is shown as the API gave it; a viewer sees no action."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Dialog, Page, Route, expect

from tests.dashboard.conftest import SERVICE, TOKEN_KEY, signed_in
from tests.integration._weir import WeirServer

pytestmark = pytest.mark.timeout(90)
WAIT_MS = 10_000


@pytest.fixture
def weir(tmp_path: Path) -> Iterator[WeirServer]:
    """No stats source: nothing judges, so each step waits until promoted."""
    with WeirServer(tmp_path, options=("--stats", "off")) as server:
        rollout = {"steps": [50, 100], "bake": "1h", "grace": "10m"}
        server.service(SERVICE, rollout=rollout)
        server.instance(SERVICE, "v1-a", "10.0.0.1:80", version="v1")
        server.instance(SERVICE, "v2-a", "10.0.0.2:80", version="v2")
        server.live("v1-a", 1)
        server.call("POST", "/v1/rollouts", {"service": SERVICE, "version": "v2"}, expect=201)
        yield server


def answer(page: Page, accept: bool) -> list[str]:
    """Answer the next confirmation; the questions asked."""
    asked: list[str] = []

    def respond(dialog: Dialog) -> None:
        asked.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", respond)
    return asked


def buttons(page: Page) -> list[str]:
    names: list[str] = page.locator("#rollout .actions button").all_inner_texts()
    return names


def test_an_operator_pauses_resumes_promotes_and_undoes_after_confirming(
    weir: WeirServer, browser: BrowserContext, tmp_path: Path
) -> None:
    page = browser.new_page()
    signed_in(page, weir)
    page.goto(weir.api_url + "/")
    state = page.locator("#rollout .rollout-head > .badge")
    expect(page.locator("#rollout .step-count")).to_have_text("Step 1 of 2", timeout=WAIT_MS)
    assert buttons(page) == ["Promote", "Pause", "Abort"]

    # Dismissed: nothing changes
    length = len(weir.history())
    asked = answer(page, accept=False)
    page.click("#rollout button.pause")
    assert asked and asked[0].startswith(f"Pause rollout web/1 of {SERVICE}?")
    assert len(weir.history()) == length

    # Confirmed: paused, and the buttons follow
    answer(page, accept=True)
    page.click("#rollout button.pause")
    expect(state).to_have_text("paused", timeout=WAIT_MS)
    expect(page.locator("#action-result")).to_contain_text("Pause: done (ledger entry")
    assert buttons(page) == ["Promote", "Resume", "Abort"]
    answer(page, accept=True)
    page.click("#rollout button.resume")
    expect(state).to_have_text("running", timeout=WAIT_MS)

    # Promoted through both steps to completion; the replaced instance is kept warm
    for step in ("Step 2 of 2", None):
        answer(page, accept=True)
        page.click("#rollout button.promote")
        if step:
            expect(page.locator("#rollout .step-count")).to_have_text(step, timeout=WAIT_MS)
    expect(state).to_have_text("completed", timeout=WAIT_MS)
    expect(page.locator("#rollout [data-test=grace]")).to_contain_text("v1-a kept warm until")
    assert buttons(page) == ["Undo"]
    page.screenshot(path=tmp_path / "dashboard-undo-offered.png", full_page=True)

    # Undo: v1 takes its traffic back
    asked = answer(page, accept=True)
    page.click("#rollout button.undo")
    expect(state).to_have_text("completed · undone", timeout=WAIT_MS)
    assert "Return the service to the version before this rollout?" in asked[0]
    row = page.locator('#instances tr[data-instance="v1-a"]')
    expect(row.locator(".share-value")).to_have_text("100%")
    expect(page.locator("#rollout .actions")).to_have_count(0)
    entries = weir.history()
    assert entries[-3]["event"]["kind"] == "rollout_undone"
    assert entries[-3]["actor"] == "local-admin"
    assert entries[-3]["reason"].endswith("from the dashboard")


def test_the_apis_refusal_is_shown_as_it_gave_it(weir: WeirServer, browser: BrowserContext) -> None:
    # The page as it was a moment ago (running), while the rollout has since been paused
    with (
        httpx.Client(base_url=weir.api_url, headers=weir.headers, timeout=10.0) as http,
        http.stream("GET", "/v1/dashboard/stream") as stream,
    ):
        frame = next(stream.iter_text())
    weir.call("POST", f"/v1/rollouts/{SERVICE}/pause", {})
    page = browser.new_page()
    signed_in(page, weir)

    def then(route: Route) -> None:  # the earlier frame, and nothing after it
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=frame)

    page.route("**/v1/dashboard/stream*", then)
    page.goto(weir.api_url + "/")
    expect(page.locator("#rollout .rollout-head > .badge")).to_have_text("running")

    answer(page, accept=True)
    page.click("#rollout button.pause")

    result = page.locator("#action-result")
    expect(result).to_have_text("Pause refused: rollout web/1 is already paused", timeout=WAIT_MS)
    expect(result).to_have_class("action-result refused")


def test_a_viewer_sees_no_action(weir: WeirServer, browser: BrowserContext) -> None:
    viewer = weir.call("POST", "/v1/tokens", {"name": "wall", "role": "viewer"}, expect=201)
    page = browser.new_page()
    page.add_init_script(f"localStorage.setItem({TOKEN_KEY!r}, {json.dumps(viewer['token'])})")

    page.goto(weir.api_url + "/")

    expect(page.locator("#rollout .step-count")).to_have_text("Step 1 of 2", timeout=WAIT_MS)
    expect(page.locator("#rollout .actions")).to_have_count(0)
    expect(page.locator("#rollout button")).to_have_count(0)
