"""How long `weir` takes to start, against a bare `python -c pass` measured in the same run.

Every command is the console script a user runs (`weir` beside this Python), started as a
process and timed from spawn to exit, interleaved with the baseline so that both see the same
machine. Client commands talk to a real `weir serve` (a child process on free ports) holding
one service with two instances and a finished rollout, so their time includes one request.

    python -m bench.cli_startup              # 21 runs of each
    python -m bench.cli_startup --runs 51
    git archive main | tar -x -C /tmp/weir-main
    python -m bench.cli_startup --before /tmp/weir-main   # also another source tree's CLI

Prints each command's median and p90 wall time, its ratio to the baseline's median, weir's own
share (median minus the baseline's) and the median CPU time (user + system, which a busy
machine inflates less than wall time); the goal is 100 ms or less for each. With --before,
each command also runs from that tree (`python -c` importing its controlplane.cli), and the
ratio of the two medians is printed.
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

from controlplane.harness import WeirProcess, weir_command

GOAL_S = 0.100
BEFORE_TOO = (
    "weir --version",
    "weir --help",
    "weir rollout start --help",
    "weir instance list",
    "weir budget web",
    "weir proxies",
)
"""Commands an older CLI has too (no -o, service or rollout list): what --before runs."""
SERVICE = "web"


@dataclass(frozen=True, slots=True)
class Timing:
    label: str
    seconds: list[float]
    cpu: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p90(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _once(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds from spawn to exit, and the CPU seconds the process used."""
    began = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - began
    stderr = process.stderr.read() if process.stderr else b""
    if process.stderr:
        process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    process.returncode = code
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}: {stderr.decode()}")
    return elapsed, usage.ru_utime + usage.ru_stime


def measure(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> list[Timing]:
    """Each command `runs` times, round-robin with the baseline `python -c pass`."""
    baseline = [sys.executable, "-c", "pass"]
    everything = {"python -c pass (baseline)": baseline, **commands}
    seconds: dict[str, list[float]] = {label: [] for label in everything}
    cpu: dict[str, list[float]] = {label: [] for label in everything}
    for argv in everything.values():  # one warm-up each: the page cache, not the test
        _once(argv, env)
    for _ in range(runs):
        for label, argv in everything.items():
            wall, used = _once(argv, env)
            seconds[label].append(wall)
            cpu[label].append(used)
    return [Timing(label, seconds[label], cpu[label]) for label in everything]


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


def _from_tree(tree: Path, argv: list[str]) -> list[str]:
    """The same weir command, run from another source tree's controlplane."""
    code = (
        f"import sys; sys.path.insert(0, {str(tree)!r}); sys.argv[0] = 'weir'; "
        "from controlplane.cli import main; main()"
    )
    return [sys.executable, "-c", code, *argv[1:]]


def run(runs: int, before: Path | None = None) -> list[Timing]:
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
            if before is not None:
                commands |= {
                    f"{label} [before]": _from_tree(before, argv)
                    for label, argv in list(commands.items())
                    if label in BEFORE_TOO
                }
            return measure(commands, env, runs)


def report(timings: list[Timing]) -> list[str]:
    base = timings[0].median
    width = max(len(t.label) for t in timings) + 1
    lines = [
        f"{'command':<{width}} {'median':>9} {'p90':>9} {'ratio':>7} {'weir own':>9} "
        f"{'cpu':>8}  goal"
    ]
    for timing in timings:
        own = timing.median - base
        goal = "" if timing is timings[0] else ("met" if timing.median <= GOAL_S else "NOT met")
        cpu = statistics.median(timing.cpu)
        lines.append(
            f"{timing.label:<{width}} {1000 * timing.median:7.1f}ms {1000 * timing.p90:7.1f}ms "
            f"{timing.median / base:6.2f}x {1000 * own:7.1f}ms {1000 * cpu:6.1f}ms  {goal}"
        )
    by_label = {t.label: t for t in timings}
    for timing in timings:
        old = by_label.get(f"{timing.label} [before]")
        if old is not None:
            lines.append(
                f"{timing.label}: before/now {old.median / timing.median:.2f}x "
                f"({1000 * old.median:.0f} -> {1000 * timing.median:.0f} ms)"
            )
    lines.append(f"(goal: each command <= {1000 * GOAL_S:.0f} ms from spawn to exit)")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs of each command")
    parser.add_argument("--before", type=Path, help="another source tree to compare with")
    args = parser.parse_args(argv)
    print("\n".join(report(run(args.runs, args.before))))


if __name__ == "__main__":
    main()
