"""What the dashboard shows beside the rollout, in Chromium against a real weir and a real
Envoy under load: charts with time axes that read out values under the cursor, the proxies
and their sync state, a phone layout that keeps the key columns in view, and one stream per
page instead of a poll."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Request, ViewportSize, expect

from controlplane.harness import SteadyLoad
from tests.conftest import StartEnvoy
from tests.dashboard.conftest import SERVICE, signed_in
from tests.dashboard.test_live_rollout import mesh
from tests.integration._weir import WeirServer
from tests.support import eventually

pytestmark = pytest.mark.timeout(90)
WAIT_MS = 15_000
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def loaded(judged: WeirServer, start_envoy: StartEnvoy) -> Iterator[WeirServer]:
    """v1-a and v1-b live behind a real Envoy (node proxy-1), v2-a registered, under load."""
    with ExitStack() as stack:
        url = mesh(judged, start_envoy, stack)
        stack.enter_context(SteadyLoad(url, SERVICE, rps=100))
        yield judged


def open_page(browser: BrowserContext, weir: WeirServer, requests: list[str]) -> Page:
    page = browser.new_page()
    page.on("request", lambda request: requests.append(_path(request, weir.api_url)))
    signed_in(page, weir)
    page.goto(weir.api_url + "/")
    return page


def _path(request: Request, base: str) -> str:
    return request.url.removeprefix(base)


def test_charts_have_time_axes_and_read_out_values_under_the_cursor(
    loaded: WeirServer, browser: BrowserContext, tmp_path: Path
) -> None:
    page = open_page(browser, loaded, [])
    success = page.locator("#charts svg[data-test=success]")
    expect(success.locator("path.line")).to_have_count(2, timeout=WAIT_MS)

    # a time axis (clock times) and a value axis (percentages), and the SLO as a line; the
    # charts are redrawn every second, so each reading is of one drawing, retried across two
    def axes() -> None:
        times = success.locator("text.tick.x").all_text_contents()
        assert times and all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", t) for t in times), times
        values = success.locator("text.tick.y").all_text_contents()
        assert values and all(v.endswith("%") for v in values), values
        latency = page.locator("#charts svg[data-test=latency] text.tick.y").all_text_contents()
        assert latency and all(v.endswith("ms") for v in latency), latency

    eventually(axes, timeout=10, interval=0.2)
    expect(success.locator("line.ref")).to_have_count(1)

    # hovering reads out each instance's value at that moment
    page.locator("#charts").scroll_into_view_if_needed()
    tip = page.locator("#charts .tip").first

    def hovered() -> None:
        box = success.bounding_box()
        assert box is not None
        page.mouse.move(0, 0)  # (a move to where the cursor is already moves nothing)
        page.mouse.move(box["x"] + box["width"] * 0.97, box["y"] + box["height"] / 2)
        expect(tip).to_be_visible(timeout=2000)
        expect(tip).to_contain_text(re.compile(r"v1-a: 100%"), timeout=1000)
        expect(tip).to_contain_text(re.compile(r"v1-b: 100%"), timeout=1000)
        expect(tip).to_contain_text(re.compile(r"^\d\d:\d\d:\d\d"), timeout=1000)

    eventually(hovered, timeout=15, interval=0.2)
    page.screenshot(path=tmp_path / "dashboard-chart-hover.png", full_page=True)
    page.mouse.move(0, 0)
    expect(tip).to_be_hidden()


def test_the_proxies_view_shows_each_envoy_in_sync(
    loaded: WeirServer, browser: BrowserContext
) -> None:
    page = open_page(browser, loaded, [])

    row = page.locator('#proxies tr[data-node="proxy-1"]')
    expect(row).to_contain_text("test · sotw", timeout=WAIT_MS)  # its cluster and protocol
    expect(row.locator("td.sync .badge")).to_have_text("current")
    expect(row.locator("td.nacks")).to_have_text("0")


def test_on_a_phone_the_share_success_and_p99_columns_stay_in_view(
    loaded: WeirServer, browser: BrowserContext, tmp_path: Path
) -> None:
    page = open_page(browser, loaded, [])
    page.set_viewport_size(PHONE)
    row = page.locator('#instances tr[data-instance="v1-a"]')
    expect(row.locator("td.success")).to_contain_text("%", timeout=WAIT_MS)

    for cell in ("td.id", ".share-value", "td.success", "td.p99"):
        # (each second's figures redraw the row: a box is measured on the row then shown)
        def in_view(cell: str = cell) -> None:
            box = row.locator(cell).bounding_box()
            assert box is not None, cell
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (cell, box)

        eventually(in_view, timeout=5, interval=0.1)
    expect(row.locator("td.version")).to_be_hidden()  # room is made by what matters least
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=tmp_path / "dashboard-phone.png", full_page=True)


def test_one_stream_per_page_instead_of_a_poll(loaded: WeirServer, browser: BrowserContext) -> None:
    requests: list[str] = []
    page = open_page(browser, loaded, requests)
    expect(page.locator("#status-text")).to_contain_text("live", timeout=WAIT_MS)
    loaded_at = len(requests)

    time.sleep(6)  # the charts and figures move every second meanwhile
    expect(page.locator('#instances tr[data-instance="v1-a"] td.success')).to_contain_text("%")

    assert [r for r in requests if r.startswith("/v1/")] == ["/v1/dashboard/stream"]
    assert len(requests) == loaded_at  # nothing asked since the page loaded


def test_the_page_reconnects_when_the_server_comes_back(
    judged: WeirServer, browser: BrowserContext
) -> None:
    page = open_page(browser, judged, [])
    status = page.locator("#status-text")
    expect(status).to_contain_text("live", timeout=WAIT_MS)

    judged.stop()
    expect(status).to_have_text("disconnected · reconnecting", timeout=WAIT_MS)
    expect(page.locator("#banner")).to_contain_text("Showing the last answer")
    judged.start()

    expect(status).to_contain_text("live · ledger #", timeout=WAIT_MS)
    expect(page.locator("#banner")).to_be_hidden()
