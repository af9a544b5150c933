"""The dashboard shows a compared change's differences: per endpoint and field, the candidate's
difference rate against the old instances' own, with examples, under the verdict."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from playwright.sync_api import BrowserContext, expect

from controlplane.harness import SteadyLoad, Upstream
from tests.compare._answers import answers
from tests.conftest import StartEnvoy
from tests.dashboard.conftest import SERVICE, signed_in
from tests.integration._mesh import connect_envoy
from tests.integration._weir import WeirServer
from tests.support import eventually

pytestmark = pytest.mark.timeout(90)
WAIT_MS = 15_000


def test_a_failed_comparison_shows_the_field_and_its_examples(
    browser: BrowserContext, judged: WeirServer, start_envoy: StartEnvoy
) -> None:
    judged.service(SERVICE, compare={})
    with ExitStack() as stack:
        for name in ("old-a", "old-b"):
            upstream = stack.enter_context(Upstream(name, answer=answers()))
            judged.instance(SERVICE, name, upstream.address)
            judged.live(name, 50)
        bad = stack.enter_context(Upstream("bad", answer=answers(changed_price_every=5)))
        judged.instance(SERVICE, "bad", bad.address, version="v2")
        _, url = connect_envoy(judged, start_envoy, "proxy-1", delta=False)
        # Given a candidate that changes the price of one answer in five, compared under load
        with SteadyLoad(url, SERVICE, rps=100):

            def routed() -> None:
                assert judged.call("GET", "/v1/proxies"), "no proxy yet"

            eventually(routed, timeout=15)
            judged.shadow("bad", 100)

            def failed() -> None:
                instances = judged.call("GET", "/v1/instances")
                [now] = [i for i in instances if i["instance"]["id"] == "bad"]
                assert now["activation"]["state"] == "inactive"

            eventually(failed, timeout=60, interval=0.2)

    # When the dashboard is opened
    page = browser.new_page()
    signed_in(page, judged)
    page.goto(judged.api_url + f"/#{SERVICE}")

    # Then the failed verdict shows $.price failing, beside the noise the old instances share
    differences = page.locator("#history details.differences[open]")
    expect(differences).to_be_visible(timeout=WAIT_MS)
    expect(differences.locator(".endpoint-name")).to_contain_text("GET prefix /")
    price = differences.locator('tr[data-field="$.price"]')
    expect(price).to_have_class("failed")
    expect(price.locator("td").nth(2)).to_have_text("0.0%")
    expect(differences.locator('tr[data-field="$.at"] td').nth(1)).to_have_text("100.0%")
    expect(differences.locator('tr[data-field="$.at"] td').nth(2)).to_have_text("100.0%")
    # with an example of the two values
    expect(differences.locator(".example").first).to_contain_text("GET / $.price: old 10 → new 12")
