"""What mirroring costs the primary path: Envoy's latency with 0% and 100% mirroring, one run.

One `weir serve` and one real Envoy (SotW ADS, `--concurrency 1`) route service `web` to `a`
(live) and mirror to `c` (shadow). Each upstream runs in its own process, so the shadow's work
never competes with the client for a GIL. A client sends GETs at a fixed rate over one
kept-alive connection, timing each from send to whole body. The shadow's mirror_percent is
flipped through weir's API between 0 and 100, alternating for `--rounds` rounds so drift in
the machine falls on both settings alike; each phase is measured only once the proxy's stats
show the new setting in force, after a short warm-up. Printed: p50 and p99 per setting, the
mirrored requests Envoy counted for the shadow, and the p50 overhead (goal <= 5%).

    python -m bench.mirror_overhead [--rate 200] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import httpx
import uvloop

from bench._common import Prober, serving_child
from controlplane.bootstrap import render_bootstrap
from controlplane.harness import EnvoyProcess, WeirProcess, free_port
from controlplane.loadtest import ClusterStats, read_stats

SERVICE = "web"
LIVE, SHADOW = "a", "c"
SETTINGS = (0.0, 100.0)
GOAL_P50_OVERHEAD = 0.05
WARMUP_S = 1.0
APPLY_TIMEOUT_S = 15.0
MAX_RATE = 2000.0
MAX_SECONDS = 120.0


@dataclass(slots=True)
class Phase:
    mirror_percent: float
    latencies_s: list[float] = field(default_factory=list)
    wrong: int = 0
    """Answers that were not the live instance's (or no answer at all)."""
    mirrored: int = 0
    """Requests Envoy counted for the shadow's cluster during the phase."""
    primary: int = 0
    envoy_cpu_ns: int = 0
    """CPU time Envoy's worker spent during the phase: what mirroring costs Envoy itself."""


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    p50_ms: float
    p99_ms: float


def summarize(samples: list[float]) -> Summary:
    ms = sorted(s * 1000 for s in samples)
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
    return Summary(len(ms), statistics.median(ms), p99)


class _Responder(asyncio.Protocol):
    """HTTP/1.1 keep-alive, every request answered 200 with the instance id. A few tens of
    microseconds a request, so the upstreams add little CPU (and noise) beside Envoy's."""

    def __init__(self, answer: bytes, delay_s: float) -> None:
        self._answer = answer
        self._delay_s = delay_s
        self._buffer = b""
        self._transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but write all the same
        self._transport = cast(asyncio.WriteTransport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:end].lower()
            length = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.partition(b":")[2])
            if len(self._buffer) < end + 4 + length:
                return
            self._buffer = self._buffer[end + 4 + length :]
            assert self._transport is not None
            if self._delay_s > 0:
                loop = asyncio.get_running_loop()
                loop.call_later(self._delay_s, self._transport.write, self._answer)
            else:
                self._transport.write(self._answer)


async def _serve(instance_id: str, delay_s: float) -> None:
    body = instance_id.encode()
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Responder(answer, delay_s), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"127.0.0.1:{port}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes stdin
    server.close()


@contextmanager
def upstream_process(instance_id: str, delay_ms: float = 0.0) -> Iterator[tuple[str, int]]:
    """An upstream answering `instance_id` after `delay_ms`, in a child process (its own CPU,
    not the client's GIL); yields its host:port and pid. It ends when its stdin closes."""
    args = ("--serve", instance_id, "--upstream-ms", str(delay_ms))
    with serving_child("bench.mirror_overhead", *args) as served:
        yield served


class Mesh:
    """weir's API and the proxy's admin stats, as the benchmark uses them."""

    def __init__(self, api_url: str, admin_url: str, headers: dict[str, str]) -> None:
        self.api = httpx.Client(base_url=api_url, timeout=10.0, trust_env=False, headers=headers)
        self.admin_url = admin_url
        self.mirror_percent: float | None = None

    def close(self) -> None:
        self.api.close()

    def call(self, method: str, path: str, body: object) -> None:
        response = self.api.request(method, path, json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")

    def setup(self, live: str, shadow: str) -> None:
        self.call("PUT", f"/v1/services/{SERVICE}", {"name": SERVICE})
        for instance_id, address in ((LIVE, live), (SHADOW, shadow)):
            body = {"id": instance_id, "service": SERVICE, "version": "v1", "address": address}
            self.call("POST", "/v1/instances", body)
        self.call("POST", f"/v1/instances/{LIVE}/activation", {"state": "live", "weight": 1})
        self.mirror(0.0)

    def mirror(self, percent: float) -> None:
        """One ledger change, unless the shadow mirrors `percent` already (weir refuses a
        change to what already is)."""
        if percent != self.mirror_percent:
            body = {"state": "shadow", "mirror_percent": percent}
            self.call("POST", f"/v1/instances/{SHADOW}/activation", body)
            self.mirror_percent = percent

    def counts(self) -> dict[str, ClusterStats]:
        async def read() -> dict[str, ClusterStats]:
            async with httpx.AsyncClient(trust_env=False, timeout=5.0) as http:
                return await read_stats(http, self.admin_url, SERVICE)

        return asyncio.run(read())

    def requests(self, instance_id: str) -> int:
        return self.counts().get(f"{SERVICE}--{instance_id}", ClusterStats()).requests


def wait_for_mirror(mesh: Mesh, probe: Callable[[], str], percent: float) -> None:
    """Probe until the proxy mirrors as asked: the shadow's count rises with every batch at
    100%, and stays put at 0%."""
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while time.monotonic() < deadline:
        before = mesh.requests(SHADOW)
        for _ in range(20):
            probe()
        time.sleep(0.1)  # mirrored copies are sent asynchronously
        gained = mesh.requests(SHADOW) - before
        if (percent == 0 and gained == 0) or (percent == 100 and gained >= 20):
            return
    raise TimeoutError(f"the proxy did not mirror {percent:g}% within {APPLY_TIMEOUT_S:g}s")


def send_at_rate(
    probe: Callable[[], str], rate: float, seconds: float, phase: Phase | None = None
) -> None:
    """GETs at `rate` per second for `seconds`, each timed into `phase` (if given)."""
    interval = 1.0 / rate
    count = max(1, round(rate * seconds))
    start = time.perf_counter()
    for i in range(count):
        pause = start + i * interval - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        began = time.perf_counter()
        body = probe()
        took = time.perf_counter() - began
        if phase is not None:
            phase.latencies_s.append(took)
            phase.wrong += body != LIVE


def worker_cpu_ns(pid: int) -> int:
    """CPU time Envoy's worker threads (named `wrk:worker_N`: where requests and their
    mirrored copies are handled; not the main thread's xDS, stats and admin work) have used,
    in ns (/proc/PID/task/*/schedstat, where /proc/PID/stat counts 10 ms ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            if (task / "comm").read_text().startswith("wrk:"):
                total += int((task / "schedstat").read_text().split()[0])
    return total


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process `pid` onto `cpus` (Linux)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(task.name), cpus)


def measure_mirror_overhead(
    *,
    rate: float = 200.0,
    seconds: float = 3.0,
    rounds: int = 10,
    upstream_ms: float = 0.0,
    isolate_shadow: bool = False,
) -> list[Phase]:
    """Alternate 0% and 100% mirroring `rounds` times on one weir and one Envoy; each upstream
    answers after `upstream_ms`."""
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-bench-")))
        live, live_pid = stack.enter_context(upstream_process(LIVE, upstream_ms))
        shadow, shadow_pid = stack.enter_context(upstream_process(SHADOW, upstream_ms))
        server = stack.enter_context(WeirProcess(root, options=("--stats", "off")))
        listen_port, admin_port = free_port(), free_port()
        bootstrap = render_bootstrap(
            "bench-proxy",
            "bench",
            xds=server.xds,
            listen=f"127.0.0.1:{listen_port}",
            admin=f"127.0.0.1:{admin_port}",
        )
        envoy = stack.enter_context(
            EnvoyProcess(bootstrap, root, name="envoy", log_level="warning")
        )
        if isolate_shadow:
            cpus = sorted(os.sched_getaffinity(0))
            if len(cpus) < 2:
                raise RuntimeError("--isolate-shadow needs two CPUs")
            own, rest = {cpus[-1]}, set(cpus[:-1])
            pin(shadow_pid, own)
            for pid in (os.getpid(), live_pid, envoy.pid, server.pid):
                if pid is not None:
                    pin(pid, rest)
        mesh = Mesh(server.api_url, f"http://127.0.0.1:{admin_port}", server.headers)
        stack.callback(mesh.close)
        mesh.setup(live, shadow)
        probe = Prober("127.0.0.1", listen_port, SERVICE)
        stack.callback(probe.close)
        deadline = time.monotonic() + APPLY_TIMEOUT_S
        while probe() != LIVE:  # Envoy fetches its listener and routes from weir
            if time.monotonic() > deadline:
                raise TimeoutError("the proxy did not route to the live instance")
            time.sleep(0.05)
        phases = []
        for _ in range(rounds):
            for percent in SETTINGS:
                mesh.mirror(percent)
                wait_for_mirror(mesh, probe, percent)
                phase = Phase(percent)
                send_at_rate(probe, rate, WARMUP_S)
                time.sleep(0.1)  # the warm-up's mirrored copies land before the count
                before = mesh.counts()
                assert envoy.pid is not None
                cpu_before = worker_cpu_ns(envoy.pid)
                send_at_rate(probe, rate, seconds, phase)
                time.sleep(0.2)
                phase.envoy_cpu_ns = worker_cpu_ns(envoy.pid) - cpu_before
                after = mesh.counts()
                for instance_id in (LIVE, SHADOW):
                    cluster = f"{SERVICE}--{instance_id}"
                    gained = (
                        after.get(cluster, ClusterStats()).requests
                        - before.get(cluster, ClusterStats()).requests
                    )
                    if instance_id == LIVE:
                        phase.primary = gained
                    else:
                        phase.mirrored = gained
                phases.append(phase)
        return phases


def report(
    phases: list[Phase], *, rate: float, seconds: float, upstream_ms: float = 0.0
) -> list[str]:
    rounds = len(phases) // len(SETTINGS)
    lines = [
        f"mirror_overhead: one Envoy (--concurrency 1), {rate:g} rps over one kept-alive "
        f"connection, {rounds} round(s) of {seconds:g}s per setting, alternating; upstreams "
        f"answer after {upstream_ms:g} ms"
    ]
    summaries = {}
    for percent in SETTINGS:
        mine = [p for p in phases if p.mirror_percent == percent]
        summary = summarize([s for p in mine for s in p.latencies_s])
        summaries[percent] = summary
        per_round = ", ".join(f"{summarize(p.latencies_s).p50_ms:.3f}" for p in mine)
        mirrored = sum(p.mirrored for p in mine)
        primary = sum(p.primary for p in mine)
        wrong = sum(p.wrong for p in mine)
        lines.append(
            f"  mirror {percent:>3g}%: {summary.requests} requests: p50 {summary.p50_ms:.3f} ms, "
            f"p99 {summary.p99_ms:.3f} ms (p50 per round: {per_round}); Envoy counted "
            f"{primary} to {LIVE}, {mirrored} mirrored to {SHADOW}"
            + (f"; {wrong} answers not from {LIVE}" if wrong else "")
        )
    cpu_us = {}
    for percent in SETTINGS:
        mine = [p for p in phases if p.mirror_percent == percent]
        cpu_us[percent] = (
            sum(p.envoy_cpu_ns for p in mine) / 1000 / sum(len(p.latencies_s) for p in mine)
        )
    lines.append(
        f"  Envoy's worker CPU per request: "
        f"{cpu_us[SETTINGS[0]]:.1f} us at 0%, {cpu_us[SETTINGS[1]]:.1f} us at 100% "
        f"({cpu_us[SETTINGS[1]] - cpu_us[SETTINGS[0]]:+.1f} us for the mirrored copy)"
    )
    base, full = summaries[SETTINGS[0]], summaries[SETTINGS[1]]
    overhead = full.p50_ms / base.p50_ms - 1
    verdict = "met" if overhead <= GOAL_P50_OVERHEAD else "NOT met"
    paired = statistics.median(
        summarize(b.latencies_s).p50_ms / summarize(a.latencies_s).p50_ms - 1
        for a, b in zip(phases[0::2], phases[1::2], strict=True)  # (0%, 100%) per round
    )
    lines.append(
        f"p50 overhead of 100% mirroring: {overhead:+.1%}, "
        f"{1000 * (full.p50_ms - base.p50_ms):+.0f} us (ratio {full.p50_ms / base.p50_ms:.3f}x; "
        f"goal <= {GOAL_P50_OVERHEAD:.0%}, {verdict}); median of the rounds' own ratios "
        f"{paired:+.1%}; p99 ratio {full.p99_ms / base.p99_ms:.3f}x"
    )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured, per phase")
    parser.add_argument("--rounds", type=int, default=10, help="0%%/100%% pairs (default 10)")
    parser.add_argument(
        "--upstream-ms",
        type=float,
        default=0.0,
        help="time each upstream takes to answer (default 0: Envoy's own path alone)",
    )
    parser.add_argument(
        "--isolate-shadow",
        action="store_true",
        help="the shadow upstream on a CPU of its own, as if on another host (Linux)",
    )
    parser.add_argument("--serve", metavar="ID", help=argparse.SUPPRESS)  # an upstream process
    args = parser.parse_args(argv)
    if args.serve:
        uvloop.run(_serve(args.serve, args.upstream_ms / 1000))
        return
    if not 0 <= args.upstream_ms <= 1000:
        parser.error("--upstream-ms must be between 0 and 1000")
    if not 0 < args.rate <= MAX_RATE:
        parser.error(f"--rate must be above 0 and at most {MAX_RATE:g}")
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be above 0 and at most {MAX_SECONDS:g}")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    phases = measure_mirror_overhead(
        rate=args.rate,
        seconds=args.seconds,
        rounds=args.rounds,
        upstream_ms=args.upstream_ms,
        isolate_shadow=args.isolate_shadow,
    )
    for line in report(phases, rate=args.rate, seconds=args.seconds, upstream_ms=args.upstream_ms):
        print(line)


if __name__ == "__main__":
    main()
