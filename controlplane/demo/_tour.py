"""`weir demo`: the whole story on one machine, with real Envoy and real verdicts.

It runs what an operator would: `weir serve`, a service file, immutable instances of three
versions, a front-proxy Envoy configured only over ADS, and steady traffic through it. A canary
of the healthy v2 runs to completion; a canary of v3, which fails some of its requests, is
judged from Envoy's stats and rolled back by the evaluator; a canary of v4, which answers 200
but takes fewer orders, is rolled back on the service's business objective; and v5, which takes
more, is recorded as an improvement with its value. Every step shows the command and
what the data plane did. Everything it starts, it stops.

The processes, ports and traffic are `controlplane.harness`'s, as the tests' and benchmarks'
are; the commands run through the `weir` callable the CLI passes in, so this module does not
import the CLI that imports it.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
import httpx

from controlplane.auth import forget_local_token
from controlplane.bootstrap import render_bootstrap
from controlplane.harness import EnvoyProcess, SteadyLoad, Upstream, WeirProcess, free_port

SERVICE = "checkout"
SAMPLE = 400
RPS = 300
ROLLOUT_TIMEOUT_S = 75.0
ENDED = ("completed", "rolled_back", "aborted")

# A loose SLO keeps the demo short: a healthy step passes once its 5xx rate is, with 99%
# confidence, under half the budget — a few hundred requests at 98%, thousands at 99.9%.
SERVICE_FILE = f"""\
name: {SERVICE}
domains: [{SERVICE}.internal]
slo:
  success_rate: 98
  latency_p99_ms: 500
risk:
  cost_per_failed_request: 0.05
rollout:
  strategy: canary
  steps: [20, 50, 100]
  bake: 2s
  grace: 5s
"""

OBJECTIVES = """\
objectives:                 # each answer says whether it took an order: x-weir-outcome: order=1
  - name: orders
    kind: ratio
    better: higher
    value_per_unit: 4       # the margin on one order
    tolerance: 10%           # the smallest loss of orders that matters (a pass needs data)
    source: {header: order}
"""
"""Appended to the service file before v4: what the business measures, and what it is worth."""

ERROR_STATUS = 500
"""What a failing instance answers."""
INSTANCES = (  # id, version, share of requests answered ERROR_STATUS
    ("checkout-v1-a", "v1", 0.0),
    ("checkout-v1-b", "v1", 0.0),
    ("checkout-v2-a", "v2", 0.0),
    ("checkout-v3-a", "v3", 0.3),
)
OBJECTIVE_INSTANCES = (  # the business-objective part of the story (not in docker compose)
    ("checkout-v4-a", "v4", 0.0),
    ("checkout-v5-a", "v5", 0.0),
)
ORDER_RATES = {"v1": 0.5, "v2": 0.5, "v3": 0.5, "v4": 0.35, "v5": 0.65}
"""Share of answers that take an order: v4 silently loses 30% of them, v5 wins 30% more."""

Say = Callable[[str], None]
Weir = Callable[[Sequence[str]], None]
"""Runs one `weir` command line (its arguments, without `weir`), as an operator would type it:
the CLI hands the tour its own entry point, so the tour need not import the CLI."""


class _Tour:
    def __init__(
        self,
        weir: Weir,
        api_url: str,
        listener: str,
        say: Say,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.weir = weir
        self.api_url = api_url
        self.listener = listener
        self.say = say
        self.http = httpx.Client(timeout=5.0, trust_env=False)
        self.api_headers = headers or {}
        self.token = self.api_headers.get("Authorization", "").removeprefix("Bearer ") or None

    def run(self, *args: str) -> None:
        """Show a weir command, then run it against this tour's server, as typed."""
        self.say(click.style("$ weir " + " ".join(args), fg="cyan", bold=True))
        token = ["--token", self.token] if self.token else []
        self.weir(["--server", self.api_url, *token, *args])

    def traffic(self, note: str) -> None:
        """Send SAMPLE requests through Envoy and draw who answered them."""
        answered: Counter[str] = Counter()
        for _ in range(SAMPLE):
            response = self.http.get(self.listener, headers={"Host": SERVICE})
            ok = response.status_code == 200
            answered[response.text if ok else f"HTTP {response.status_code}"] += 1
        self.say(f"  {SAMPLE} requests through Envoy {note}:")
        for name, count in sorted(answered.items()):
            bar = "█" * round(40 * count / SAMPLE)
            self.say(f"    {name:<14} {bar:<40} {100 * count / SAMPLE:5.1f}%")

    def wait_for(self, instance: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            response = self.http.get(self.listener, headers={"Host": SERVICE})
            if response.status_code == 200 and response.text == instance:
                return
            time.sleep(0.01)

    def follow_rollout(self) -> dict[str, Any]:
        """Print each step, share and verdict of the running rollout until it ends."""
        shown = ""
        deadline = time.monotonic() + ROLLOUT_TIMEOUT_S
        while True:
            status: dict[str, Any] = self.http.get(
                f"{self.api_url}/v1/rollouts/{SERVICE}", headers=self.api_headers
            ).json()
            line = _progress(status)
            if line != shown:
                self.say(f"  {time.strftime('%H:%M:%S')}  {line}")
                shown = line
            if status["state"] in ENDED or time.monotonic() > deadline:
                return status
            time.sleep(0.25)


def _progress(status: dict[str, Any]) -> str:
    share = status["new_version_share"]
    bar = "#" * round(20 * share) + "." * (20 - round(20 * share))
    label = f" ({status['step_label']})" if status["step_label"] else ""
    step = f"step {status['step']}/{status['steps']}{label}"
    line = f"{step} [{bar}] {share:5.1%} on {status['version']}"
    decided = [v for v in status["verdicts"] if v["verdict"] in ("pass", "fail", "improvement")]
    if decided:
        line += f" — verdict {decided[-1]['verdict']}"
    if status["state"] != "running":
        line += f" — {status['state'].replace('_', ' ')}"
    return line


def run_tour(weir: Weir, *, keep: bool = False, say: Say = click.echo) -> None:
    """Tell the whole story, running each of its commands with `weir`; stop what it started."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-demo-")))
        say(click.style("weir demo", bold=True) + f" — working in {workdir}\n")
        server = stack.enter_context(WeirProcess(workdir, options=("--stats", "push")))
        # The demo's ledger is temporary: so is the admin token `weir serve` saved for it.
        stack.callback(forget_local_token, server.api_url, server.token)
        where = f"API {server.api_url}, xDS {server.xds}, ledger {server.store}"
        say(f"controller: `weir serve` — {where}")
        upstreams = {
            instance_id: stack.enter_context(
                Upstream(
                    instance_id,
                    error_rate=error_rate,
                    error_status=ERROR_STATUS,
                    seed=11,
                    order_rate=ORDER_RATES[version],
                )
            )
            for instance_id, version, error_rate in INSTANCES + OBJECTIVE_INSTANCES
        }
        say("instances:  two of v1 and one of v2, healthy; v3 fails 30% of its requests;")
        say("            v4 answers 200 but loses 30% of the orders; v5 wins 30% more")
        listen = f"127.0.0.1:{free_port()}"
        bootstrap = render_bootstrap(
            "demo-front", "front", xds=server.xds, listen=listen, admin=f"127.0.0.1:{free_port()}"
        )
        stack.enter_context(EnvoyProcess(bootstrap, workdir, name="envoy"))
        say(f"data plane: a front-proxy Envoy, configured only over ADS, listening on {listen}")
        say(f"dashboard:  {server.api_url}/\n")

        tour = _Tour(weir, server.api_url, f"http://{listen}/", say, server.headers)
        service_file = workdir / "checkout.yaml"
        service_file.write_text(SERVICE_FILE)
        say("1. A service with its SLO and the cost of a failure; one immutable instance each.")
        tour.run("apply", "-f", str(service_file))
        for instance_id, version, _ in INSTANCES + OBJECTIVE_INSTANCES:
            address = upstreams[instance_id].address
            tour.run("instance", "add", SERVICE, "--id", instance_id, "--version", version,
                     "--address", address)  # fmt: skip
        say("\n2. v1 goes live on two instances; steady traffic starts through Envoy.")
        tour.run("instance", "activate", "checkout-v1-a", "--live", "--weight", "50")
        tour.run("instance", "activate", "checkout-v1-b", "--live", "--weight", "50")
        tour.wait_for("checkout-v1-b")
        tour.traffic("with v1 live")
        load = stack.enter_context(
            SteadyLoad(tour.listener, SERVICE, rps=RPS, max_seconds=4 * ROLLOUT_TIMEOUT_S)
        )
        say(f"  (and {RPS} requests a second keep flowing in the background)")

        say("\n3. A canary of v2: each step is one measured change, judged from Envoy's stats.")
        tour.run("rollout", "start", SERVICE, "--version", "v2")
        tour.follow_rollout()
        tour.traffic("after the v2 canary")

        say("\n4. A canary of v3, which fails 30% of its requests. The evaluator sees it and rolls")
        say("   it back: one instance deactivated, and the rollout returns everything it touched.")
        tour.run("rollout", "start", SERVICE, "--version", "v3")
        tour.follow_rollout()
        tour.traffic("after the v3 rollback")

        say("\n5. What the business measures: each answer reports whether it took an order")
        say("   (x-weir-outcome: order=1); Envoy logs it to weir and strips it from the answer.")
        service_file.write_text(SERVICE_FILE + OBJECTIVES)
        tour.run("apply", "-f", str(service_file))
        say("   A canary of v4: every answer is 200 OK, but it takes 30% fewer orders. The 5xx")
        say("   tests see nothing; the objective orders/request does, and v4 is rolled back.")
        tour.run("rollout", "start", SERVICE, "--version", "v4")
        tour.follow_rollout()

        say("\n6. A canary of v5, which raises conversion: recorded as an improvement, with its")
        say("   value in money per hour.")
        tour.run("rollout", "start", SERVICE, "--version", "v5")
        tour.follow_rollout()
        tour.traffic("after the v5 canary")

        say("\n7. The ledger: every change, who made it, its verdict, its value and what it cost.")
        tour.run("history", SERVICE)
        say("")
        tour.run("budget", SERVICE)
        say("")
        tour.run("proxies")
        failed = load.outcomes.total() - load.outcomes["200"]
        say(f"\nsteady traffic: {load.total} requests, {failed} failed (v3's answers while judged)")
        say(f"dashboard: {server.api_url}/")
        if keep:
            say("\n--keep: everything stays up; press Ctrl-C to stop it all.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        say("\nEverything the demo started is stopping now.")
