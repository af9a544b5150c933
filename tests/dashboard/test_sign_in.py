"""The dashboard's sign-in: without a token the page asks for one and shows no data; a refused
token is said so; a viewer token shows the services, kept in localStorage, never in the URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.dashboard.conftest import TOKEN_KEY
from tests.integration._weir import WeirServer

pytestmark = pytest.mark.timeout(60)
WAIT_MS = 10_000


def test_the_page_asks_for_a_token_and_keeps_it_out_of_the_url(
    browser: BrowserContext, tmp_path: Path
) -> None:
    with WeirServer(tmp_path, options=("--stats", "off")) as weir:
        weir.service("web")
        viewer = weir.call("POST", "/v1/tokens", {"name": "wall", "role": "viewer"}, expect=201)
        page = browser.new_page()

        # Given no token: the sign-in form, and no service on the page
        page.goto(weir.api_url + "/")
        expect(page.locator("#signin")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#main")).to_be_hidden()
        expect(page.locator("#services")).to_be_empty()

        # When a wrong token is given: refused, and said so
        page.fill("#token", "weir_wrong")
        page.click("#signin button[type=submit]")
        expect(page.locator("#signin-why")).to_contain_text("refused", timeout=WAIT_MS)

        # When the viewer token is given: the service shows, the token stays out of the URL
        page.fill("#token", viewer["token"])
        page.click("#signin button[type=submit]")
        expect(page.locator("#services")).to_contain_text("web", timeout=WAIT_MS)
        expect(page.locator("#signin")).to_be_hidden()
        assert viewer["token"] not in page.url
        assert page.evaluate(f"localStorage.getItem({TOKEN_KEY!r})") == viewer["token"]

        # And a new page of the same origin is signed in already; sign out forgets the token
        again = browser.new_page()
        again.goto(weir.api_url + "/")
        expect(again.locator("#services")).to_contain_text("web", timeout=WAIT_MS)
        again.click("#signout")
        expect(again.locator("#signin")).to_be_visible()
        assert again.evaluate(f"localStorage.getItem({TOKEN_KEY!r})") is None
