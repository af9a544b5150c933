"""How long `weir` takes to start, against a bare `python -c pass` measured in the same run.

Every command is the console script a user runs (`weir` beside its Python), started as a
process and timed from spawn to exit, interleaved with the baseline so that both see the same
machine. Client commands talk to a real `weir serve` (a child process on free ports) holding
one service with two instances and a finished rollout, so their time includes one request.

Two installs of this tree are measured, each against its own interpreter's `python -c pass`:
this venv's editable one (`pip install -e`, whose path finder every process of the venv loads,
the baseline too) and a regular one (`pip install .` into a new venv in a scratch directory,
its dependencies taken from this venv), which is what a user has. Bytecode caches are written
on the warm-up run into a scratch directory (PYTHONPYCACHEPREFIX), as pip writes them at
install and Python on first import; --as-is keeps the environment as it is (with
PYTHONDONTWRITEBYTECODE=1 and no __pycache__ in the tree, weir's modules compile from source
on every run).

    python -m bench.cli_startup              # 21 runs of each
    python -m bench.cli_startup --runs 51
    python -m bench.cli_startup --editable-only   # no regular install (saves its build)
    git archive main | tar -x -C /tmp/weir-main
    python -m bench.cli_startup --before /tmp/weir-main   # also another source tree's CLI

Prints each command's median and p90 wall time, its ratio to its baseline's median, weir's own
share (median minus the baseline's) and the median CPU time (user + system, which a busy
machine inflates less than wall time); the goal is 100 ms or less for each. With --before,
each command also runs from that tree (`python -c` importing its controlplane.cli, in this
venv), and the ratio of the two medians is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

import controlplane
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
BASELINE = "python -c pass (baseline)"
INSTALLED = "installed: "
"""The label prefix of the regular install's commands (its baseline included)."""


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


def _once(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds from spawn to exit, and the CPU seconds the process used."""
    began = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
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


def measure(
    commands: dict[str, list[str]], env: dict[str, str], runs: int, cwd: Path
) -> list[Timing]:
    """Each command `runs` times, round-robin (baselines included: labels ending in BASELINE)."""
    seconds: dict[str, list[float]] = {label: [] for label in commands}
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    for argv in commands.values():  # one warm-up each: the page cache and bytecode, not the test
        _once(argv, env, cwd)
    for _ in range(runs):
        for label, argv in commands.items():
            wall, used = _once(argv, env, cwd)
            seconds[label].append(wall)
            cpu[label].append(used)
    return [Timing(label, seconds[label], cpu[label]) for label in commands]


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


def _regular_install(scratch: Path) -> Path:
    """This tree installed as `pip install .` installs it, in a new venv under `scratch`, with
    this venv's packages as its dependencies (a .pth file: nothing is downloaded); its Python.
    Built from a copy, so the tree gains no build/ directory."""
    tree = Path(controlplane.__file__).resolve().parent.parent
    source = scratch / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(tree / name, source / name)
    shutil.copytree(
        tree / "controlplane", source / "controlplane", ignore=shutil.ignore_patterns("__pycache__")
    )
    venv = scratch / "installed"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    (_site_packages(str(python)) / "weir-dependencies.pth").write_text(
        f"{_site_packages(sys.executable)}\n"
    )
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    pip += ["--no-deps", "--no-build-isolation", "--no-index", str(source)]
    subprocess.run(pip, check=True)
    return python


def _site_packages(python: str) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    done = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True)
    return Path(done.stdout.strip())


def _commands(python: str, weir: str) -> dict[str, list[str]]:
    """The baseline and every command measured, run by `python` and its `weir` script."""
    return {
        BASELINE: [python, "-c", "pass"],
        "weir --version": [weir, "--version"],
        "weir --help": [weir, "--help"],
        "weir rollout start --help": [weir, "rollout", "start", "--help"],
        "weir instance list": [weir, "instance", "list"],
        "weir instance list -o json": [weir, "instance", "list", "-o", "json"],
        "weir service list": [weir, "service", "list"],
        "weir budget web": [weir, "budget", SERVICE],
        "weir proxies": [weir, "proxies"],
        "weir rollout list": [weir, "rollout", "list"],
        "python -m controlplane --version": [python, "-m", "controlplane", "--version"],
    }


def _environment(server: WeirProcess, caches: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env |= {"WEIR_SERVER": server.api_url, "WEIR_TOKEN": server.token or ""}
    env.pop("NO_COLOR", None)
    if caches is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(caches)
    return env


def run(
    runs: int, before: Path | None = None, *, installed: bool = True, as_is: bool = False
) -> list[Timing]:
    with tempfile.TemporaryDirectory(prefix="weir-bench-") as scratch:
        workdir = Path(scratch)
        commands = _commands(sys.executable, weir_command())
        if before is not None:
            commands |= {
                f"{label} [before]": _from_tree(before, argv)
                for label, argv in list(commands.items())
                if label in BEFORE_TOO
            }
        if installed:
            python = _regular_install(workdir)
            regular = _commands(str(python), str(python.parent / "weir"))
            commands |= {INSTALLED + label: argv for label, argv in regular.items()}
        with WeirProcess(workdir, options=("--stats", "pull")) as server:
            _prepare(server)
            caches = None if as_is else workdir / "bytecode"
            # Run from the scratch directory: `python -m controlplane` must find the installed
            # package, not this tree beside the current directory.
            return measure(commands, _environment(server, caches), runs, workdir)


def report(timings: list[Timing]) -> list[str]:
    """One line per command, each against the baseline of its install."""
    by_label = {t.label: t for t in timings}
    width = max(len(t.label) for t in timings) + 1
    lines = [
        f"{'command':<{width}} {'median':>9} {'p90':>9} {'ratio':>7} {'weir own':>9} "
        f"{'cpu':>8}  goal"
    ]
    for timing in timings:
        group = INSTALLED if timing.label.startswith(INSTALLED) else ""
        base = by_label[group + BASELINE].median
        own = timing.median - base
        is_baseline = timing.label == group + BASELINE
        goal = "" if is_baseline else ("met" if timing.median <= GOAL_S else "NOT met")
        cpu = statistics.median(timing.cpu)
        lines.append(
            f"{timing.label:<{width}} {1000 * timing.median:7.1f}ms {1000 * timing.p90:7.1f}ms "
            f"{timing.median / base:6.2f}x {1000 * own:7.1f}ms {1000 * cpu:6.1f}ms  {goal}"
        )
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
    parser.add_argument(
        "--editable-only", action="store_true", help="skip the regular install (and its build)"
    )
    parser.add_argument(
        "--as-is",
        action="store_true",
        help="the environment as it is: no bytecode caches written (PYTHONDONTWRITEBYTECODE)",
    )
    args = parser.parse_args(argv)
    timings = run(args.runs, args.before, installed=not args.editable_only, as_is=args.as_is)
    caches = "as the environment has them" if args.as_is else "written on the warm-up run"
    print("\n".join([*report(timings), f"(bytecode caches: {caches})"]))


if __name__ == "__main__":
    main()
