"""The API's reference at /docs renders in Chromium from weir's own assets: nothing is fetched
from anywhere else (the page works offline), and the schema's operations are listed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Route, expect

from tests.integration._weir import WeirServer

pytestmark = pytest.mark.timeout(60)
WAIT_MS = 15_000


def test_the_api_reference_renders_offline(browser: BrowserContext, tmp_path: Path) -> None:
    with WeirServer(tmp_path, options=("--stats", "off")) as weir:
        own = urlsplit(weir.api_url).netloc
        elsewhere: list[str] = []

        def offline(route: Route) -> None:  # only weir answers; anything else is recorded
            if urlsplit(route.request.url).netloc == own:
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        page = browser.new_page()
        page.route("**/*", offline)

        # When an operator opens the dashboard's "HTTP API" link
        page.goto(weir.api_url + "/")
        href = page.locator("a", has_text="HTTP API").get_attribute("href")
        page.goto(weir.api_url + "/" + (href or ""))

        # Then Swagger UI lists the API's operations, and asked nothing of another host
        expect(page.locator(".opblock-summary-path", has_text="/v1/rollouts")).not_to_have_count(
            0, timeout=WAIT_MS
        )
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("weir")
        page.screenshot(path=tmp_path / "docs.png")
        assert elsewhere == []
