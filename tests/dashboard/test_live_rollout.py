"""The dashboard in a real browser during a real canary: weir serve, a real Envoy, upstreams and
steady load. What is asserted is what a person watching the page would see."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, Response, expect

from controlplane.harness import SteadyLoad, Upstream
from tests.conftest import StartEnvoy
from tests.dashboard.conftest import SERVICE, signed_in
from tests.integration._mesh import connect_envoy, serves
from tests.integration._weir import WeirServer

pytestmark = pytest.mark.timeout(60)

RPS = 300
CANARY = {"strategy": "canary", "steps": [10, 50, 100], "bake": "2s", "grace": "0s"}
WATCH_S = 40.0
WATCH_EVERY_S = 0.2

# What a person reads off the page, gathered in one go.
READ_PAGE = """() => ({
  step: document.querySelector('#rollout .step-count')?.innerText ?? '',
  state: document.querySelector('#rollout .rollout-head > .badge')?.innerText ?? '',
  shares: Object.fromEntries([...document.querySelectorAll('#instances tr[data-instance]')]
    .map(row => [row.dataset.instance, row.querySelector('.share-value').innerText])),
})"""


@dataclass(frozen=True, slots=True)
class Seen:
    step: str
    state: str
    shares: dict[str, str]


def percent(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)%", text.strip())
    assert match, f"not a percentage: {text!r}"
    return float(match.group(1))


def mesh(
    weir: WeirServer, start_envoy: StartEnvoy, stack: ExitStack, *, v2_error_rate: float = 0.0
) -> str:
    """v1-a and v1-b live half and half, v2-a registered; an Envoy; returns its URL."""
    for instance_id, version, error_rate in (
        ("v1-a", "v1", 0.0),
        ("v1-b", "v1", 0.0),
        ("v2-a", "v2", v2_error_rate),
    ):
        upstream = stack.enter_context(
            Upstream(instance_id, error_rate=error_rate, error_status=500, seed=3)
        )
        weir.instance(SERVICE, instance_id, upstream.address, version=version)
    weir.live("v1-a", 50)
    weir.live("v1-b", 50)
    _, url = connect_envoy(weir, start_envoy, "proxy-1", delta=False)
    serves(url, "v1-a", "v1-b")
    return url


# The API's answer while a service has had no rollout; the browser logs it as a failed load.
NO_ROLLOUT = f"404 /v1/rollouts/{SERVICE}"


@pytest.fixture
def page(browser: BrowserContext, judged: WeirServer) -> Iterator[Page]:
    """The dashboard, with a record of every request it makes and every error it logs."""
    page = browser.new_page()
    requests: list[str] = []
    refused: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(_url(request)))
    page.on("response", lambda response: _refused(response, judged.api_url, refused))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: _console(message, errors))
    signed_in(page, judged)
    page.goto(judged.api_url + "/")
    yield page
    # the page fetched nothing but from weir, everything it asked for was there (but the
    # rollout before there was one), and it logged no error
    outside = [url for url in requests if not url.startswith(judged.api_url + "/")]
    assert not outside, outside
    assert set(refused) <= {NO_ROLLOUT}, refused
    assert not errors, errors


def _url(request: Request) -> str:
    return request.url


def _refused(response: Response, base: str, refused: list[str]) -> None:
    if response.status >= 400:
        refused.append(f"{response.status} {response.url.removeprefix(base)}")


def _console(message: ConsoleMessage, errors: list[str]) -> None:
    # a refused load is logged too; _refused has it, with its URL
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)


def read(page: Page) -> Seen:
    reading: dict[str, Any] = page.evaluate(READ_PAGE)
    return Seen(reading["step"], reading["state"], reading["shares"])


def watch(
    page: Page, seen: list[Seen], *, until: str, screenshot: tuple[str, Path] | None = None
) -> None:
    """Read the page every WATCH_EVERY_S until the rollout's state reads `until` (bounded),
    adding each new reading to `seen`; `screenshot` (step, path): take one the first time the
    step reads so."""
    deadline = time.monotonic() + WATCH_S
    for _ in range(int(WATCH_S / WATCH_EVERY_S)):
        now = read(page)
        if screenshot and now.step == screenshot[0] and not screenshot[1].exists():
            page.screenshot(path=screenshot[1], full_page=True)
        if not seen or seen[-1] != now:
            seen.append(now)
        if now.state == until or time.monotonic() > deadline:
            break
        page.wait_for_timeout(WATCH_EVERY_S * 1000)


def test_the_dashboard_shows_a_canary_advance_to_completion(
    judged: WeirServer, start_envoy: StartEnvoy, page: Page, tmp_path: Path
) -> None:
    rollout = page.locator("#rollout")
    instances = page.locator("#instances")

    def row(instance_id: str) -> Any:
        return instances.locator(f'tr[data-instance="{instance_id}"]')

    with ExitStack() as stack:
        url = mesh(judged, start_envoy, stack)
        with SteadyLoad(url, SERVICE, rps=RPS) as load:
            # Given: the page shows v1 sharing the traffic and v2 waiting, and no rollout yet
            expect(page.locator("#services .service")).to_contain_text(["web"])
            expect(row("v1-a").locator(".share-value")).to_have_text("50%")
            expect(row("v1-b").locator(".share-value")).to_have_text("50%")
            expect(row("v2-a")).to_contain_text("inactive")
            expect(row("v2-a").locator(".share-value")).to_have_text("0%")
            expect(rollout).to_contain_text("No rollout of web yet")
            # and charts of the live instances' success rate fill in from Envoy's stats
            success = page.locator("#charts svg[data-test=success]")
            expect(success.locator("path.line")).to_have_count(2, timeout=10_000)
            expect(row("v1-a").locator("td.success")).to_have_text(
                re.compile(r"^100%\s*\d+ req/s$")
            )

            # When: a canary of v2 runs
            seen = [read(page)]
            judged.call("POST", "/v1/rollouts", {"service": SERVICE, "version": "v2", **CANARY})
            mid = tmp_path / "dashboard-canary.png"
            watch(page, seen, until="completed", screenshot=("Step 2 of 3", mid))
            end = tmp_path / "dashboard-completed.png"
            page.screenshot(path=end, full_page=True)
        assert set(load.outcomes) == {"200"}, load.outcomes

    # Then: the page followed the canary step by step to completion
    assert seen[-1].state == "completed", seen[-1]
    steps = [s.step for s in seen if s.step.startswith("Step")]
    numbers = [int(s.split()[1]) for s in steps]
    assert numbers == sorted(numbers) and {1, 2, 3} <= set(numbers), steps
    # v2-a's share rose from nothing through the canary's steps to all the traffic
    shares = [percent(s.shares["v2-a"]) for s in seen if "v2-a" in s.shares]
    assert shares == sorted(shares), shares
    assert shares[0] == 0.0 and shares[-1] == 100.0, shares
    assert any(0 < share < 50 for share in shares), shares  # the 10% step
    assert any(share == 50 for share in shares), shares  # the 50% step
    # the old instances left, and the page says so
    expect(row("v1-a")).to_have_count(0)
    expect(instances).to_contain_text("2 retired instances not shown")
    expect(row("v2-a")).to_contain_text("live")
    expect(rollout.locator(".rollout-head > .badge")).to_have_text("completed")
    expect(rollout.locator("[data-test=new-share]")).to_have_text("100%")
    expect(rollout.locator(".steps .badge.good").first).to_have_text("pass")
    # the history shows the verdicts and their cost, newest first
    history = page.locator("#history .timeline > li")
    expect(history.first).to_contain_text("completed")
    expect(page.locator("#history .verdict .badge.good").first).to_have_text("pass")
    expect(page.locator("#history .verdict").first).to_contain_text("cost")
    # the error budget and its burn rates
    expect(page.locator("#budget")).to_contain_text("SLO: 95% of requests succeed")
    expect(page.locator("#budget [data-test=budget-left]")).to_contain_text("left")
    expect(page.locator("#budget table.burn tbody tr")).to_have_count(3)
    assert mid.stat().st_size > 0 and end.stat().st_size > 0
    print(f"screenshots: {mid} {end}")


def test_the_dashboard_shows_a_failing_canary_rolled_back_with_its_cost(
    judged: WeirServer, start_envoy: StartEnvoy, page: Page, tmp_path: Path
) -> None:
    rollout = page.locator("#rollout")
    v2 = page.locator('#instances tr[data-instance="v2-a"]')

    with ExitStack() as stack:
        url = mesh(judged, start_envoy, stack, v2_error_rate=0.3)
        with SteadyLoad(url, SERVICE, rps=RPS):
            # Given: the page shows v1 serving all the traffic
            expect(v2.locator(".share-value")).to_have_text("0%")
            # When: a canary of a version that fails 30% of its requests runs
            seen = [read(page)]
            judged.call("POST", "/v1/rollouts", {"service": SERVICE, "version": "v2", **CANARY})
            shot = tmp_path / "dashboard-rolled-back.png"
            watch(page, seen, until="rolled back")
            page.screenshot(path=shot, full_page=True)

    # Then: v2-a got its canary share, failed its verdict and lost the traffic again
    assert seen[-1].state == "rolled back", seen[-1]
    assert seen[-1].shares["v2-a"] == "0%", seen[-1]
    expect(rollout.locator(".rollout-head > .badge")).to_have_text("rolled back")
    expect(rollout.locator(".step-bar .segment.failed")).to_have_count(1)
    expect(rollout.locator(".steps .badge.bad").first).to_have_text("fail")
    expect(v2).to_contain_text("inactive")
    # its success rate over the last minute reads far below the SLO, in red
    expect(v2.locator("td.success .bad-text").first).to_have_text(re.compile(r"^[5-8]\d\.\d%$"))
    # the history names the change, its failed verdict and what it cost, and the rollback
    history = page.locator("#history .timeline > li")
    change = history.filter(has_text="v2-a: inactive → live weight 100")
    expect(change.locator(".verdict .badge")).to_have_text("fail")
    expect(change.locator(".verdict .cost")).to_have_text(re.compile(r"^cost \d+\.\d\d$"))
    expect(history.filter(has_text="v2-a: live weight 100 → inactive")).to_contain_text(
        "by evaluator"
    )
    # (the rollback's entry, then the old instances' weights restored from the 10% step's scale)
    expect(page.locator("#history li.kind-rollout_finished").first).to_contain_text("rolled back")
    expect(history.first).to_contain_text("back to live weight 50, as before it")
    print(f"screenshot: {shot}")
