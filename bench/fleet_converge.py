"""20 real Envoys on one `weir serve`: from one change to every proxy having ACKed it.

`weir serve` runs as a child process with service `web` and two instances (`a` live at weight
1, `b` flipped between live weight 0 and 1,000,000 by each change: one POST to the API, which
changes the route configuration only, as in bench.weir_switch). Real Envoys (`envoy
--concurrency 1`, each bootstrapped by `render_bootstrap` as `weir bootstrap` prints it; SotW
ADS, or delta with --delta) connect to it. No traffic flows: the figure is configuration
convergence, not the data path (bench.weir_switch measures that).

Each change is timed from the moment the POST is sent to the moment weir received the last
proxy's ACK of it (and, beside it, the first). The ACK times come from weir itself, over CSDS
on the xDS port (`last_updated` of each resource a proxy holds, stamped when its ACK arrived),
read once the proxies have all ACKed: the reading is exact to the event loop's handling of
the ACK, costs one small gRPC call per look (no resource contents), and does not depend on
how often the bench looks. Polling each Envoy's admin instead would cost 20 HTTP requests per
look, each waking an Envoy, would time the moment of the look rather than of the ACK, and
weir's bootstrap keeps RDS stats out of Envoy's stats anyway; weir's convergence histogram on
/metrics is bucketed and starts at the snapshot's publication, not at the POST.

The baseline is the same, measured first in the same run with one Envoy; then the other
Envoys start and the changes are timed again. Goal: p99 <= 100 ms with 20 Envoys.

    python -m bench.fleet_converge [--proxies N] [--changes N] [--delta] [--serve-arg ARG]...
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc
from envoy.admin.v3 import config_dump_shared_pb2
from envoy.service.status.v3 import csds_pb2, csds_pb2_grpc

from bench._common import Summary, raise_open_files_limit, summarize
from bench.file_config_baseline import TARGETS as FILE_TARGETS
from bench.file_config_baseline import _bootstrap, _discovery, _listener, _routes, _XdsFiles
from bench.weir_switch import FLIPPED, WeirApi
from controlplane.bootstrap import render_bootstrap
from controlplane.harness import EnvoyProcess, WeirProcess, free_port
from controlplane.model import MAX_WEIGHT
from tests.support import static_cluster

GOAL_P99_MS = 100.0
FIRST_LOOK_S = 0.05
"""How long after the POST the bench first asks weir: most changes have converged by then, so
the bench's own questions rarely compete with the pushes it measures."""
LOOK_EVERY_S = 0.02
CHANGE_TIMEOUT_S = 30.0
PAUSE_S = 0.02


@dataclass(frozen=True, slots=True)
class Holding:
    """One proxy, as weir's CSDS reports it."""

    acked: frozenset[tuple[str, str, str]]
    """(type URL, name, version) of every resource it ACKed."""
    settled: bool
    """It holds every resource it should at the version weir serves now, none rejected."""
    last_ack: float
    """time.time() of the latest ACK weir received from it."""


class CsdsReader:
    """weir's CSDS (FetchClientStatus) on the xDS port: what each proxy ACKed, and when."""

    def __init__(self, xds: str) -> None:
        self._channel = grpc.insecure_channel(xds)
        self._stub = csds_pb2_grpc.ClientStatusDiscoveryServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def fetch(self) -> dict[str, Holding]:
        """Node id → what it holds."""
        request = csds_pb2.ClientStatusRequest(exclude_resource_contents=True)
        response = self._stub.FetchClientStatus(request, timeout=10)
        holdings = {}
        for config in response.config:
            acked = set()
            settled = bool(config.generic_xds_configs)
            last = 0.0
            for item in config.generic_xds_configs:
                if item.client_status == config_dump_shared_pb2.ACKED:
                    acked.add((item.type_url, item.name, item.version_info))
                    stamp = item.last_updated
                    last = max(last, stamp.seconds + stamp.nanos / 1e9)
                if (
                    item.client_status != config_dump_shared_pb2.ACKED
                    or item.config_status != csds_pb2.SYNCED
                ):
                    settled = False
            holdings[config.node.id] = Holding(frozenset(acked), settled, last)
        return holdings

    def wait(
        self,
        ready: dict[str, Holding] | int,
        *,
        timeout: float = CHANGE_TIMEOUT_S,
        first_look: float = 0.0,
    ) -> dict[str, Holding]:
        """Wait until every proxy is settled on something new: given holdings (before a
        change), until each of those proxies ACKed something else; given a count, until that
        many proxies are settled (at start)."""
        deadline = time.monotonic() + timeout
        time.sleep(first_look)
        while True:
            now = self.fetch()
            if isinstance(ready, int):
                done = len(now) == ready and all(h.settled for h in now.values())
            else:
                done = all(
                    node in now and now[node].settled and now[node].acked != before.acked
                    for node, before in ready.items()
                )
            if done:
                return now
            if time.monotonic() > deadline:
                raise TimeoutError(f"proxies not converged after {timeout:g}s: {now}")
            time.sleep(LOOK_EVERY_S)


@dataclass(frozen=True, slots=True)
class Changes:
    """Per change, seconds from the POST being sent to weir receiving the last proxy's ACK,
    the first proxy's ACK, the POST's own answer, and the last Envoy applying the change (its
    route configuration's `last_updated` in Envoy's /config_dump)."""

    proxies: int
    all_acked: list[float]
    first_acked: list[float]
    post: list[float]
    all_applied: list[float]


def applied_routes(envoy: EnvoyProcess) -> tuple[frozenset[str], float]:
    """The versions of the route configurations Envoy holds, and when it last applied one
    (time.time(), from Envoy's own clock: /config_dump's `last_updated`, which Envoy stamps
    to the millisecond, truncated)."""
    dump = envoy.config_dump("dynamic_route_configs")
    versions = set()
    last = 0.0
    for config in dump.get("configs", []):
        versions.add(str(config.get("version_info", "")))
        if "last_updated" in config:
            last = max(last, datetime.fromisoformat(config["last_updated"]).timestamp())
    return frozenset(versions), last


def time_changes(
    weir: WeirApi, csds: CsdsReader, envoys: list[EnvoyProcess], changes: int
) -> Changes:
    """Flip b's weight `changes` times, each once every proxy ACKed the previous one."""
    before = csds.fetch()
    last: list[float] = []
    first: list[float] = []
    post: list[float] = []
    applied: list[float] = []
    weight = 0
    for _ in range(changes):
        weight = MAX_WEIGHT if weight == 0 else 0
        time.sleep(PAUSE_S)
        sent = time.time()
        weir.activate(FLIPPED, weight)
        post.append(time.time() - sent)
        after = csds.wait(before, first_look=FIRST_LOOK_S)
        acks = [after[node].last_ack for node in before]
        last.append(max(acks) - sent)
        first.append(min(acks) - sent)
        # Read once all ACKed, off the clock: an ACK follows the update being applied.
        applied.append(max(applied_routes(e)[1] for e in envoys) - sent)
        before = after
    if weight:  # leave b at 0, where the next run starts
        weir.activate(FLIPPED, 0)
        csds.wait(before)
    return Changes(len(before), last, first, post, applied)


def measure_file_fleet(proxies: int, changes: int) -> list[float]:
    """The file-based baseline for a fleet: `proxies` Envoys watching one route file (as on a
    shared volume), each change a rename over it (bench.file_config_baseline's files). Per
    change, seconds from the rename to the last Envoy applying it (/config_dump)."""
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-file-fleet-")))
        files = _XdsFiles(root / "xds")
        clusters = [static_cluster(name, f"127.0.0.1:{free_port()}") for name in FILE_TARGETS]
        files.write("cds", _discovery("cluster.v3.Cluster", clusters))
        files.write("rds", _routes(FILE_TARGETS[0], 0))
        files.write("lds", _discovery("listener.v3.Listener", [_listener(files.path("rds"))]))
        envoys = [
            stack.enter_context(
                EnvoyProcess(_bootstrap(files), root, name=f"file-{n}", log_level="warning")
            )
            for n in range(proxies)
        ]
        _wait_applied(envoys, "0")
        samples = []
        for version in range(1, changes + 1):
            time.sleep(PAUSE_S)
            started = files.replace("rds", _routes(FILE_TARGETS[version % 2], version))
            renamed = time.time() - (time.perf_counter() - started)
            time.sleep(FIRST_LOOK_S)
            last = _wait_applied(envoys, str(version))
            samples.append(last - renamed)
    return samples


def _wait_applied(envoys: list[EnvoyProcess], version: str) -> float:
    """Wait until every Envoy holds route `version`; when the last one applied it."""
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    while True:
        held = [applied_routes(e) for e in envoys]
        if all(versions == {version} for versions, _ in held):
            return max(at for _, at in held)
        if time.monotonic() > deadline:
            raise TimeoutError(f"route version {version} not applied everywhere: {held}")
        time.sleep(LOOK_EVERY_S)


def _envoy(server: WeirProcess, root: Path, n: int, *, delta: bool) -> EnvoyProcess:
    bootstrap = render_bootstrap(
        f"fleet-{n}",
        "bench",
        xds=server.xds,
        listen=f"127.0.0.1:{free_port()}",
        admin=f"127.0.0.1:{free_port()}",
        delta=delta,
    )
    return EnvoyProcess(bootstrap, root, name=f"envoy-{n}", log_level="warning")


def measure_fleet_convergence(
    proxies: int,
    changes: int,
    *,
    delta: bool = False,
    serve_args: tuple[str, ...] = (),
    ledger_dir: Path | None = None,
) -> tuple[Changes, Changes]:
    """The baseline with one Envoy, then the same with `proxies` Envoys, on one weir.
    `ledger_dir`: where weir's SQLite ledger goes (default: the scratch directory)."""
    if proxies < 2:
        raise ValueError("proxies must be at least 2: one for the baseline, then the fleet")
    raise_open_files_limit()
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="weir-fleet-")))
        store = None
        if ledger_dir is not None:
            ledger = stack.enter_context(tempfile.TemporaryDirectory(dir=ledger_dir))
            store = Path(ledger) / "weir.db"
        server = stack.enter_context(WeirProcess(root, store=store, options=serve_args))
        weir = WeirApi(server.api_url, server.headers)
        stack.callback(weir.close)
        # Nothing listens on the instances' ports: no traffic flows, only configuration.
        weir.setup({name: f"127.0.0.1:{free_port()}" for name in ("a", FLIPPED)})
        csds = CsdsReader(server.xds)
        stack.callback(csds.close)

        envoys = [stack.enter_context(_envoy(server, root, 0, delta=delta))]
        csds.wait(1)
        single = time_changes(weir, csds, envoys, changes)
        for n in range(1, proxies):
            envoys.append(stack.enter_context(_envoy(server, root, n, delta=delta)))
        csds.wait(proxies)
        fleet = time_changes(weir, csds, envoys, changes)
    return single, fleet


def _ratios(fleet: Summary, single: Summary) -> str:
    return (
        f"median {fleet.median_ms / single.median_ms:.1f}x, p99 {fleet.p99_ms / single.p99_ms:.1f}x"
    )


def report(
    single: Changes, fleet: Changes, file: list[float] | None, *, protocol: str
) -> list[str]:
    fleet_all = summarize(fleet.all_acked, "changes")
    single_all = summarize(single.all_acked, "changes")
    fleet_applied = summarize(fleet.all_applied, "changes")
    verdict = "met" if fleet_all.p99_ms <= GOAL_P99_MS else "NOT met"
    n = fleet.proxies
    lines = [
        f"weir ({protocol} ADS), one POST -> ACKs received by weir (times from its CSDS):",
        f"  {n} Envoys, every proxy ACKed: {fleet_all} (goal p99 <= {GOAL_P99_MS:g} ms, {verdict})",
        f"  {n} Envoys, first proxy ACKed: {summarize(fleet.first_acked, 'changes')}",
        f"  {n} Envoys, every proxy applied it (Envoy's /config_dump): {fleet_applied}",
        f"  the POST itself: median {summarize(fleet.post).median_ms:.2f} ms",
        f"baseline, 1 Envoy ACKed: {single_all}",
        f"  the POST itself: median {summarize(single.post).median_ms:.2f} ms",
        f"{n} Envoys/1 Envoy ratio: {_ratios(fleet_all, single_all)}",
    ]
    if file is not None:
        file_all = summarize(file, "changes")
        lines += [
            f"baseline, envoy file-based xDS, route rename -> {n} Envoys applied it: {file_all}",
            f"weir/file ratio, every Envoy applied: {_ratios(fleet_applied, file_all)}",
        ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--proxies", type=int, default=20, help="Envoys in the fleet (20)")
    parser.add_argument("--changes", type=int, default=50, help="changes timed per side (50)")
    parser.add_argument("--delta", action="store_true", help="Envoy uses delta ADS, not SotW")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for `weir serve` (repeatable; --serve-arg=--stats --serve-arg=off)",
    )
    parser.add_argument(
        "--ledger-dir",
        type=Path,
        metavar="DIR",
        help="put weir's SQLite ledger here (e.g. /dev/shm, to leave the disk's fsync out)",
    )
    parser.add_argument(
        "--no-file", action="store_true", help="skip the file-based baseline (N more Envoys)"
    )
    args = parser.parse_args(argv)
    if args.proxies < 2:
        parser.error("--proxies must be at least 2")
    if args.changes < 1:
        parser.error("--changes must be at least 1")
    single, fleet = measure_fleet_convergence(
        args.proxies,
        args.changes,
        delta=args.delta,
        serve_args=tuple(args.serve_arg),
        ledger_dir=args.ledger_dir,
    )
    file = None if args.no_file else measure_file_fleet(args.proxies, args.changes)
    for line in report(single, fleet, file, protocol="delta" if args.delta else "SotW"):
        print(line)


if __name__ == "__main__":
    main()
