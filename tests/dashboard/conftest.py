"""A headless Chromium from Debian's package, driven by Playwright, and a judged `weir serve`.

Never `playwright install`: no browser is downloaded. `.ci/run` installs Debian's chromium where
it is missing, so these tests fail rather than skip without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, ViewportSize, sync_playwright

from controlplane.harness import WeirProcess
from tests.integration._weir import WeirServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: ViewportSize = {"width": 1440, "height": 1000}
SERVICE = "web"
# Loose, so a healthy version passes each step within seconds at test traffic.
SLO = {"success_rate": 95, "latency_p99_ms": 1000}
RISK = {"cost_per_failed_request": 0.05}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh Chromium profile in tmp_path; closed after the test."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=CHROMIUM,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport=VIEWPORT,
            timezone_id="UTC",
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def judged(tmp_path: Path) -> Iterator[WeirServer]:
    """`weir serve` judging changes from the stats its Envoys push, with service `web`."""
    with WeirServer(tmp_path, options=("--stats", "push")) as server:
        server.service(SERVICE, slo=SLO, risk=RISK)
        yield server


TOKEN_KEY = "weir-token"
"""Where the dashboard keeps the token it was given (its sign-in form puts it there)."""


def signed_in(page: Page, server: WeirProcess) -> None:
    """Open pages as a user who has signed in before: the admin token in localStorage."""
    assert server.token is not None
    page.add_init_script(f"localStorage.setItem({TOKEN_KEY!r}, {json.dumps(server.token)})")
