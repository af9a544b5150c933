"""How many requests one open dashboard tab makes of weir, per second, once it has loaded.

A real `weir serve` (a child process, free ports) with a service whose canary is in progress
(so every part of the page has something to show and keeps changing), and the page open in
Debian's headless Chromium (/usr/bin/chromium, driven by Playwright, nothing downloaded).
Every request the page makes after it first shows data is counted for --seconds.

    python -m bench.dashboard_requests
    git show main:controlplane/dashboard/static/dashboard.js > /tmp/before.js
    python -m bench.dashboard_requests --script /tmp/before.js   # the same page, another script

With --script, both run in the same process tree, one after the other, against one server,
and the ratio is printed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from playwright.sync_api import Route, sync_playwright

from controlplane.harness import WeirProcess

CHROMIUM = Path("/usr/bin/chromium")
SERVICE = "web"


def _prepare(weir: WeirProcess) -> None:
    import httpx

    with httpx.Client(base_url=weir.api_url, headers=weir.headers, trust_env=False) as http:
        rollout = {"steps": [50, 100], "bake": "1h"}
        http.put(f"/v1/services/{SERVICE}", json={"name": SERVICE, "rollout": rollout})
        for instance_id, version, port in (("web-v1", "v1", 9001), ("web-v2", "v2", 9002)):
            body = {"id": instance_id, "service": SERVICE, "version": version,
                    "address": f"127.0.0.1:{port}"}  # fmt: skip
            http.post("/v1/instances", json=body).raise_for_status()
        http.post("/v1/instances/web-v1/activation", json={"state": "live", "weight": 1})
        http.post("/v1/rollouts", json={"service": SERVICE, "version": "v2"}).raise_for_status()


def requests_per_second(weir: WeirProcess, seconds: float, script: Path | None) -> float:
    """Requests per second one tab makes of the server once it shows data."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            counted: list[float] = []
            page.on("request", lambda request: counted.append(time.monotonic()))
            if script is not None:
                body = script.read_text()

                def other(route: Route) -> None:
                    route.fulfill(status=200, content_type="text/javascript", body=body)

                page.route("**/dashboard/dashboard.js", other)
            token = json.dumps(weir.token)
            page.add_init_script(f"localStorage.setItem('weir-token', {token})")
            page.goto(weir.api_url + "/")
            page.wait_for_selector("#rollout .step-count", timeout=15_000)
            start = time.monotonic()
            page.wait_for_timeout(seconds * 1000)
            made = [at for at in counted if at >= start]
            return len(made) / seconds
        finally:
            browser.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--script", type=Path, help="another dashboard.js to compare with")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="weir-bench-") as scratch,
        WeirProcess(Path(scratch), options=("--stats", "pull")) as weir,
    ):
        _prepare(weir)
        now = requests_per_second(weir, args.seconds, None)
        print(f"this dashboard: {now:.2f} requests/s per tab over {args.seconds:g} s")
        if args.script is not None:
            other = requests_per_second(weir, args.seconds, args.script)
            print(f"{args.script}: {other:.2f} requests/s per tab over {args.seconds:g} s")
            ratio = f"{now / other:.3f}x" if other else "-"
            print(f"ratio (this / {args.script.name}): {ratio}")


if __name__ == "__main__":
    main()
