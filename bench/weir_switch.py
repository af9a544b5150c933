"""weir against the file baseline: how fast one activation change moves traffic.

`weir serve` runs as a child process, as operators run it, with one real Envoy connected over
ADS (SotW, or delta with --delta) and two upstream instances of service `web`: `a`, live at
weight 1, and `b`, flipped between live weight 0 (every request to `a`) and weight 1,000,000
(all but one in a million to `b`). Each switch is one ledger change, made by running the real
CLI (`weir instance activate b --live --weight W`) and, separately, by one HTTP POST to the API
over a kept-alive connection. Each is timed from the moment the command (or the POST) returns
to the first answer from the new target. Envoy's own file-based reload
(bench.file_config_baseline) is then measured in the same process tree, and the ratios printed.

    python -m bench.weir_switch [--rounds N] [--delta] [--via cli|api|both]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from bench._common import (
    DEFAULT_TIMEOUT_S,
    Prober,
    Summary,
    summarize,
    time_switches,
    time_until_served,
)
from bench.file_config_baseline import measure_file_reload
from controlplane.bootstrap import render_bootstrap
from controlplane.harness import EnvoyProcess, Upstream, WeirProcess, weir_command
from controlplane.model import MAX_WEIGHT
from tests.support import free_port

Via = Literal["cli", "api"]
VIAS: tuple[Via, ...] = ("cli", "api")

SERVICE = "web"
TARGETS = ("a", "b")
FLIPPED = "b"
"""The instance whose weight each switch changes; `a` stays live at weight 1 throughout."""
NODE_ID = "bench-proxy"
READY_TIMEOUT_S = 30.0
GOAL_MEDIAN_RATIO = 2.0


def weight_of_flipped(target: str) -> int:
    """b's live weight that sends (all but a millionth of) the traffic to `target`."""
    return MAX_WEIGHT if target == FLIPPED else 0


@dataclass(frozen=True, slots=True)
class Switches:
    """One way of switching, measured: seconds from hand-over to the first new answer, and
    seconds the hand-over itself took (the CLI command's wall time, or the POST's)."""

    via: Via
    served: list[float]
    handover: list[float]

    @property
    def from_start(self) -> list[float]:
        """Seconds from the start of the hand-over (command started, POST sent) to the first
        new answer: comparable with the file baseline, which times from the rename."""
        return [s + h for s, h in zip(self.served, self.handover, strict=True)]


def measure_weir_switch(
    rounds: int,
    *,
    vias: Sequence[Via] = VIAS,
    delta: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    workdir: Path | None = None,
) -> dict[Via, Switches]:
    """Switch traffic `rounds` times for each of `vias`, on one weir and one real Envoy."""
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-bench-")))
        root = workdir or scratch
        upstreams = [stack.enter_context(Upstream(name)) for name in TARGETS]
        server = stack.enter_context(WeirProcess(root))
        weir = WeirApi(server.api_url, server.headers)
        stack.callback(weir.close)
        weir.setup({u.instance_id: u.address for u in upstreams})
        listen_port = free_port()
        bootstrap = render_bootstrap(
            NODE_ID,
            "bench",
            xds=server.xds,
            listen=f"127.0.0.1:{listen_port}",
            admin=f"127.0.0.1:{free_port()}",
            delta=delta,
        )
        stack.enter_context(EnvoyProcess(bootstrap, root, name="weir-envoy", log_level="warning"))
        probe = Prober("127.0.0.1", listen_port, SERVICE)
        stack.callback(probe.close)
        results: dict[Via, Switches] = {}
        serving = TARGETS[0]
        for via in vias:
            # Each run starts with all traffic on targets[0], as time_switches expects; the
            # first wait also covers Envoy fetching its listener from weir.
            if serving != TARGETS[0]:
                weir.activate(FLIPPED, weight_of_flipped(TARGETS[0]))
            time_until_served(
                probe, TARGETS[0], started=time.perf_counter(), timeout=READY_TIMEOUT_S
            )
            handover: list[float] = []
            switch = weir.cli_switch(handover) if via == "cli" else weir.api_switch(handover)
            served = time_switches(switch, probe, TARGETS, rounds, timeout=timeout)
            serving = TARGETS[rounds % 2]
            results[via] = Switches(via=via, served=served, handover=handover)
    return results


class WeirApi:
    """weir's HTTP API over one kept-alive connection, and the two ways of switching."""

    def __init__(self, api_url: str, headers: dict[str, str]) -> None:
        self.api_url = api_url
        self.http = httpx.Client(base_url=api_url, timeout=10.0, trust_env=False, headers=headers)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, body: Any) -> httpx.Response:
        response = self.http.request(method, path, json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response

    def setup(self, addresses: dict[str, str]) -> None:
        """Service `web` with an instance per address: `a` live at weight 1, the rest at 0."""
        self.call("PUT", f"/v1/services/{SERVICE}", {"name": SERVICE})
        for instance_id, address in addresses.items():
            body = {"id": instance_id, "service": SERVICE, "version": "v1", "address": address}
            self.call("POST", "/v1/instances", body)
        for instance_id in addresses:
            self.activate(instance_id, 1 if instance_id == TARGETS[0] else 0)

    def activate(self, instance_id: str, weight: int) -> None:
        body = {"state": "live", "weight": weight}
        self.call("POST", f"/v1/instances/{instance_id}/activation", body)

    def cli_switch(self, handover: list[float]) -> Callable[[str], float]:
        """A switch that runs `weir instance activate` and returns when the command has."""
        weir = weir_command()

        def switch(target: str) -> float:
            command = [weir, "--server", self.api_url, "instance", "activate", FLIPPED]
            command += ["--live", "--weight", str(weight_of_flipped(target))]
            began = time.perf_counter()
            result = subprocess.run(
                command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30
            )
            returned = time.perf_counter()
            if result.returncode != 0:
                raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
            handover.append(returned - began)
            return returned

        return switch

    def api_switch(self, handover: list[float]) -> Callable[[str], float]:
        """A switch that POSTs the activation over the kept-alive client, returning when the
        POST has."""

        def switch(target: str) -> float:
            path = f"/v1/instances/{FLIPPED}/activation"
            body = {"state": "live", "weight": weight_of_flipped(target)}
            began = time.perf_counter()
            response = self.http.post(path, json=body)
            returned = time.perf_counter()
            if response.status_code != 200:
                raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
            handover.append(returned - began)
            return returned

        return switch


def _ratio_line(label: str, weir: Summary, file: Summary) -> str:
    median = weir.median_ms / file.median_ms
    p99 = weir.p99_ms / file.p99_ms
    verdict = "met" if median <= GOAL_MEDIAN_RATIO else "NOT met"
    return (
        f"{label}/file median ratio: {median:.1f}x (goal <= {GOAL_MEDIAN_RATIO:g}x, {verdict}); "
        f"p99 ratio: {p99:.1f}x"
    )


_WORDING: dict[Via, tuple[str, str, str]] = {
    # how the switch is made, the moment it returns, the moment it starts
    "cli": (
        "`weir instance activate` (a CLI process each time)",
        "command return",
        "command start",
    ),
    "api": ("one POST over a kept-alive HTTP connection", "POST return", "POST sent"),
}


def report(weir: dict[Via, Switches], file: list[float], *, protocol: str) -> list[str]:
    """The lines `main` prints: each weir figure, the baseline, and the ratios."""
    baseline = summarize(file)
    lines = []
    for via, switches in weir.items():
        how, returned, started = _WORDING[via]
        lines += [
            f"weir ({protocol} ADS), switch by {how}:",
            f"  {returned} -> first new answer: {summarize(switches.served)}",
            f"  {started} -> first new answer: {summarize(switches.from_start)}",
            f"  the hand-over itself: median {summarize(switches.handover).median_ms:.2f} ms",
        ]
    lines.append(f"envoy file-based xDS, route rename -> first new answer: {baseline}")
    for via, switches in weir.items():
        lines.append(_ratio_line(f"weir {via} (from return)", summarize(switches.served), baseline))
    if "api" in weir:
        from_sent = summarize(weir["api"].from_start)
        lines.append(_ratio_line("weir api (from POST sent)", from_sent, baseline))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=50, help="switches per side (default 50)")
    parser.add_argument("--delta", action="store_true", help="Envoy uses delta ADS, not SotW")
    parser.add_argument(
        "--via",
        choices=["cli", "api", "both"],
        default="both",
        help="switch with the CLI, a direct API POST, or both (default)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    vias: tuple[Via, ...] = VIAS if args.via == "both" else (args.via,)
    protocol = "delta" if args.delta else "SotW"

    weir = measure_weir_switch(args.rounds, vias=vias, delta=args.delta)
    file = measure_file_reload(args.rounds)
    for line in report(weir, file, protocol=protocol):
        print(line)


if __name__ == "__main__":
    main()
