"""What verification by comparing answers costs: the comparator's throughput on one core, and the
primary path's latency with and without comparison, in one run.

1. Throughput. `weir serve` runs with all its threads on one CPU; three JSON upstreams (an old
   version's two instances and the candidate, each answering a price, a timestamp and an id)
   and the load generator run on the other CPUs. Mirrored requests are sent straight to the
   comparator (as Envoy's mirror would send them: the candidate and route in headers) at rising
   rates; at each, weir's CPU time (every thread's, from /proc) and its count of compared
   requests give the compared requests per second and the CPU per compared request. Envoy is
   left out here: on a shared machine it would be the bottleneck, not the comparator. The
   baseline is a bare fan-out on the same library, pinned the same way and driven the same:
   it answers 202, sends the request to the same three upstreams and reads their answers, and
   compares nothing: the least any comparator on aiohttp must spend.
2. The primary path. One real Envoy (`--concurrency 1`) routes `web` to the two old instances
   and mirrors to the comparator; a client sends GETs at a fixed rate over one kept-alive
   connection, timing each. The candidate's mirror_percent is flipped between 0 (no comparison:
   no mirror at all) and 100 (every request compared), alternating for `--rounds` rounds, each
   phase measured once the comparator's count shows the setting in force. Printed: p50 and p99
   per setting, their ratio, and weir's CPU per compared request in this whole setting.

    python -m bench.compare [--seconds 3] [--rates 250,500,1000,2000,3000] [--rate 200] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp
import httpx
import uvloop
from aiohttp import web

from bench._common import Prober, serving_child
from bench.mirror_overhead import pin
from controlplane.bootstrap import render_bootstrap
from controlplane.harness import EnvoyProcess, WeirProcess, free_port
from controlplane.loadtest import ClusterStats, read_stats
from controlplane.model import COMPARE_HEADER, ROUTE_HEADER

SERVICE = "web"
OLD = ("old-a", "old-b")
CANDIDATE = "cand"
SUSTAINED = 0.97
"""A rate is sustained when at least this share of what was offered was compared."""
MAX_IN_FLIGHT = 512
"""The comparator's concurrency cap here, and the bare fan-out's."""
CONNECTIONS = 32
"""The load generator's kept-alive connections."""
APPLY_TIMEOUT_S = 15.0
WARMUP_S = 1.0


# ---- the upstreams and the baseline, each in a process of its own -------------------------


class _JsonResponder(asyncio.Protocol):
    """HTTP/1.1 keep-alive; every request answered 200 with a small JSON body whose `at` and
    `id` differ on every answer (as timestamps and ids do), so comparing has noise to cancel."""

    def __init__(self, instance_id: str) -> None:
        self._instance_id = instance_id
        self._buffer = b""
        self._transport: asyncio.WriteTransport | None = None
        self._served = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.WriteTransport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in self._buffer[:end].lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.partition(b":")[2])
            if len(self._buffer) < end + 4 + length:
                return
            self._buffer = self._buffer[end + 4 + length :]
            self._served += 1
            body = json.dumps(
                {
                    "price": 10,
                    "currency": "EUR",
                    "items": [{"sku": "a-1", "qty": 2}, {"sku": "b-2", "qty": 1}],
                    "at": time.time_ns(),
                    "id": f"{self._instance_id}-{self._served}",
                }
            ).encode()
            assert self._transport is not None
            self._transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )


async def _serve_json(instance_id: str) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _JsonResponder(instance_id), "127.0.0.1", 0)
    print(f"127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes stdin
    server.close()


async def _serve_fanout(upstreams: list[str]) -> None:
    """The baseline: answer 202, then send the request to the three upstreams and read their
    answers, comparing nothing; at most MAX_IN_FLIGHT at once, as weir's comparator here."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=3 * MAX_IN_FLIGHT),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
    )
    served = 0
    tasks: set[asyncio.Task[None]] = set()

    async def send(address: str, path: str) -> None:
        async with session.get(f"http://{address}{path}") as response:
            await response.read()

    async def fan_out(path: str) -> None:
        nonlocal served
        await asyncio.gather(*(send(a, path) for a in upstreams))
        served += 1

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        await request.read()
        if len(tasks) >= MAX_IN_FLIGHT:  # dropped when saturated, as weir's comparator does
            return web.Response(status=503)
        task = asyncio.get_running_loop().create_task(fan_out(request.raw_path))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.Response(status=202)

    async def count(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(text=str(served))

    async def route(request: web.BaseRequest) -> web.StreamResponse:
        return await (count(request) if request.path == "/served" else handle(request))

    server = web.Server(route, access_log=None)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server, "127.0.0.1", 0)
    print(f"127.0.0.1:{listener.sockets[0].getsockname()[1]}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    listener.close()
    await session.close()


def child(*args: str) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """This module run with `args` in a child process: its address and pid."""
    return serving_child("bench.compare", *args)


# ---- measuring ------------------------------------------------------------------------------


def cpu_ns(pid: int) -> int:
    """CPU time every thread of process `pid` has used, in ns (/proc/PID/task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


class WeirMetrics:
    """weir's comparator counts, from /metrics on its API port."""

    _LINE = re.compile(r'^weir_compare_requests_total\{outcome="(\w+)"\} (\S+)$', re.M)

    def __init__(self, api: httpx.Client) -> None:
        self._api = api

    def counts(self) -> dict[str, float]:
        text = self._api.get("/metrics").text
        return {m[1]: float(m[2]) for m in self._LINE.finditer(text)}

    def compared(self) -> float:
        return self.counts().get("compared", 0.0)


@dataclass(frozen=True, slots=True)
class Step:
    rate: float
    seconds: float
    offered: int
    compared: float
    cpu_s: float
    wall_s: float
    """From the first send to the last comparison's end: what `cpu_s` was spent over."""

    @property
    def compared_per_s(self) -> float:
        return self.compared / self.seconds

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s

    @property
    def cpu_us_per_compared(self) -> float:
        return 1e6 * self.cpu_s / self.compared if self.compared else float("nan")

    @property
    def sent_per_s(self) -> float:
        return self.offered / self.seconds

    @property
    def sustained(self) -> bool:
        """Nearly everything asked for was sent (the server answered in time) and compared."""
        return self.offered >= SUSTAINED * self.rate * self.seconds and (
            self.compared >= SUSTAINED * self.offered
        )


async def drive(url: str, rate: float, seconds: float, headers: dict[str, str]) -> int:
    """GETs at `rate` for `seconds` over CONNECTIONS kept-alive connections, each sending its
    share at its pace and reading each answer before its next send (a connection whose answers
    come late falls behind, so what was sent says what the server took); returns how many were
    sent. Raw HTTP/1.1 on asyncio streams: a few tens of microseconds a request, so the load
    generator is not what limits the rate."""
    host, _, port = url.removeprefix("http://").rpartition(":")
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    total = round(rate * seconds)
    start = time.perf_counter()

    async def connection(k: int) -> int:
        reader, writer = await asyncio.open_connection(host, int(port))
        sent = 0
        try:
            for n in range(k, total, CONNECTIONS):  # the n-th request of all is due at n / rate
                pause = start + n / rate - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
                elif time.perf_counter() - start > 2 * seconds + 1:
                    break  # far behind: the server is not keeping up
                writer.write(f"GET /items?n={n} HTTP/1.1\r\n{lines}\r\n".encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                if length and int(length[1]):
                    await reader.readexactly(int(length[1]))
                sent += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
        return sent

    return sum(await asyncio.gather(*(connection(k) for k in range(CONNECTIONS))))


def measure_step(
    url: str, pid: int, rate: float, seconds: float, headers: dict[str, str],
    compared: Callable[[], float],
) -> Step:  # fmt: skip
    before, cpu_before, started = compared(), cpu_ns(pid), time.perf_counter()
    offered = uvloop.run(drive(url, rate, seconds, headers))
    time.sleep(0.3)  # the last comparisons finish
    cpu_s = (cpu_ns(pid) - cpu_before) / 1e9
    wall_s = time.perf_counter() - started
    return Step(rate, seconds, offered, compared() - before, cpu_s, wall_s)


def ramp(
    url: str, pid: int, rates: list[float], seconds: float, headers: dict[str, str],
    compared: Callable[[], float],
) -> list[Step]:  # fmt: skip
    """The steps in order, stopping after the first that is not sustained."""
    steps = []
    for rate in rates:
        step = measure_step(url, pid, rate, seconds, headers, compared)
        steps.append(step)
        if not step.sustained:
            break
    return steps


SETTINGS = ("none", "mirror", "compare")
"""Part 2's settings: no mirror; Envoy mirroring to the candidate itself (a plain shadow, the
service without `compare`); Envoy mirroring to the comparator (the service with `compare`)."""


@dataclass(slots=True)
class Phase:
    setting: str
    latencies_s: list[float] = field(default_factory=list)
    compared_count: float = 0.0
    weir_cpu_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Result:
    weir: list[Step]
    baseline: list[Step]
    phases: list[Phase]
    rate: float
    seconds: float
    load: str = ""
    """The machine's load averages (1, 5, 15 minutes) when the measurement ended."""


def measure(
    *,
    rates: list[float],
    seconds: float,
    rate: float,
    phase_seconds: float,
    rounds: int,
    warmup_s: float = WARMUP_S,
) -> Result:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise RuntimeError("bench.compare needs two CPUs: one for weir, one for the rest")
    own, rest = {cpus[-1]}, set(cpus[:-1])
    os.sched_setaffinity(0, rest)
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-bench-")))
        upstreams = {
            name: stack.enter_context(child("--serve-json", name)) for name in (*OLD, CANDIDATE)
        }
        for _, upstream_pid in upstreams.values():
            pin(upstream_pid, rest)
        options = ("--stats", "off", "--compare-rate", "1000000", "--compare-concurrency",
                   str(MAX_IN_FLIGHT))  # fmt: skip
        server = stack.enter_context(WeirProcess(root, options=options))
        assert server.pid is not None
        pin(server.pid, own)
        api = stack.enter_context(
            httpx.Client(
                base_url=server.api_url, headers=server.headers, timeout=10, trust_env=False
            )
        )
        metrics = WeirMetrics(api)
        _setup(api, {name: address for name, (address, _) in upstreams.items()})
        comparator = _comparator_address(server)
        headers = {"Host": SERVICE, COMPARE_HEADER: CANDIDATE, ROUTE_HEADER: "0"}

        # 1. throughput on one core: weir, then the bare fan-out, each alone on `own`
        measure_step(comparator, server.pid, rates[0], warmup_s, headers, metrics.compared)
        weir = ramp(comparator, server.pid, rates, seconds, headers, metrics.compared)
        addresses = [upstreams[name][0] for name in (*OLD, CANDIDATE)]
        with child("--fanout", ",".join(addresses)) as (fanout, fanout_pid):
            pin(fanout_pid, own)
            pin(server.pid, rest)  # out of the baseline's way; idle meanwhile
            served = _served(f"http://{fanout}")
            measure_step(f"http://{fanout}", fanout_pid, rates[0], warmup_s, headers, served)
            baseline = ramp(f"http://{fanout}", fanout_pid, rates, seconds, headers, served)
        pin(server.pid, own)

        # 2. the primary path through a real Envoy, without and with comparison
        listen, admin = free_port(), free_port()
        bootstrap = render_bootstrap(
            "bench-proxy", "bench", xds=server.xds, listen=f"127.0.0.1:{listen}",
            admin=f"127.0.0.1:{admin}",
        )  # fmt: skip
        envoy = stack.enter_context(
            EnvoyProcess(bootstrap, root, name="envoy", log_level="warning")
        )
        assert envoy.pid is not None
        pin(envoy.pid, rest)
        probe = Prober("127.0.0.1", listen, SERVICE)
        stack.callback(probe.close)
        _until(lambda: probe().startswith("{"), "the proxy did not route to the old version")
        phases = []
        mirrored = _Mirrored(f"http://127.0.0.1:{admin}")
        for _ in range(rounds):
            for setting in SETTINGS:
                _apply(api, setting)
                _until_in_force(metrics, mirrored, probe, setting)
                phase = Phase(setting)
                _send_at_rate(probe, rate, warmup_s, None)
                time.sleep(0.2)
                before, cpu_before = metrics.compared(), cpu_ns(server.pid)
                _send_at_rate(probe, rate, phase_seconds, phase)
                time.sleep(0.3)
                phase.compared_count = metrics.compared() - before
                phase.weir_cpu_s = (cpu_ns(server.pid) - cpu_before) / 1e9
                phases.append(phase)
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        return Result(weir, baseline, phases, rate, phase_seconds, load)


def _setup(api: httpx.Client, addresses: dict[str, str]) -> None:
    def call(method: str, path: str, body: object) -> None:
        response = api.request(method, path, json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")

    _compared(api, True)
    for name, address in addresses.items():
        version = "v2" if name == CANDIDATE else "v1"
        call("POST", "/v1/instances", {"id": name, "service": SERVICE, "version": version,
                                       "address": address})  # fmt: skip
    for name in OLD:
        call("POST", f"/v1/instances/{name}/activation", {"state": "live", "weight": 1})
    _mirror(api, 100.0)


def _compared(api: httpx.Client, on: bool) -> None:
    """The service with a `compare` section, or without."""
    spec = {"name": SERVICE, "compare": {}} if on else {"name": SERVICE}
    response = api.put(f"/v1/services/{SERVICE}", json=spec)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"apply: {response.status_code} {response.text}")


def _apply(api: httpx.Client, setting: str) -> None:
    _compared(api, setting != "mirror")
    _mirror(api, 0.0 if setting == "none" else 100.0)


class _Mirrored:
    """Requests the proxy counted for the candidate's own cluster (a plain shadow's mirror)."""

    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url

    def __call__(self) -> int:
        async def read() -> int:
            async with httpx.AsyncClient(trust_env=False, timeout=5.0) as http:
                stats = await read_stats(http, self._admin_url, SERVICE)
            return stats.get(f"{SERVICE}--{CANDIDATE}", ClusterStats()).requests

        return asyncio.run(read())


def _mirror(api: httpx.Client, percent: float) -> None:
    """One ledger change, unless the candidate mirrors `percent` already (weir refuses a change
    to what already is)."""
    response = api.get(f"/v1/instances/{CANDIDATE}")
    if response.json()["activation"].get("mirror_percent") == percent:
        return
    body = {"state": "shadow", "mirror_percent": percent}
    response = api.post(f"/v1/instances/{CANDIDATE}/activation", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"mirror {percent}: {response.status_code} {response.text}")


def _comparator_address(server: WeirProcess) -> str:
    """Where weir serve's comparator listens: it says so on its log's second line."""
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while time.monotonic() < deadline:
        found = re.search(r"^comparator: (\S+)$", server.log_path.read_text(), re.M)
        if found:
            return f"http://{found[1]}"
        time.sleep(0.05)
    raise TimeoutError("weir serve did not say where its comparator listens")


def _served(url: str) -> Callable[[], float]:
    def served() -> float:
        return float(httpx.get(f"{url}/served", trust_env=False, timeout=5).text)

    return served


def _until(check: Callable[[], bool], why: str) -> None:
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(why)
        time.sleep(0.05)


def _until_in_force(
    metrics: WeirMetrics, mirrored: Callable[[], int], probe: Prober, setting: str
) -> None:
    """Probe until every batch reaches where the setting sends its copies, and nothing goes
    where it does not."""
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while time.monotonic() < deadline:
        compared, direct = metrics.compared(), mirrored()
        for _ in range(20):
            probe()
        time.sleep(0.2)
        gained = (metrics.compared() - compared, mirrored() - direct)
        wanted = {"none": (0, 0), "mirror": (0, 20), "compare": (20, 0)}[setting]
        if all(
            (got >= want) if want else (got == 0) for got, want in zip(gained, wanted, strict=True)
        ):
            return
    raise TimeoutError(f"the proxy did not take the setting {setting!r}")


def _send_at_rate(probe: Prober, rate: float, seconds: float, phase: Phase | None) -> None:
    interval = 1.0 / rate
    start = time.perf_counter()
    for i in range(max(1, round(rate * seconds))):
        pause = start + i * interval - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        began = time.perf_counter()
        probe()
        if phase is not None:
            phase.latencies_s.append(time.perf_counter() - began)


# ---- reporting ------------------------------------------------------------------------------


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in samples)
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
    return statistics.median(ms), p99


def _best(steps: list[Step]) -> Step:
    sustained = [s for s in steps if s.sustained]
    return max(sustained or steps, key=lambda s: s.compared_per_s)


def report(result: Result) -> list[str]:
    lines = [
        "compare: 1. the comparator on one CPU, mirrored requests sent straight to it "
        f"(load average {result.load}: on a busy machine the rate a core reaches is lower "
        "than its CPU per request says)"
    ]
    for name, steps in (
        ("weir's comparator", result.weir),
        ("bare fan-out (baseline)", result.baseline),
    ):
        lines.append(f"  {name}:")
        for s in steps:
            lines.append(
                f"    asked {s.rate:>5g}/s, sent {s.sent_per_s:5.0f}/s: "
                f"{s.compared_per_s:5.0f} compared/s, {s.cores:.2f} of a core, "
                f"{s.cpu_us_per_compared:5.0f} us CPU each"
                + ("" if s.sustained else "  (not sustained)")
            )
    weir, fanout = _best(result.weir), _best(result.baseline)
    cost, base_cost = weir.cpu_us_per_compared, fanout.cpu_us_per_compared
    lines.append(
        f"  one core sustained {weir.compared_per_s:.0f} compared requests/s ({cost:.0f} us CPU "
        f"each: {1e6 / cost:.0f}/s at a whole core); the bare fan-out "
        f"{fanout.compared_per_s:.0f}/s ({base_cost:.0f} us each: {1e6 / base_cost:.0f}/s); "
        f"ratio {cost / base_cost:.2f}x CPU per request"
    )
    rounds = len(result.phases) // len(SETTINGS)
    lines.append(
        f"compare: 2. the primary path through one Envoy (--concurrency 1), {result.rate:g} rps "
        f"over one kept-alive connection, {rounds} round(s) of {result.seconds:g}s per setting"
    )
    p50s, cpu, count = {}, {}, {}
    for setting in SETTINGS:
        mine = [p for p in result.phases if p.setting == setting]
        p50, p99 = _percentiles([s for p in mine for s in p.latencies_s])
        p50s[setting] = p50
        count[setting] = sum(p.compared_count for p in mine)
        cpu[setting] = sum(p.weir_cpu_s for p in mine)
        lines.append(
            f"  {_LABELS[setting]}: p50 {p50:.3f} ms, p99 {p99:.3f} ms; weir compared "
            f"{count[setting]:.0f}, its CPU {cpu[setting]:.2f} s"
        )
    base = p50s["none"]
    lines.append(
        f"  p50 against no mirror: plain mirror {p50s['mirror'] / base:.3f}x "
        f"({1000 * (p50s['mirror'] - base):+.0f} us, Envoy's own cost of a mirrored copy), "
        f"comparison {p50s['compare'] / base:.3f}x ({1000 * (p50s['compare'] - base):+.0f} us); "
        f"comparison against plain mirror {p50s['compare'] / p50s['mirror']:.3f}x"
    )
    if count["compare"]:
        extra = cpu["compare"] - cpu["none"]
        lines.append(
            f"  weir's CPU per compared request here: {1e6 * extra / count['compare']:.0f} us"
        )
    return lines


_LABELS = {"none": "no mirror    ", "mirror": "plain mirror ", "compare": "compared 100%"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput step")
    parser.add_argument(
        "--rates", default="250,500,1000,1500,2000,3000", help="offered rates, rising"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="the primary path's rate")
    parser.add_argument("--phase-seconds", type=float, default=3.0, help="per latency phase")
    parser.add_argument("--rounds", type=int, default=4, help="without/with pairs")
    parser.add_argument("--serve-json", metavar="ID", help=argparse.SUPPRESS)
    parser.add_argument("--fanout", metavar="ADDRESSES", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_json:
        uvloop.run(_serve_json(args.serve_json))
        return
    if args.fanout:
        uvloop.run(_serve_fanout(args.fanout.split(",")))
        return
    try:
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        parser.error("--rates: numbers separated by commas")
    if not rates or any(not 0 < r <= 20_000 for r in rates) or rates != sorted(rates):
        parser.error("--rates must rise, each above 0 and at most 20000")
    if not 0 < args.seconds <= 60 or not 0 < args.phase_seconds <= 60:
        parser.error("--seconds and --phase-seconds must be above 0 and at most 60")
    if not 0 < args.rate <= 2000:
        parser.error("--rate must be above 0 and at most 2000")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    result = measure(
        rates=rates,
        seconds=args.seconds,
        rate=args.rate,
        phase_seconds=args.phase_seconds,
        rounds=args.rounds,
    )
    for line in report(result):
        print(line)


if __name__ == "__main__":
    main()
