"""Every failed request accounted for: a README-length session of changes, made with the weir
CLI, under steady traffic through a real Envoy; then each failed request is attributed.

    python -m bench.session [--minutes 10] [--rps 200] [--delta]

`weir serve` (SQLite, push stats), one front-proxy Envoy bootstrapped by `weir bootstrap
--access-log` (so every request is logged with Envoy's response flags and the instance that
answered), and each instance a `weir demo-instance` process of its own. The service file is the
README's, retries included (on `/api`, 2 retries on 5xx and resets). Open-loop traffic, each
request to a path of its own, runs from the first activation to the end. The session:

    weir apply -f checkout.yaml; weir instance add ...; weir instance activate v1-a/v1-b --live
    then, cycle after cycle until the time is up (at least one):
      weir instance add        vK-a (healthy) and bK-a (fails 30% of its requests)
      weir instance activate   vK-a --shadow --mirror-percent 50, judged; then --inactive
      weir rollout start       --version vK --steps 20,50,100, `weir rollout promote` at its
                               first step (the 50% step waits for a pass); the replaced version
                               goes inactive, then is retired after the grace (its processes
                               stopped as soon as weir retires them)
      weir rollout start       --version bK: judged failing, rolled back by weir
      weir instance retire     bK-a (its process stopped at once)

Every failed request is then joined with its access-log line: those the failing test instance
(bK-a) answered with a 5xx are expected; every other one is a defect (bench/_attribution.py).
The figure is the count of unexplained failures; the goal is 0.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench._attribution import (
    Attribution,
    Event,
    Logged,
    attribute,
    read_access_log,
    report,
)
from bench._session_load import SessionLoad
from controlplane.auth import forget_local_token
from controlplane.bootstrap import render_bootstrap
from controlplane.harness import EnvoyProcess, WeirProcess, free_port, stop_process, weir_command

SERVICE = "checkout"
ERROR_RATE = 0.3
LATENCY_MS = 20.0
"""Each instance's answer takes this long: requests are in flight whenever weir changes."""
STEPS = "20,50,100"
ROLLOUT_TIMEOUT_S = 300.0
VERDICT_TIMEOUT_S = 60.0
ENDED = ("completed", "rolled_back", "aborted")


def service_file(grace_s: float) -> str:
    """The README's service file, with a short grace so replaced instances retire in the
    session, and the demo's SLO (98%), which a few seconds of traffic can judge."""
    return f"""\
name: {SERVICE}
domains: [{SERVICE}, {SERVICE}.internal]
routes:
  - match: {{prefix: /api}}
    timeout: 2s
    retries: {{attempts: 2, on: [5xx, reset]}}
  - match: {{prefix: /}}
slo:
  success_rate: 98
  latency_p99_ms: 500
  window: 30d
risk:
  cost_per_failed_request: 0.05
  value_per_request: 0.002
rollout:
  strategy: canary
  steps: [20, 50, 100]
  bake: 60s
  auto_rollback: true
  grace: {grace_s:g}s
"""


Say = Callable[[str], None]


class Instances:
    """`weir demo-instance` processes, one per instance, each answer `latency_s` late; stopped
    by PID."""

    def __init__(self, workdir: Path, latency_s: float = 0.0) -> None:
        self.workdir = workdir
        self.latency_s = latency_s
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.addresses: dict[str, str] = {}

    def start(self, instance_id: str, error_rate: float = 0.0) -> str:
        address = f"127.0.0.1:{free_port()}"
        log = (self.workdir / f"{instance_id}.log").open("wb")
        command = [weir_command(), "demo-instance", "--id", instance_id, "--listen", address]
        if error_rate:
            command += ["--error-rate", f"{error_rate:g}", "--error-status", "500"]
        if self.latency_s:
            command += ["--delay", f"{self.latency_s:g}"]
        self.processes[instance_id] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        host, port = address.rsplit(":", 1)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.processes[instance_id].poll() is not None:
                    raise RuntimeError(f"demo instance {instance_id} did not start") from None
                time.sleep(0.05)
        self.addresses[instance_id] = address
        return address

    def stop(self, instance_id: str) -> None:
        process = self.processes.pop(instance_id, None)
        if process is not None:
            stop_process(process)

    def stop_all(self) -> None:
        for instance_id in list(self.processes):
            self.stop(instance_id)


@dataclass
class Session:
    """The operator: weir commands, run as typed, and what they did when."""

    weir: WeirProcess
    instances: Instances
    bake_s: float
    say: Say
    events: list[Event] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    commands: int = 0

    def __post_init__(self) -> None:
        self.began = time.monotonic()
        self.api = httpx.Client(
            base_url=self.weir.api_url, headers=self.weir.headers, timeout=10, trust_env=False
        )
        self.env = os.environ | {"WEIR_TOKEN": self.weir.token or "", "NO_COLOR": "1"}

    def run(self, *args: str) -> str:
        """One `weir` command against this session's server; its output."""
        self.events.append(Event(time.time(), "weir " + " ".join(args)))
        self.commands += 1
        result = subprocess.run(
            [weir_command(), "--server", self.weir.api_url, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env,
        )
        if result.returncode != 0:
            raise RuntimeError(f"weir {' '.join(args)} failed: {result.stderr.strip()}")
        self.say(f"  [{time.monotonic() - self.began:6.1f}s] $ weir {' '.join(args)}")
        return result.stdout

    def add(self, instance_id: str, version: str, error_rate: float = 0.0) -> None:
        address = self.instances.start(instance_id, error_rate)
        self.run("instance", "add", SERVICE, "--id", instance_id, "--version", version,
                 "--address", address)  # fmt: skip

    def state_of(self, instance_id: str) -> str:
        for record in self.api.get("/v1/instances", params={"service": SERVICE}).json():
            if record["instance"]["id"] == instance_id:
                return str(record["activation"]["state"])
        raise KeyError(instance_id)

    def history(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.api.get(
            "/v1/history", params={"service": SERVICE}
        ).json()
        return entries

    def last_change_of(self, instance_id: str) -> int:
        return max(
            int(e["seq"])
            for e in self.history()
            if e["event"]["kind"] == "activation_changed"
            and e["event"]["instance_id"] == instance_id
        )

    def verdict_on(self, change: int, timeout: float = VERDICT_TIMEOUT_S) -> dict[str, Any]:
        """The final verdict on ledger change `change` (an outcome and a reason)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.history():
                event = entry["event"]
                if event["kind"] == "verdict_recorded" and event["change_seq"] == change:
                    verdict: dict[str, Any] = event["verdict"]
                    return verdict
            time.sleep(0.25)
        raise RuntimeError(f"no verdict on change #{change} after {timeout:g}s")

    def rollout(self, version: str, *, promote_at: int | None = None) -> str:
        """Start a canary of `version`, promote it at step `promote_at`, follow it to its end,
        stopping each instance's process as soon as weir retires it."""
        self.run("rollout", "start", SERVICE, "--version", version, "--steps", STEPS,
                 "--bake", f"{self.bake_s:g}s")  # fmt: skip
        promoted = False
        shown = ""
        deadline = time.monotonic() + ROLLOUT_TIMEOUT_S
        while time.monotonic() < deadline:
            status = self.api.get(f"/v1/rollouts/{SERVICE}").json()
            why = f"step {status['step']}: {(status.get('next') or {}).get('why', '')}"
            if why != shown:
                self.say(f"  [{time.monotonic() - self.began:6.1f}s]     {why}")
                shown = why
            self.stop_retired()
            if status["state"] in ENDED:
                ended = status["state"].replace("_", " ")
                self.say(f"  [{time.monotonic() - self.began:6.1f}s] rollout of {version}: {ended}")
                return str(status["state"])
            if promote_at is not None and not promoted and status["step"] == promote_at:
                self.run("rollout", "promote", SERVICE)
                promoted = True
            time.sleep(0.25)
        raise RuntimeError(f"the rollout of {version} did not end in {ROLLOUT_TIMEOUT_S:g}s")

    def stop_retired(self) -> None:
        for record in self.api.get("/v1/instances", params={"service": SERVICE}).json():
            instance_id = record["instance"]["id"]
            if record["activation"]["state"] == "retired" and instance_id in (
                self.instances.processes
            ):
                self.events.append(Event(time.time(), f"stop the process of {instance_id}"))
                self.instances.stop(instance_id)

    def cycle(self, k: int) -> None:
        good, bad = f"v{k}", f"b{k}"
        self.say(f"cycle {k - 1}: {good} shadowed, then a canary, promoted; {bad} fails")
        self.add(f"{good}-a", good)
        self.add(f"{bad}-a", bad, ERROR_RATE)
        self.failing.add(f"{SERVICE}--{bad}-a")
        self.run("instance", "activate", f"{good}-a", "--shadow", "--mirror-percent", "50")
        verdict = self.verdict_on(self.last_change_of(f"{good}-a"))
        self.say(f"    verdict on the shadow: {verdict['reason']}")
        if self.state_of(f"{good}-a") == "shadow":  # a failing shadow, weir deactivated itself
            self.run("instance", "activate", f"{good}-a", "--inactive")
        self.rollout(good, promote_at=1)
        self.rollout(bad)
        self.run("instance", "retire", f"{bad}-a")
        self.events.append(Event(time.time(), f"stop the process of {bad}-a"))
        self.instances.stop(f"{bad}-a")


@dataclass(frozen=True, slots=True)
class SessionResult:
    minutes: float
    rps: float
    cycles: int
    commands: int
    ledger_changes: int
    sent: int
    max_lag_s: float
    attribution: Attribution
    lines: tuple[str, ...]


def _served(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url, headers={"Host": SERVICE}).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"Envoy did not serve {SERVICE} on {url} within {timeout:g}s")


LOG_WAIT_S = 15.0
"""The longest the session waits for Envoy's access log to hold the requests that failed:
Envoy writes it out every second, later on a busy machine."""


def _logged_when_complete(access_log: Path, failed: set[str]) -> dict[str, Logged]:
    """The access log once it holds every failed request (a request missing from it is a
    defect only if Envoy never writes it), or after LOG_WAIT_S."""
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        time.sleep(1.5)
        logged = read_access_log(access_log.read_text(errors="replace").splitlines())
        if failed <= logged.keys() or time.monotonic() >= deadline:
            return logged


def run_session(
    minutes: float,
    rps: float,
    *,
    delta: bool = False,
    latency_ms: float = LATENCY_MS,
    say: Say = print,
) -> SessionResult:
    bake_s = min(20.0, max(1.0, 2 * minutes))
    grace_s = min(30.0, max(2.0, 3 * minutes))
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-session-")))
        weir = stack.enter_context(WeirProcess(workdir, options=("--stats", "push")))
        stack.callback(forget_local_token, weir.api_url, weir.token)
        instances = Instances(workdir, latency_ms / 1000)
        stack.callback(instances.stop_all)
        access_log = workdir / "access.log"
        listen = f"127.0.0.1:{free_port()}"
        bootstrap = render_bootstrap(
            "session-front", "front", xds=weir.xds, listen=listen, delta=delta,
            admin=f"127.0.0.1:{free_port()}", access_log=str(access_log),
        )  # fmt: skip
        stack.enter_context(EnvoyProcess(bootstrap, workdir, name="envoy"))
        session = Session(weir, instances, bake_s, say)
        xds = "delta" if delta else "SotW"
        say(f"session: {minutes:g} min at {rps:g} rps through one Envoy ({xds} xDS), instances "
            f"answering in {latency_ms:g} ms, bake {bake_s:g}s, grace {grace_s:g}s")  # fmt: skip
        spec = workdir / "checkout.yaml"
        spec.write_text(service_file(grace_s))
        session.run("apply", "-f", str(spec))
        session.add("v1-a", "v1")
        session.add("v1-b", "v1")
        session.run("instance", "activate", "v1-a", "--live", "--weight", "50")
        session.run("instance", "activate", "v1-b", "--live", "--weight", "50")
        url = f"http://{listen}/"
        _served(url)
        with SessionLoad(url, SERVICE, rps, workdir / "load.json") as load:
            started = time.monotonic()
            deadline = started + 60 * minutes
            k, took = 2, 0.0
            while k == 2 or time.monotonic() + took < deadline:
                began = time.monotonic()
                session.cycle(k)
                took = time.monotonic() - began
                k += 1
            while time.monotonic() < deadline:
                session.stop_retired()
                time.sleep(0.5)
        logged = _logged_when_complete(access_log, {f.path for f in load.failures})
        history = session.api.get("/v1/history", params={"service": SERVICE}).json()
        changes = sum(1 for e in history if e["event"]["kind"] == "activation_changed")
        events = sorted([*session.events, *_ledger_events(history)], key=lambda event: event.at)
        attribution = attribute(load.failures, logged, frozenset(session.failing), events)
        lines = [
            f"session: {(time.monotonic() - started) / 60:.1f} min at {rps:g} rps, {k - 2} "
            f"cycles, {session.commands} weir commands, {changes} changes in the ledger "
            f"(most schedule lag {load.max_lag_s * 1000:.0f} ms)",
            *report(attribution, load.sent, load.outcomes, session.failing),
            "",
            "$ weir budget checkout",
            *session.run("budget", SERVICE).rstrip().splitlines(),
            "$ weir history checkout  (its last line)",
            session.run("history", SERVICE).rstrip().splitlines()[-1],
        ]
        return SessionResult(
            minutes=minutes,
            rps=rps,
            cycles=k - 2,
            commands=session.commands,
            ledger_changes=changes,
            sent=load.sent,
            max_lag_s=load.max_lag_s,
            attribution=attribution,
            lines=tuple(lines),
        )


def _ledger_events(history: Sequence[dict[str, Any]]) -> list[Event]:
    """Each change in the ledger, made by the operator, a rollout or the evaluator."""
    events = []
    for entry in history:
        event = entry["event"]
        if event["kind"] == "activation_changed":
            at = datetime.fromisoformat(entry["at"]).timestamp()
            what = f"#{entry['seq']} {entry['actor']}: {event['instance_id']} → "
            events.append(Event(at, what + str(event["after"]["state"])))
    return events


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.session", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="session length [10]")
    parser.add_argument("--rps", type=float, default=200.0, help="steady requests a second [200]")
    parser.add_argument("--delta", action="store_true", help="delta xDS instead of SotW")
    parser.add_argument(
        "--latency-ms", type=float, default=LATENCY_MS, help="each answer's delay [20]"
    )
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 120 or not 0 < args.rps <= 2000:
        parser.error("--minutes must lie in (0, 120] and --rps in (0, 2000]")
    result = run_session(args.minutes, args.rps, delta=args.delta, latency_ms=args.latency_ms)
    print()
    print("\n".join(result.lines))
    return 0 if result.attribution.unexplained == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
