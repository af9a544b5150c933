"""`weir demo`: the whole story on one machine, with a real Envoy.

The tour runs what an operator would: `weir serve`, a service file, instances registered and
activated with the CLI, and traffic through a real Envoy, so every step shows both the command
and what the data plane then does. Everything it starts, it stops.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import click
import httpx

from controlplane.bootstrap import render_bootstrap
from controlplane.demo._envoy import EnvoyProcess
from controlplane.demo._upstream import Upstream
from controlplane.demo._weir_process import WeirProcess, free_port

SERVICE = "checkout"
SAMPLE = 400
READY_TIMEOUT_S = 20.0

SERVICE_FILE = f"""\
name: {SERVICE}
domains: [{SERVICE}.internal]
slo:
  success_rate: 99.9
  latency_p99_ms: 300
risk:
  cost_per_failed_request: 0.05
"""

Say = Callable[[str], None]


class _Tour:
    def __init__(self, api_url: str, listener: str, say: Say) -> None:
        self.api_url = api_url
        self.listener = listener
        self.say = say
        self.http = httpx.Client(timeout=5.0, trust_env=False)

    def run(self, *args: str) -> None:
        """Show a weir command, then run it against this tour's server, as typed."""
        from controlplane.cli import cli

        self.say(click.style("$ weir " + " ".join(args), fg="cyan", bold=True))
        cli.main(args=["--server", self.api_url, *args], prog_name="weir", standalone_mode=False)

    def traffic(self, note: str) -> Counter[str]:
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
        return answered

    def wait_for(self, instance: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            response = self.http.get(self.listener, headers={"Host": SERVICE})
            if response.status_code == 200 and response.text == instance:
                return
            time.sleep(0.01)


def run_tour(say: Say = click.echo) -> None:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-demo-")))
        say(click.style("weir demo", bold=True) + f" — working in {workdir}\n")
        weir = stack.enter_context(WeirProcess(workdir))
        api_url, xds = weir.api_url, weir.xds
        say(f"controller: `weir serve` — API {api_url}, xDS {xds}, ledger {weir.store}")
        v1 = stack.enter_context(Upstream("checkout-v1"))
        v2 = stack.enter_context(Upstream("checkout-v2"))
        say(f"instances:  two upstream servers, v1 at {v1.address} and v2 at {v2.address}")
        listen = f"127.0.0.1:{free_port()}"
        bootstrap = render_bootstrap(
            "demo-front", "front", xds=xds, listen=listen, admin=f"127.0.0.1:{free_port()}"
        )
        stack.enter_context(EnvoyProcess(bootstrap, workdir, name="envoy"))
        say(f"data plane: a real Envoy, configured only over ADS, listening on {listen}\n")
        tour = _Tour(api_url, f"http://{listen}/", say)
        service_file = workdir / "checkout.yaml"
        service_file.write_text(SERVICE_FILE)
        say("1. A service, and one immutable instance per version. Nothing gets traffic yet.")
        tour.run("apply", "-f", str(service_file))
        tour.run("instance", "add", SERVICE, "--id", "checkout-v1", "--version", "v1",
                 "--address", v1.address)  # fmt: skip
        tour.run("instance", "add", SERVICE, "--id", "checkout-v2", "--version", "v2",
                 "--address", v2.address)  # fmt: skip

        say("\n2. v1 goes live: every request reaches it.")
        tour.run("instance", "activate", "checkout-v1", "--live", "--weight", "100")
        tour.wait_for("checkout-v1")
        tour.traffic("with v1 live at weight 100")

        say("\n3. v2 joins at weight 10 — a canary's first step. One change, one instance.")
        tour.run("instance", "activate", "checkout-v2", "--live", "--weight", "10",
                 "--reason", "canary step 1")  # fmt: skip
        tour.wait_for("checkout-v2")
        tour.traffic("with v1 at 100 and v2 at 10")

        say("\n4. Half and half.")
        tour.run("instance", "activate", "checkout-v2", "--live", "--weight", "100",
                 "--reason", "canary step 2")  # fmt: skip
        time.sleep(0.2)
        tour.traffic("with v1 and v2 both at 100")

        say("\n5. v1 steps out (still warm in Envoy, for an instant rollback), then retires.")
        tour.run("instance", "activate", "checkout-v1", "--inactive", "--reason", "v2 took over")
        time.sleep(0.2)
        tour.traffic("with v1 inactive")
        tour.run("instance", "retire", "checkout-v1", "--reason", "v2 verified")

        say("\n6. The ledger holds every change: who, what, why, in order.")
        tour.run("history", SERVICE)
        say("")
        tour.run("proxies")
        say("\nEverything the demo started is stopping now.")
