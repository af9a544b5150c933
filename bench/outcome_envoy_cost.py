"""What learning outcomes from the answers costs the whole: Envoy's workers and `weir serve`,
per 1,000 requests a second, with header objectives on against off, in one run.

`weir serve` (`--stats off`: no evaluator, so its CPU is the access-log receiver's) configures
one real Envoy (SotW, `--concurrency 1`) for service `web` with one live instance, an upstream
that reports `x-weir-outcome: order=0|1` on every answer. Phases alternate, `--rounds` times
each: the service file without objectives (the baseline: Envoy's header-to-metadata filter has
no rule for it, nothing is logged) and with a header objective (the filter copies and removes
the header, every request is logged to weir over gRPC). Each phase sends `--rate` GETs a second
for `--seconds` over one kept-alive connection and reads the CPU Envoy's worker threads and the
whole `weir serve` process used (schedstat). Prints both per request and per 1,000 requests a
second (milliseconds of CPU a second), the baseline beside them, and whether the header ever
reached the client.

    python -m bench.outcome_envoy_cost [--rate 300] [--seconds 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench._common import Prober
from bench.mirror_overhead import send_at_rate, worker_cpu_ns
from controlplane.bootstrap import render_bootstrap
from controlplane.harness import EnvoyProcess, Upstream, WeirProcess, free_port

SERVICE = "web"
OBJECTIVE = {"name": "orders", "kind": "ratio", "source": {"header": "order"}}


def process_cpu_ns(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


@dataclass
class Phase:
    objectives: bool
    requests: int = 0
    envoy_ns: list[int] = field(default_factory=list)
    weir_ns: list[int] = field(default_factory=list)


def measure(rate: float, seconds: float, rounds: int) -> tuple[Phase, Phase, bool]:
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-bench-")))
        upstream = stack.enter_context(Upstream("a", order_rate=0.05, seed=3))
        server = stack.enter_context(WeirProcess(root, options=("--stats", "off")))
        api = stack.enter_context(
            httpx.Client(base_url=server.api_url, headers=server.headers, trust_env=False)
        )
        listen, admin = free_port(), free_port()
        bootstrap = render_bootstrap(
            "bench-proxy", "bench", xds=server.xds, listen=f"127.0.0.1:{listen}",
            admin=f"127.0.0.1:{admin}",
        )  # fmt: skip
        envoy = stack.enter_context(EnvoyProcess(bootstrap, root, name="envoy"))

        def apply(objectives: bool) -> None:
            spec = {"name": SERVICE, "objectives": [OBJECTIVE] if objectives else []}
            api.put(f"/v1/services/{SERVICE}", json=spec).raise_for_status()

        apply(False)
        body = {"id": "a", "service": SERVICE, "version": "v1", "address": upstream.address}
        api.post("/v1/instances", json=body).raise_for_status()
        api.post("/v1/instances/a/activation", json={"state": "live", "weight": 1})
        probe = Prober("127.0.0.1", listen, SERVICE)
        stack.callback(probe.close)
        deadline = time.monotonic() + 20
        while probe() != "a":
            if time.monotonic() > deadline:
                raise TimeoutError("the proxy did not route to the instance")
            time.sleep(0.05)
        phases = {False: Phase(False), True: Phase(True)}
        leaked = False
        assert envoy.pid is not None and server.pid is not None
        for _ in range(rounds):
            for objectives in (False, True):
                apply(objectives)
                time.sleep(1.0)  # the virtual host reaches Envoy
                send_at_rate(probe, rate, 1.0)  # warm-up
                time.sleep(1.2)  # the access log's 1 s flush of the warm-up
                envoy_before, weir_before = worker_cpu_ns(envoy.pid), process_cpu_ns(server.pid)
                send_at_rate(probe, rate, seconds)
                time.sleep(1.2)  # the last entries reach weir
                phase = phases[objectives]
                phase.requests = round(rate * seconds)
                phase.envoy_ns.append(worker_cpu_ns(envoy.pid) - envoy_before)
                phase.weir_ns.append(process_cpu_ns(server.pid) - weir_before)
                reply = httpx.get(
                    f"http://127.0.0.1:{listen}/", headers={"Host": SERVICE}, trust_env=False
                )
                leaked |= objectives and "x-weir-outcome" in reply.headers
        return phases[False], phases[True], leaked


def report(off: Phase, on: Phase, leaked: bool) -> list[str]:
    def per_request_us(samples: list[int], requests: int) -> float:
        return statistics.median(samples) / requests / 1000

    lines = []
    for name, attr in (("Envoy workers", "envoy_ns"), ("weir serve", "weir_ns")):
        base = per_request_us(getattr(off, attr), off.requests)
        with_ = per_request_us(getattr(on, attr), on.requests)
        lines.append(
            f"{name}: {base:.1f} us CPU a request without objectives (baseline), {with_:.1f} us "
            f"with a header objective ({with_ / base:.2f}x): +{with_ - base:.1f} us, "
            f"+{with_ - base:.0f} ms of CPU a second per 1,000 requests/s"
        )
    seen = "YES" if leaked else "never"
    lines.append(f"with the objective, the outcome header reached the client: {seen}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outcome_envoy_cost", description=__doc__)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    off, on, leaked = measure(args.rate, args.seconds, args.rounds)
    print("\n".join(report(off, on, leaked)))
    return 1 if leaked else 0


if __name__ == "__main__":
    raise SystemExit(main())
