"""A 1,000-service mesh end to end: registration, convergence, idle, a canary, scoped sidecars.

Everything as an operator runs it: `weir serve` as a child process (SQLite ledger in a scratch
directory, stats pushed by Envoy's metrics sink), real Envoys bootstrapped by
`render_bootstrap` — one SotW and one delta proxy that hold every service, a sidecar scoped to
the `--calls` services it calls, and an empty Envoy (scoped to nothing: the RSS baseline) —
and `--services` x `--instances` instances registered through the HTTP API, one live per
service. Measured in one run, each against its goal:

1. batch: the whole mesh in one `POST /v1/apply` (what `weir apply -f` of a file holding every
   service and instance sends), on a fresh weir with both full Envoys connected: the call's
   time, then the time until both Envoys hold every cluster (Envoy's own
   `cluster_manager.active_clusters`);
2. one at a time: the same mesh through the API one request at a time (a service, its
   instances, the live activation), by `--clients` concurrent clients, on another fresh weir
   with all four Envoys connected: the time for all of them, and until both full Envoys hold
   every cluster after the last one returned;
3. idle: Envoys connected, stats flowing (steady traffic through each Envoy), no changes: weir's
   CPU over `--idle` seconds (from /proc), the evaluator's tick time and the event loop's lag
   (weir's /metrics); then the API's latency over `--probe` seconds of reads (one service,
   its instances, its budget, the proxies, /healthz) at `--probe-rps`;
4. a canary on one service (`svc-0000`: v1 live, v2 healthy, v3 failing 30% of requests, all
   real upstreams, `--rps` requests a second through the SotW Envoy): the time from `POST
   /v1/rollouts` of v2 to its completion, and of v3 to its rollback by the evaluator; then the
   same in a one-service mesh (a third fresh weir, one SotW Envoy, the same traffic): the
   ratio is the goal;
5. the scoped sidecar: the clusters it holds, and its RSS against the empty Envoy's.

    python -m bench.whole_mesh [--services 1000] [--instances 5] [--clients 8] [--calls 10]
                               [--idle 30] [--probe 20] [--rps 100]

The exit status is non-zero when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench._common import Summary, cpu_seconds, raise_open_files_limit, rss_bytes, summarize
from controlplane.bootstrap import render_bootstrap
from controlplane.harness import EnvoyProcess, SteadyLoad, Upstream, WeirProcess, free_port

GOAL_ONE_BY_ONE_S = 60.0
GOAL_BATCH_S = 5.0
GOAL_CONVERGED_S = 10.0
GOAL_IDLE_CPU = 0.05
GOAL_API_P99_MS = 20.0
GOAL_CANARY_RATIO = 1.2
"""'As fast as in a one-service mesh': a canary's time is mostly its bake and its verdicts'
evidence, which vary from run to run by a second or two; a fifth more is the allowance."""
GOAL_SCOPED_CLUSTERS = 60
GOAL_SCOPED_RSS_BYTES = 10 * 1024 * 1024

CANARY = "svc-0000"
CANARY_FILE: dict[str, Any] = {
    "name": CANARY,
    "slo": {"success_rate": 95, "latency_p99_ms": 500},
    "rollout": {"strategy": "canary"},
}
"""The demo's service file (steps, bake and grace from the options) with a looser SLO: the
error budget counts every failure a rolled-back canary served, and at 98% the repeated failing
canaries of the run exhaust it, freezing the next one."""
CANARY_ERRORS = 0.3
ENDED = ("completed", "rolled_back", "aborted")
ROLLOUT_TIMEOUT_S = 120.0
CONVERGE_TIMEOUT_S = 120.0
LOOK_EVERY_S = 0.1
DEAD_ADDRESS = "127.0.0.1:9"
"""Where the instances that never take traffic in the bench point (the discard port)."""
SIDE_RPS = 20.0
"""Traffic through the delta Envoy and the scoped sidecar, so that their stats flow too."""


@dataclass(frozen=True)
class Options:
    services: int = 1000
    instances: int = 5
    clients: int = 8
    calls: int = 10
    idle_s: float = 30.0
    probe_s: float = 20.0
    probe_rps: float = 20.0
    rps: float = 200.0
    steps: tuple[float, ...] = (20, 50, 100)
    bake: str = "2s"
    grace: str = "5s"
    rollbacks: int = 3
    lean_stats: bool = False
    """The proxies' bootstrap keeps only the stats weir reads (`weir bootstrap --lean-stats`)."""


@dataclass(frozen=True, slots=True)
class Registration:
    requests: int
    seconds: float
    converged_s: float
    """From the last registration's answer to both full Envoys holding every cluster."""
    latency: Summary | None
    """Of each request, when made one at a time."""
    weir_cpu_s: float


@dataclass(frozen=True, slots=True)
class Idle:
    seconds: float
    cpu_share: float
    open_changes: int
    ticks: int
    tick_mean_ms: float
    lag_p99_ms: float
    """The upper bound of the loop-lag bucket holding the 99th percentile."""
    api: Summary
    bare_api: Summary
    """A bare FastAPI /healthz probed in the same moments: the machine's own share."""


@dataclass(frozen=True, slots=True)
class Canary:
    completed_s: float
    completed: str
    rolled_back_s: float
    """The median of the rollbacks'."""
    rolled_back: str
    rollbacks: list[float]


@dataclass(frozen=True, slots=True)
class Scoped:
    clusters: int
    rss: int
    empty_rss: int
    full_rss: dict[str, int]


@dataclass(frozen=True, slots=True)
class WholeMesh:
    options: Options
    batch: Registration
    one_by_one: Registration
    idle: Idle
    scoped: Scoped
    canary: Canary
    canary_alone: Canary


# The mesh.


@dataclass(slots=True)
class Upstreams:
    """The real instances: the canary's three versions and the called services' live ones."""

    canary: dict[str, Upstream] = field(default_factory=dict)
    called: dict[str, Upstream] = field(default_factory=dict)

    def address(self, instance_id: str) -> str:
        upstream = self.canary.get(instance_id) or self.called.get(instance_id)
        return upstream.address if upstream is not None else DEAD_ADDRESS


def service_names(options: Options) -> list[str]:
    return [f"svc-{n:04d}" for n in range(options.services)]


def instance_plan(service: str, options: Options) -> list[tuple[str, str]]:
    """(instance id, version) of a service's instances; the first is the live one. The canary
    service has a v2 and a v3 beside its v1s."""
    versions = ["v1", "v2", "v3"] if service == CANARY else ["v1"]
    versions += ["v1"] * (options.instances - len(versions))
    return [(f"{service}-{n}", version) for n, version in enumerate(versions[: options.instances])]


def service_file(service: str, options: Options) -> dict[str, Any]:
    if service != CANARY:
        return {"name": service}
    rollout = {
        **CANARY_FILE["rollout"],
        "steps": list(options.steps),
        "bake": options.bake,
        "grace": options.grace,
    }
    return {**CANARY_FILE, "rollout": rollout}


def mesh_body(names: list[str], options: Options, upstreams: Upstreams) -> dict[str, Any]:
    """The whole mesh as one POST /v1/apply body."""
    instances = []
    for service in names:
        for n, (instance_id, version) in enumerate(instance_plan(service, options)):
            item: dict[str, Any] = {
                "id": instance_id,
                "service": service,
                "version": version,
                "address": upstreams.address(instance_id),
            }
            if n == 0:
                item["activation"] = {"state": "live"}
            instances.append(item)
    return {"services": [service_file(s, options) for s in names], "instances": instances}


def one_by_one_requests(
    service: str, options: Options, upstreams: Upstreams
) -> list[tuple[str, str, Any]]:
    """What an operator's script sends for one service: its file, its instances, the live one."""
    requests: list[tuple[str, str, Any]] = [
        ("PUT", f"/v1/services/{service}", service_file(service, options))
    ]
    plan = instance_plan(service, options)
    for instance_id, version in plan:
        body = {"id": instance_id, "service": service, "version": version}
        requests.append(
            ("POST", "/v1/instances", {**body, "address": upstreams.address(instance_id)})
        )
    requests.append(("POST", f"/v1/instances/{plan[0][0]}/activation", {"state": "live"}))
    return requests


# Envoys.


@dataclass(slots=True)
class Proxy:
    envoy: EnvoyProcess
    url: str


def start_proxy(
    stack: ExitStack,
    weir: WeirProcess,
    workdir: Path,
    name: str,
    *,
    delta: bool,
    calls: list[str] | None = None,
    group: str = "bench",
    lean_stats: bool = False,
) -> Proxy:
    listen = f"127.0.0.1:{free_port()}"
    bootstrap = render_bootstrap(
        name,
        group,
        xds=weir.xds,
        listen=listen,
        admin=f"127.0.0.1:{free_port()}",
        delta=delta,
        calls=calls,
        lean_stats=lean_stats,
    )
    envoy = stack.enter_context(EnvoyProcess(bootstrap, workdir, name=name))
    return Proxy(envoy, f"http://{listen}/")


def active_clusters(envoy: EnvoyProcess) -> int:
    """The clusters Envoy holds, from its own gauge (the static `weir_xds` one included); 0
    while its admin is too busy to answer (it shares Envoy's main thread with applying xDS)."""
    try:
        text = envoy.admin_get("/stats?format=json&filter=^cluster_manager.active_clusters$")
    except httpx.TimeoutException:
        return 0
    return int(json.loads(text)["stats"][0]["value"])


def wait_for_clusters(proxies: list[Proxy], clusters: int, since: float) -> float:
    """Seconds from `since` until every proxy holds `clusters` clusters of weir's."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while True:
        if all(active_clusters(p.envoy) >= clusters + 1 for p in proxies):
            return time.monotonic() - since
        if time.monotonic() > deadline:
            held = [active_clusters(p.envoy) - 1 for p in proxies]
            raise RuntimeError(f"the Envoys hold {held} clusters, not {clusters}")
        time.sleep(LOOK_EVERY_S)


def answers(proxy: Proxy, host: str, body: str) -> None:
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            try:
                response = http.get(proxy.url, headers={"Host": host})
                if response.status_code == 200 and response.text == body:
                    return
            except httpx.TransportError:
                pass
            time.sleep(LOOK_EVERY_S)
    raise RuntimeError(f"{proxy.envoy.name} never answered {host} with {body}")


# weir.


def api_client(weir: WeirProcess) -> httpx.Client:
    return httpx.Client(base_url=weir.api_url, headers=weir.headers, timeout=60.0, trust_env=False)


def call(api: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    response = api.request(method, path, json=body)
    if not response.is_success:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
    return response.json()


def histogram(metrics: str, name: str) -> tuple[list[tuple[float, float]], float, float]:
    """(upper bound, cumulative count) buckets, the count and the sum of a histogram."""
    buckets: list[tuple[float, float]] = []
    count = total = 0.0
    for family in text_string_to_metric_families(metrics):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name == f"{name}_count":
                count = sample.value
            elif sample.name == f"{name}_sum":
                total = sample.value
    return buckets, count, total


def bucket_quantile(
    before: list[tuple[float, float]], after: list[tuple[float, float]], q: float
) -> float:
    """The upper bound of the bucket holding quantile `q` of what was observed in between."""
    counts = [(bound, now - then) for (bound, now), (_, then) in zip(after, before, strict=True)]
    total = counts[-1][1] if counts else 0.0
    for bound, cumulative in counts:
        if total and cumulative >= q * total:
            return bound
    return float("nan")


# The phases.


def register_batch(
    workdir: Path, options: Options, upstreams: Upstreams, say: Callable[[str], None]
) -> Registration:
    names = service_names(options)
    with ExitStack() as stack:
        (workdir / "batch").mkdir()
        weir = stack.enter_context(
            WeirProcess(workdir / "batch", options=("--max-request-body", str(64 << 20)))
        )
        full = [
            start_proxy(
                stack,
                weir,
                workdir / "batch",
                f"batch-{kind}",
                delta=kind == "delta",
                lean_stats=options.lean_stats,
            )
            for kind in ("sotw", "delta")
        ]
        body = mesh_body(names, options, upstreams)
        with api_client(weir) as api:
            cpu = cpu_seconds(weir.pid or 0)
            started = time.monotonic()
            result = call(api, "POST", "/v1/apply", body)
            took = time.monotonic() - started
            converged = wait_for_clusters(
                full, options.services * options.instances, started + took
            )
            cpu = cpu_seconds(weir.pid or 0) - cpu
        say(f"  batch: {result['entries']} entries in one POST /v1/apply, {took:.2f} s")
        return Registration(result["entries"], took, converged, None, cpu)


def register_one_by_one(
    api_url: str, headers: dict[str, str], options: Options, upstreams: Upstreams
) -> tuple[float, list[float]]:
    """Every registration, one request at a time by `options.clients` clients; the wall time
    and each request's latency."""
    local = threading.local()
    latencies: list[float] = []

    def register(service: str) -> None:
        if not hasattr(local, "api"):
            local.api = httpx.Client(
                base_url=api_url, headers=headers, timeout=60.0, trust_env=False
            )
        for method, path, body in one_by_one_requests(service, options, upstreams):
            sent = time.perf_counter()
            call(local.api, method, path, body)
            latencies.append(time.perf_counter() - sent)

    started = time.monotonic()
    with ThreadPoolExecutor(options.clients) as pool:
        for _ in pool.map(register, service_names(options)):
            pass
    return time.monotonic() - started, latencies


def probe_api(weir: WeirProcess, options: Options, seconds: float) -> tuple[Summary, Summary]:
    """Reads an operator or a dashboard makes, at `options.probe_rps`, timed one by one from a
    process of their own (the bench's threads driving traffic would otherwise delay the
    client, not the server); each followed by a GET of a bare API on weir's stack (the
    baseline: what the machine itself adds to a request's time, in the same moments)."""
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "bench._bare_api", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
            weirs, bares = child.submit(
                _probe,
                weir.api_url,
                weir.headers,
                f"http://127.0.0.1:{port}",
                service_names(options),
                seconds,
                options.probe_rps,
            ).result()
    finally:
        bare.kill()
        bare.wait()
    return summarize(weirs, "requests"), summarize(bares, "requests")


def _probe(
    api_url: str,
    headers: dict[str, str],
    bare_url: str,
    names: list[str],
    seconds: float,
    rps: float,
) -> tuple[list[float], list[float]]:
    rng = random.Random(7)
    weirs: list[float] = []
    bares: list[float] = []
    interval = 1.0 / rps
    with (
        httpx.Client(base_url=api_url, headers=headers, timeout=10.0, trust_env=False) as api,
        httpx.Client(base_url=bare_url, timeout=10.0, trust_env=False) as bare,
    ):
        call(api, "GET", "/healthz")  # connections opened before the clock starts
        _until_up(bare)
        next_at = time.monotonic()
        deadline = next_at + seconds
        while time.monotonic() < deadline:
            service = rng.choice(names)
            path = rng.choice(
                [
                    "/healthz",
                    f"/v1/services/{service}",
                    f"/v1/instances?service={service}",
                    f"/v1/services/{service}/budget",
                    "/v1/proxies",
                ]
            )
            for client, path_, latencies in ((api, path, weirs), (bare, "/healthz", bares)):
                sent = time.perf_counter()
                call(client, "GET", path_)
                latencies.append(time.perf_counter() - sent)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    return weirs, bares


def _until_up(client: httpx.Client) -> None:
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while True:
        try:
            call(client, "GET", "/healthz")
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(LOOK_EVERY_S)


def run_canary(api: httpx.Client, rollbacks: int) -> Canary:
    """v2 rolled out to completion, then v3 rolled out and rolled back by the evaluator,
    `rollbacks` times (a rollback is a few evaluator ticks: its median over a few is steadier
    than one)."""
    completed_s, completed = roll_out(api, "v2")
    back = [roll_out(api, "v3") for _ in range(rollbacks)]
    states = {state for _, state in back}
    return Canary(
        completed_s,
        completed,
        statistics.median(seconds for seconds, _ in back),
        states.pop() if len(states) == 1 else "/".join(sorted(states)),
        [seconds for seconds, _ in back],
    )


def roll_out(api: httpx.Client, version: str) -> tuple[float, str]:
    """Seconds from POST /v1/rollouts to the rollout's end, and how it ended."""
    started = time.monotonic()
    call(api, "POST", "/v1/rollouts", {"service": CANARY, "version": version})
    while True:
        status = call(api, "GET", f"/v1/rollouts/{CANARY}")
        if status["state"] in ENDED:
            return time.monotonic() - started, str(status["state"])
        if time.monotonic() - started > ROLLOUT_TIMEOUT_S:
            raise RuntimeError(f"the rollout of {version} did not end: {status}")
        time.sleep(LOOK_EVERY_S)


def evaluator_ticks(api: httpx.Client) -> float:
    return histogram(api.get("/metrics").text, "weir_evaluator_tick_seconds")[1]


def after_a_tick(api: httpx.Client) -> None:
    """Wait until an evaluator tick that began after now has ended (two more ticks counted):
    the changes registered so far are open by then, however fast the registration went."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    ticks = evaluator_ticks(api)
    while evaluator_ticks(api) < ticks + 2:
        if time.monotonic() > deadline:
            raise RuntimeError("the evaluator did not tick")
        time.sleep(LOOK_EVERY_S)


def idle_phase(
    weir: WeirProcess, api: httpx.Client, options: Options, say: Callable[[str], None]
) -> Idle:
    after_a_tick(api)
    open_changes = len(call(api, "GET", "/v1/evaluations"))
    before = api.get("/metrics").text
    cpu, started = cpu_seconds(weir.pid or 0), time.monotonic()
    time.sleep(options.idle_s)
    seconds = time.monotonic() - started
    cpu_share = (cpu_seconds(weir.pid or 0) - cpu) / seconds
    after = api.get("/metrics").text
    _, count_before, sum_before = histogram(before, "weir_evaluator_tick_seconds")
    _, count_after, sum_after = histogram(after, "weir_evaluator_tick_seconds")
    lag_before, _, _ = histogram(before, "weir_event_loop_lag_seconds")
    lag_after, _, _ = histogram(after, "weir_event_loop_lag_seconds")
    ticks = int(count_after - count_before)
    say(f"  idle: {seconds:.0f} s, weir CPU {100 * cpu_share:.1f}% of a core")
    api_summary, bare_summary = probe_api(weir, options, options.probe_s)
    return Idle(
        seconds=seconds,
        cpu_share=cpu_share,
        open_changes=open_changes,
        ticks=ticks,
        tick_mean_ms=1000 * (sum_after - sum_before) / ticks if ticks else float("nan"),
        lag_p99_ms=1000 * bucket_quantile(lag_before, lag_after, 0.99),
        api=api_summary,
        bare_api=bare_summary,
    )


@contextmanager
def steady(proxy: Proxy, host: str, rps: float) -> Iterator[SteadyLoad]:
    with SteadyLoad(proxy.url, host, rps=rps, max_seconds=3600) as load:
        yield load


def the_mesh(
    workdir: Path, options: Options, upstreams: Upstreams, say: Callable[[str], None]
) -> tuple[Registration, Idle, Scoped, Canary]:
    names = service_names(options)
    called = names[1 : 1 + options.calls]
    with ExitStack() as stack:
        (workdir / "mesh").mkdir()
        weir = stack.enter_context(WeirProcess(workdir / "mesh"))
        where = workdir / "mesh"
        lean = options.lean_stats
        sotw = start_proxy(stack, weir, where, "full-sotw", delta=False, lean_stats=lean)
        delta = start_proxy(stack, weir, where, "full-delta", delta=True, lean_stats=lean)
        sidecar = start_proxy(
            stack, weir, where, "scoped-sidecar", delta=True, calls=called, group="sidecars",
            lean_stats=lean,
        )  # fmt: skip
        empty = start_proxy(
            stack, weir, where, "empty", delta=True, calls=[], group="empty", lean_stats=lean
        )
        api = stack.enter_context(api_client(weir))

        cpu = cpu_seconds(weir.pid or 0)
        took, latencies = register_one_by_one(weir.api_url, weir.headers, options, upstreams)
        converged = wait_for_clusters(
            [sotw, delta], options.services * options.instances, time.monotonic()
        )
        cpu = cpu_seconds(weir.pid or 0) - cpu
        requests = len(latencies)
        say(f"  one at a time: {requests} registrations by {options.clients} clients, {took:.1f} s")
        registration = Registration(
            requests, took, converged, summarize(latencies, "requests"), cpu
        )

        answers(sotw, CANARY, f"{CANARY}-0")
        answers(delta, called[0], f"{called[0]}-0")
        answers(sidecar, called[-1], f"{called[-1]}-0")
        for load in (
            steady(sotw, CANARY, options.rps),
            steady(delta, called[0], SIDE_RPS),
            steady(sidecar, called[-1], SIDE_RPS),
        ):
            stack.enter_context(load)
        idle = idle_phase(weir, api, options, say)
        scoped = Scoped(
            clusters=active_clusters(sidecar.envoy) - 1,
            rss=rss_bytes(sidecar.envoy.pid or 0),
            empty_rss=rss_bytes(empty.envoy.pid or 0),
            full_rss={p.envoy.name: rss_bytes(p.envoy.pid or 0) for p in (sotw, delta)},
        )
        canary = run_canary(api, options.rollbacks)
        say(f"  canary: {canary.completed_s:.1f} s, rollback {canary.rolled_back_s:.1f} s")
        return registration, idle, scoped, canary


def the_one_service_mesh(
    workdir: Path, options: Options, upstreams: Upstreams, say: Callable[[str], None]
) -> Canary:
    with ExitStack() as stack:
        (workdir / "alone").mkdir()
        weir = stack.enter_context(WeirProcess(workdir / "alone"))
        sotw = start_proxy(
            stack, weir, workdir / "alone", "alone-sotw", delta=False, lean_stats=options.lean_stats
        )
        api = stack.enter_context(api_client(weir))
        call(api, "POST", "/v1/apply", mesh_body([CANARY], options, upstreams))
        answers(sotw, CANARY, f"{CANARY}-0")
        stack.enter_context(steady(sotw, CANARY, options.rps))
        time.sleep(2.0)  # stats flowing, as in the big mesh
        canary = run_canary(api, options.rollbacks)
        say(f"  alone: canary {canary.completed_s:.1f} s, rollback {canary.rolled_back_s:.1f} s")
        return canary


def measure_whole_mesh(options: Options, say: Callable[[str], None] = print) -> WholeMesh:
    raise_open_files_limit()
    names = service_names(options)
    with tempfile.TemporaryDirectory(prefix="weir-whole-mesh-") as scratch, ExitStack() as stack:
        workdir = Path(scratch)
        upstreams = Upstreams()
        canary_ids = [i for i, _ in instance_plan(CANARY, options)]
        for instance_id, errors in zip(canary_ids[:3], (0.0, 0.0, CANARY_ERRORS), strict=True):
            upstreams.canary[instance_id] = stack.enter_context(
                Upstream(instance_id, error_rate=errors, error_status=500, seed=11)
            )
        for service in names[1 : 1 + options.calls]:
            instance_id = f"{service}-0"
            upstreams.called[instance_id] = stack.enter_context(Upstream(instance_id))
        batch = register_batch(workdir, options, upstreams, say)
        registration, idle, scoped, canary = the_mesh(workdir, options, upstreams, say)
        alone = the_one_service_mesh(workdir, options, upstreams, say)
    return WholeMesh(options, batch, registration, idle, scoped, canary, alone)


# The report.


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def goals(result: WholeMesh) -> dict[str, bool]:
    canary = result.canary
    alone = result.canary_alone
    return {
        "one_by_one": result.one_by_one.seconds <= GOAL_ONE_BY_ONE_S,
        "batch": result.batch.seconds <= GOAL_BATCH_S,
        "converged": max(result.batch.converged_s, result.one_by_one.converged_s)
        <= GOAL_CONVERGED_S,
        "idle_cpu": result.idle.cpu_share <= GOAL_IDLE_CPU,
        "api_p99": result.idle.api.p99_ms <= GOAL_API_P99_MS,
        "canary": canary.completed == alone.completed == "completed"
        and canary.rolled_back == alone.rolled_back == "rolled_back"
        and canary.completed_s / alone.completed_s <= GOAL_CANARY_RATIO
        and canary.rolled_back_s / alone.rolled_back_s <= GOAL_CANARY_RATIO,
        "scoped_clusters": result.scoped.clusters <= GOAL_SCOPED_CLUSTERS,
        "scoped_rss": result.scoped.rss - result.scoped.empty_rss <= GOAL_SCOPED_RSS_BYTES,
    }


def _times(seconds: list[float]) -> str:
    return ", ".join(f"{s:.1f}" for s in seconds)


def report(result: WholeMesh) -> list[str]:
    o, met = result.options, goals(result)
    clusters = o.services * o.instances
    mb = 1024 * 1024
    one, batch, idle, scoped = result.one_by_one, result.batch, result.idle, result.scoped
    canary, alone = result.canary, result.canary_alone
    latency = f"; each request {one.latency}" if one.latency else ""
    return [
        f"whole_mesh: {o.services} services x {o.instances} instances (one live each, "
        f"{clusters} clusters); weir serve with Envoys: SotW and delta holding everything, a "
        f"sidecar scoped to {o.calls} services, an empty one",
        f"one at a time: {one.requests} registrations by {o.clients} API clients in "
        f"{one.seconds:.1f} s (goal <= {GOAL_ONE_BY_ONE_S:g} s, {_met(met['one_by_one'])})"
        f"{latency}; weir's CPU {one.weir_cpu_s:.1f} s",
        f"  both full Envoys hold all {clusters} clusters {one.converged_s:.2f} s after the "
        f"last registration (goal <= {GOAL_CONVERGED_S:g} s)",
        f"as one batch: {batch.requests} entries in one POST /v1/apply in {batch.seconds:.2f} s "
        f"(goal <= {GOAL_BATCH_S:g} s, {_met(met['batch'])}); weir's CPU {batch.weir_cpu_s:.1f} s",
        f"  both full Envoys hold all {clusters} clusters {batch.converged_s:.2f} s after it "
        f"returned (goal <= {GOAL_CONVERGED_S:g} s); convergence goal {_met(met['converged'])}",
        f"idle for {idle.seconds:.0f} s ({idle.open_changes} open changes; traffic through every "
        f"Envoy, stats flowing): weir's CPU {100 * idle.cpu_share:.1f}% of a core (goal <= "
        f"{100 * GOAL_IDLE_CPU:g}%, {_met(met['idle_cpu'])}); {idle.ticks} evaluator ticks, "
        f"mean {idle.tick_mean_ms:.1f} ms; event loop lag p99 <= {idle.lag_p99_ms:g} ms",
        f"API while idle: {idle.api} (goal p99 <= {GOAL_API_P99_MS:g} ms, "
        f"{_met(met['api_p99'])}); a bare API on the same stack in the same moments "
        f"(baseline): {idle.bare_api}; ratio p99 {idle.api.p99_ms / idle.bare_api.p99_ms:.2f}x",
        f"canary at {o.services} services: v2 {canary.completed} in {canary.completed_s:.1f} s, "
        f"v3 {canary.rolled_back} in {_times(canary.rollbacks)} s (median "
        f"{canary.rolled_back_s:.1f}); in a one-service mesh (same traffic): {alone.completed} "
        f"in {alone.completed_s:.1f} s, {alone.rolled_back} in {_times(alone.rollbacks)} s "
        f"(median {alone.rolled_back_s:.1f})",
        f"  ratio {o.services} services / one: completion "
        f"{canary.completed_s / alone.completed_s:.2f}x, rollback "
        f"{canary.rolled_back_s / alone.rolled_back_s:.2f}x (goal <= {GOAL_CANARY_RATIO:g}x, "
        f"{_met(met['canary'])})",
        f"scoped sidecar: holds {scoped.clusters} clusters (goal <= {GOAL_SCOPED_CLUSTERS}, "
        f"{_met(met['scoped_clusters'])}); RSS {scoped.rss / mb:.1f} MB against an empty "
        f"Envoy's {scoped.empty_rss / mb:.1f} MB: {(scoped.rss - scoped.empty_rss) / mb:+.1f} MB "
        f"(goal <= {GOAL_SCOPED_RSS_BYTES // mb} MB, {_met(met['scoped_rss'])})",
        "  full Envoys: "
        + ", ".join(f"{name} RSS {rss / mb:.1f} MB" for name, rss in scoped.full_rss.items()),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=Options.services)
    parser.add_argument("--instances", type=int, default=Options.instances)
    parser.add_argument("--clients", type=int, default=Options.clients)
    parser.add_argument("--calls", type=int, default=Options.calls)
    parser.add_argument("--idle", type=float, default=Options.idle_s)
    parser.add_argument("--probe", type=float, default=Options.probe_s)
    parser.add_argument("--probe-rps", type=float, default=Options.probe_rps)
    parser.add_argument("--rps", type=float, default=Options.rps)
    parser.add_argument(
        "--steps", default=",".join(f"{s:g}" for s in Options.steps), help="the canary's steps"
    )
    parser.add_argument("--bake", default=Options.bake, help="the canary's least time a step")
    parser.add_argument(
        "--grace", default=Options.grace, help="how long the canary keeps the old version warm"
    )
    parser.add_argument("--rollbacks", type=int, default=Options.rollbacks)
    parser.add_argument(
        "--lean-stats",
        action="store_true",
        help="bootstrap the Envoys with --lean-stats (only the stats weir reads are pushed)",
    )
    args = parser.parse_args(argv)
    if args.instances < 3 or not 1 <= args.calls < args.services:
        parser.error("--instances must be at least 3, and --calls between 1 and --services - 1")
    options = Options(
        services=args.services,
        instances=args.instances,
        clients=args.clients,
        calls=args.calls,
        idle_s=args.idle,
        probe_s=args.probe,
        probe_rps=args.probe_rps,
        rps=args.rps,
        steps=tuple(float(step) for step in args.steps.split(",")),
        bake=args.bake,
        grace=args.grace,
        rollbacks=args.rollbacks,
        lean_stats=args.lean_stats,
    )
    result = measure_whole_mesh(options, say=lambda line: print(line, file=sys.stderr))
    for line in report(result):
        print(line)
    return 0 if all(goals(result).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
