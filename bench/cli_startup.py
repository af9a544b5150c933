"""How long `weir` takes to start, against a bare `python -c pass` measured in the same run.

Every command is the console script a user runs (`weir` beside this Python), started as a
process and timed from spawn to exit, interleaved with the baseline so that both see the same
machine. Client commands talk to a real `weir serve` (a child process on free ports) holding
one service with two instances and a finished rollout, so their time includes one request.

    python -m bench.cli_startup              # 21 runs of each
    python -m bench.cli_startup --runs 51

Prints each command's median and p90 wall time, its ratio to the baseline's median, and weir's
own share (median minus the baseline's); the goal is 100 ms or less for each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from controlplane.demo._weir_process import WeirProcess, weir_command

GOAL_S = 0.100
SERVICE = "web"


@dataclass(frozen=True, slots=True)
class Timing:
    label: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p90(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _once(argv: Sequence[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    return elapsed


def measure(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> list[Timing]:
    """Each command `runs` times, round-robin with the baseline `python -c pass`."""
    baseline = [sys.executable, "-c", "pass"]
    everything = {"python -c pass (baseline)": baseline, **commands}
    seconds: dict[str, list[float]] = {label: [] for label in everything}
    for argv in everything.values():  # one warm-up each: the page cache, not the test
        _once(argv, env)
    for _ in range(runs):
        for label, argv in everything.items():
            seconds[label].append(_once(argv, env))
    return [Timing(label, values) for label, values in seconds.items()]


def _prepare(weir: WeirProcess) -> None:
    """A service, two instances of it (one live), so client commands have something to say."""
    with httpx.Client(base_url=weir.api_url, headers=weir.headers, trust_env=False) as http:
        http.put(f"/v1/services/{SERVICE}", json={"name": SERVICE}).raise_for_status()
        for instance_id, version, port in (("web-v1", "v1", 9001), ("web-v2", "v2", 9002)):
            body = {
                "id": instance_id,
                "service": SERVICE,
                "version": version,
                "address": f"127.0.0.1:{port}",
            }
            http.post("/v1/instances", json=body).raise_for_status()
        answer = http.post("/v1/instances/web-v1/activation", json={"state": "live", "weight": 1})
        answer.raise_for_status()


def run(runs: int) -> list[Timing]:
    weir = weir_command()
    with tempfile.TemporaryDirectory(prefix="weir-bench-") as scratch:
        workdir = Path(scratch)
        with WeirProcess(workdir, options=("--stats", "pull")) as server:
            _prepare(server)
            env = dict(os.environ)
            env |= {"WEIR_SERVER": server.api_url, "WEIR_TOKEN": server.token or ""}
            env.pop("NO_COLOR", None)
            commands = {
                "weir --version": [weir, "--version"],
                "weir --help": [weir, "--help"],
                "weir rollout start --help": [weir, "rollout", "start", "--help"],
                "weir instance list": [weir, "instance", "list"],
                "weir instance list -o json": [weir, "instance", "list", "-o", "json"],
                "weir service list": [weir, "service", "list"],
                "weir budget web": [weir, "budget", SERVICE],
                "weir proxies": [weir, "proxies"],
                "weir rollout list": [weir, "rollout", "list"],
                "python -m controlplane --version": [
                    sys.executable,
                    "-m",
                    "controlplane",
                    "--version",
                ],
            }
            return measure(commands, env, runs)


def report(timings: list[Timing]) -> list[str]:
    base = timings[0].median
    lines = [f"{'command':<36} {'median':>9} {'p90':>9} {'ratio':>7} {'weir own':>9}  goal"]
    for timing in timings:
        own = timing.median - base
        goal = "" if timing is timings[0] else ("met" if timing.median <= GOAL_S else "NOT met")
        lines.append(
            f"{timing.label:<36} {1000 * timing.median:7.1f}ms {1000 * timing.p90:7.1f}ms "
            f"{timing.median / base:6.2f}x {1000 * own:7.1f}ms  {goal}"
        )
    lines.append(f"(goal: each command <= {1000 * GOAL_S:.0f} ms from spawn to exit)")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command")
    args = parser.parse_args(argv)
    print("\n".join(report(run(args.runs))))


if __name__ == "__main__":
    main()
