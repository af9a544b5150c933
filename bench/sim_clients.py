"""2,000 simulated ADS clients on one `weir serve`: how fast a change reaches all of them, and
what each connected stream costs the controller in memory.

`weir serve` runs as a child process; the clients (bench._ads_client: one gRPC channel and
ADS stream each, SotW or --delta, ACKing every response as Envoy does) run in another, so
neither shares a GIL with the other. The change is the one bench.weir_switch makes: one POST
moving instance `b`'s live weight between 0 and 1,000,000, which changes the route
configuration only. A client has the change when the response carrying it reaches it; the
figure per change is the time from the POST being sent to the last client (and to the 99th
percentile client). The baseline is the same change with one client, measured first in the
same run. The controller's RSS (VmRSS of the `weir serve` process) is read with that one
client connected and again once all are connected and synced: the growth per stream. Its
baseline is the same fleet on a bare grpc.aio ADS server (bench._bare_ads), what any Python
ADS server on grpcio pays per stream before it keeps any state of its own.

    python -m bench.sim_clients [--clients N] [--changes N] [--delta] [--serve-arg ARG]...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench._ads_client import REPO_ROOT, ClientProcess
from bench._common import cpu_seconds, p99, raise_open_files_limit, rss_bytes, summarize
from bench.weir_switch import FLIPPED, WeirApi
from controlplane.harness import WeirProcess, free_port, stop_process
from controlplane.model import MAX_WEIGHT

GOAL_ALL_S = 1.0
GOAL_STREAM_BYTES = 50 * 1024
CHANGE_TIMEOUT_S = 30.0
SETTLE_S = 1.0
"""After the fleet connected, before the RSS is read: the last ACKs are still being handled."""

STREAM_CAP_OPTIONS = ("--xds-streams-per-peer", "100000")
"""2,000 streams all come from 127.0.0.1 (grpcio cannot bind a client channel to another
loopback source address), so the per-address cap (64 by default) is lifted for the bench."""


@dataclass(frozen=True, slots=True)
class FleetRun:
    clients: int
    connect_s: float
    """Seconds from the first handshake to every new client synced."""
    rss_single: int
    """The controller's RSS with one client connected (bytes)."""
    rss_fleet: int
    """With all connected and synced."""
    single: list[float]
    """Per change, seconds from the POST being sent to the one client having it."""
    slowest: list[float]
    """Per change, seconds to the last of all clients."""
    p99_client: list[float]
    """Per change, seconds to the 99th percentile client."""
    cpu_per_change: tuple[float, float]
    """CPU seconds `weir serve` used per change (the changes' total over their count), with
    one client and with all: on a shared machine, the cost apart from the waiting."""
    bare_rss: tuple[int, int]
    """The memory baseline: RSS of a bare grpc.aio ADS server (bench._bare_ads) with one
    client, then with all of them."""
    bare_limits_rss: tuple[int, int]
    """The same with the gRPC options weir's xDS port has (XdsLimits): what grpc-core itself
    costs per connection there; the rest is weir's."""

    @property
    def bytes_per_stream(self) -> float:
        return (self.rss_fleet - self.rss_single) / max(self.clients - 1, 1)

    @property
    def bare_bytes_per_stream(self) -> float:
        return (self.bare_rss[1] - self.bare_rss[0]) / max(self.clients - 1, 1)

    @property
    def bare_limits_bytes_per_stream(self) -> float:
        return (self.bare_limits_rss[1] - self.bare_limits_rss[0]) / max(self.clients - 1, 1)


def _timed_changes(
    weir: WeirApi, fleet: ClientProcess, changes: int, pid: int
) -> tuple[list[list[float]], float]:
    """Make `changes` changes one after the other: for each, every client's seconds from the
    POST being sent to the change reaching it; and the CPU seconds per change of process
    `pid` (weir serve)."""
    used = cpu_seconds(pid)
    results = []
    weight = 0
    for _ in range(changes):
        weight = MAX_WEIGHT if weight == 0 else 0
        fleet.mark()
        sent = time.time()
        weir.activate(FLIPPED, weight)
        arrived = fleet.await_change(CHANGE_TIMEOUT_S)
        results.append([t - sent for t in arrived])
    cpu = (cpu_seconds(pid) - used) / changes
    # Leave b where it started, so that the next run's first change is a change.
    if weight:
        fleet.mark()
        weir.activate(FLIPPED, 0)
        fleet.await_change(CHANGE_TIMEOUT_S)
    return results, cpu


def _fleet_rss(pid: int, fleet: ClientProcess, clients: int, *, delta: bool) -> tuple[int, int]:
    """RSS of process `pid` with one client connected, then with `clients`."""
    fleet.grow(1, delta=delta)
    one = rss_bytes(pid)
    fleet.grow(clients - 1, delta=delta)
    time.sleep(SETTLE_S)
    return one, rss_bytes(pid)


def measure_bare_rss(
    clients: int, *, delta: bool = False, weir_options: bool = False
) -> tuple[int, int]:
    """The same fleet on a bare grpc.aio ADS server: its RSS with one client, then all.
    `weir_options`: with the gRPC options of weir's xDS port."""
    address = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "bench._bare_ads", address]
        + (["--weir-options"] if weir_options else []),
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the bare ADS server did not start ({server.poll()})")
        with ClientProcess(address) as fleet:
            return _fleet_rss(server.pid, fleet, clients, delta=delta)
    finally:
        stop_process(server)


def measure_sim_clients(
    clients: int, changes: int, *, delta: bool = False, serve_args: tuple[str, ...] = ()
) -> FleetRun:
    """One client first (the baseline), then `clients` in all, on one `weir serve`."""
    if clients < 2:
        raise ValueError("clients must be at least 2: one for the baseline, then the fleet")
    raise_open_files_limit()  # before the children start: they inherit it
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-sim-")))
        options = (*STREAM_CAP_OPTIONS, *serve_args)
        server = stack.enter_context(WeirProcess(root, options=options))
        assert server.pid is not None
        weir = WeirApi(server.api_url, server.headers)
        stack.callback(weir.close)
        # Nothing listens on the instances' ports: no traffic flows, only configuration.
        weir.setup({name: f"127.0.0.1:{free_port()}" for name in ("a", FLIPPED)})
        fleet = stack.enter_context(ClientProcess(server.xds))

        fleet.grow(1, delta=delta)
        ones, cpu_single = _timed_changes(weir, fleet, changes, server.pid)
        single = [times[0] for times in ones]
        rss_single = rss_bytes(server.pid)
        connect_s = fleet.grow(clients - 1, delta=delta)
        time.sleep(SETTLE_S)
        rss_fleet = rss_bytes(server.pid)
        many, cpu_fleet = _timed_changes(weir, fleet, changes, server.pid)
    bare = measure_bare_rss(clients, delta=delta)
    bare_limits = measure_bare_rss(clients, delta=delta, weir_options=True)
    return FleetRun(
        clients=clients,
        connect_s=connect_s,
        rss_single=rss_single,
        rss_fleet=rss_fleet,
        single=single,
        slowest=[max(times) for times in many],
        p99_client=[p99(times) for times in many],
        cpu_per_change=(cpu_single, cpu_fleet),
        bare_rss=bare,
        bare_limits_rss=bare_limits,
    )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(run: FleetRun, *, protocol: str) -> list[str]:
    mib = 1024 * 1024
    all_ = summarize(run.slowest, "changes")
    p99_ = summarize(run.p99_client, "changes")
    single = summarize(run.single, "changes")
    per_stream = run.bytes_per_stream
    bare = run.bare_bytes_per_stream
    limits = run.bare_limits_bytes_per_stream
    return [
        f"{run.clients} simulated ADS clients ({protocol}) on one `weir serve`:",
        f"  {run.clients - 1} more streams connected and synced in {run.connect_s:.2f} s",
        f"  controller RSS: {run.rss_single / mib:.1f} MiB with 1 stream, "
        f"{run.rss_fleet / mib:.1f} MiB with {run.clients}: {per_stream / 1024:+.1f} KB per "
        f"stream (goal <= {GOAL_STREAM_BYTES // 1024} KB, {_met(per_stream <= GOAL_STREAM_BYTES)})",
        f"  baseline, a bare grpc.aio ADS server (bench._bare_ads): {run.bare_rss[0] / mib:.1f} "
        f"MiB -> {run.bare_rss[1] / mib:.1f} MiB: {bare / 1024:+.1f} KB per stream; "
        f"weir/bare ratio {f'{per_stream / bare:.2f}x' if bare > 0 else 'n/a'}",
        f"  the same with weir's gRPC options (XdsLimits): {run.bare_limits_rss[0] / mib:.1f} "
        f"MiB -> {run.bare_limits_rss[1] / mib:.1f} MiB: {limits / 1024:+.1f} KB per stream; "
        f"weir adds {(per_stream - limits) / 1024:+.1f} KB",
        f"  POST sent -> all {run.clients} clients have the change: {all_} "
        f"(goal <= {GOAL_ALL_S:g} s, {_met(all_.p99_ms <= GOAL_ALL_S * 1000)})",
        f"  POST sent -> 99% of the clients have it: {p99_}",
        f"  weir's CPU per change: {run.cpu_per_change[1] * 1000:.0f} ms, "
        f"{(run.cpu_per_change[1] - run.cpu_per_change[0]) / (run.clients - 1) * 1e6:.0f} us "
        f"per more stream (with one client: {run.cpu_per_change[0] * 1000:.1f} ms; "
        f"/proc ticks of 10 ms)",
        f"baseline, POST sent -> the one client has it: {single}",
        f"all {run.clients}/one client ratio: median {all_.median_ms / single.median_ms:.1f}x, "
        f"p99 {all_.p99_ms / single.p99_ms:.1f}x",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=2000, help="simulated clients (2000)")
    parser.add_argument("--changes", type=int, default=20, help="changes timed per side (20)")
    parser.add_argument("--delta", action="store_true", help="delta ADS, not SotW")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for `weir serve` (repeatable), e.g. to raise a stream cap",
    )
    args = parser.parse_args(argv)
    if args.clients < 2:
        parser.error("--clients must be at least 2")
    if args.changes < 1:
        parser.error("--changes must be at least 1")
    run = measure_sim_clients(
        args.clients, args.changes, delta=args.delta, serve_args=tuple(args.serve_arg)
    )
    for line in report(run, protocol="delta" if args.delta else "SotW"):
        print(line)


if __name__ == "__main__":
    main()
