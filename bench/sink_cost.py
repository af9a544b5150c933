"""What pushing stats costs, with all of Envoy's stats (the default bootstrap) and with
`--lean-stats` (the baseline, measured in the same run): bytes a second, and the CPU time weir
spends decoding and folding them, for one proxy of a mesh of a given size.

    python -m bench.sink_cost [--services 200] [--instances 5] [--seconds 8]

A control plane runs in this process (an in-memory-sized SQLite ledger in a scratch
directory) with `--services` services of `--instances` instances each, three of them live; one
real Envoy bootstrapped by `render_bootstrap` connects, idle (no traffic: every cluster still
reports the stats it has used). Each message the metrics sink receives is kept as its bytes,
and reading it as the sink does (stats/_wire.py finds weir's families in the bytes and decodes
those) and folding it into counts (stats/_push.py) is timed, beside decoding every family of it
(upb) as the sink did before, the baseline; each the least of five rounds, as the machine may
be shared. Over `--seconds` of flushes the sums are divided by the seconds. Then the same with
a `--lean-stats` bootstrap.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controlplane._gc import fewer_young_collections
from controlplane.bootstrap import render_bootstrap
from controlplane.defaults import SINK_BATCH_SIZE
from controlplane.harness import EnvoyProcess, free_port
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec
from controlplane.serve import ControlPlane, ServeConfig
from controlplane.stats._proto import metrics_service_pb2
from controlplane.stats._push import EVIDENCE, read_flush
from controlplane.stats._wire import Frame

LIVE = 3


@dataclass(frozen=True, slots=True)
class Cost:
    seconds: float
    messages: int
    metrics: int
    bytes: int
    cpu_s: float
    """Reading the messages as the sink does, and folding them."""
    full_cpu_s: float
    """Decoding every family of them instead (the baseline), and folding them."""
    batch_us: tuple[float, float] | None
    """Per full message (SINK_BATCH_SIZE metrics), on average: (as the sink does, the
    baseline), in microseconds; None without one."""

    @property
    def bytes_per_s(self) -> float:
        return self.bytes / self.seconds

    @property
    def cpu_ms_per_s(self) -> float:
        return 1000 * self.cpu_s / self.seconds


def _read_and_fold(raw: bytes) -> None:
    read_flush(EVIDENCE.families(Frame.decode(raw))).counts()


def _decode_all_and_fold(raw: bytes) -> None:
    message = metrics_service_pb2.StreamMetricsMessage.FromString(raw)
    read_flush(message.envoy_metrics).counts()


def _least(work: Callable[[bytes], None], raw: bytes, rounds: int = 5) -> float:
    least = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work(raw)
        least = min(least, time.perf_counter() - started)
    return least


def _cost(window: list[bytes], seconds: float) -> Cost:
    metrics = [len(metrics_service_pb2.StreamMetricsMessage.FromString(r).envoy_metrics)
               for r in window]  # fmt: skip
    wire = [_least(_read_and_fold, raw) for raw in window]
    full = [_least(_decode_all_and_fold, raw) for raw in window]
    batches = [n for n, count in enumerate(metrics) if count >= SINK_BATCH_SIZE]
    batch_us = None
    if batches:
        batch_us = (
            1e6 * sum(wire[n] for n in batches) / len(batches),
            1e6 * sum(full[n] for n in batches) / len(batches),
        )
    return Cost(seconds, len(window), sum(metrics), sum(map(len, window)), sum(wire), sum(full),
                batch_us)  # fmt: skip


async def _measure(
    plane: ControlPlane, xds: str, workdir: Path, lean: bool, seconds: float
) -> Cost:
    received: list[bytes] = []
    read = plane.metrics_sink.read

    def spy(raw: bytes) -> Frame:
        received.append(raw)
        return read(raw)

    plane.metrics_sink.read = spy  # type: ignore[method-assign]
    bootstrap = render_bootstrap(
        "sink-cost", "bench", xds=xds, listen=f"127.0.0.1:{free_port()}",
        admin=f"127.0.0.1:{free_port()}", lean_stats=lean,
    )  # fmt: skip
    name = "lean" if lean else "all"
    envoy = await asyncio.to_thread(lambda: EnvoyProcess(bootstrap, workdir, name=name).start())
    try:
        await asyncio.sleep(3)  # connected, configured, flushing
        received.clear()
        await asyncio.sleep(seconds)
        window = list(received)
    finally:
        await asyncio.to_thread(envoy.stop)
        plane.metrics_sink.read = read  # type: ignore[method-assign]
    return _cost(window, seconds)


async def measure_sink_cost(services: int, instances: int, seconds: float) -> tuple[Cost, Cost]:
    """(all of Envoy's stats, lean stats) for one idle proxy of the given mesh."""
    fewer_young_collections()  # the GC's pace `weir serve` sets for its process
    with tempfile.TemporaryDirectory(prefix="weir-sink-cost-") as scratch:
        workdir = Path(scratch)
        plane = ControlPlane(
            SqliteStore(workdir / "weir.db"), ServeConfig.on_free_ports(stats="off")
        )
        listening = await plane.start()
        try:
            controller = plane.controller
            for s in range(services):
                name = f"svc{s}"
                controller.apply_service(ServiceSpec(name=name), actor="bench")
                for i in range(instances):
                    instance_id = f"s{s}-i{i}"
                    address = f"127.0.0.1:{20000 + i}"
                    instance = Instance(id=instance_id, service=name, version="v1", address=address)
                    controller.add_instance(instance, actor="bench")
                    if i < LIVE:
                        controller.change(instance_id, Activation.live(10), actor="bench")
            every = await _measure(plane, listening.xds, workdir, False, seconds)
            lean = await _measure(plane, listening.xds, workdir, True, seconds)
        finally:
            await plane.stop(0)
    return every, lean


def report(services: int, instances: int, every: Cost, lean: Cost) -> list[str]:
    def line(label: str, cost: Cost) -> str:
        return (
            f"  {label:<38} {cost.bytes_per_s / 1000:9.1f} KB a second in "
            f"{cost.messages / cost.seconds:.1f} messages ({cost.metrics / cost.seconds:,.0f} "
            f"metrics); weir reads and folds them in {cost.cpu_ms_per_s:.2f} ms "
            f"(decoding every family: {1000 * cost.full_cpu_s / cost.seconds:.2f} ms)"
        )

    lines = [
        f"sink_cost: one idle Envoy, {services} services x {instances} instances "
        f"({services * instances:,} instance clusters), {every.seconds:g} s of flushes each way",
        line("all of Envoy's stats (the default):", every),
        line("--lean-stats (the baseline):", lean),
        f"  ratio: {every.bytes / max(lean.bytes, 1):,.0f}x the bytes, "
        f"{every.cpu_s / max(lean.cpu_s, 1e-9):,.0f}x weir's CPU "
        f"(decoding every family: {every.full_cpu_s / max(lean.full_cpu_s, 1e-9):,.0f}x)",
    ]
    if every.batch_us is not None:
        wire, full = every.batch_us
        lines.append(
            f"  a message of {SINK_BATCH_SIZE:,} metrics: read and folded in {wire:.0f} us, "
            f"decoding every family {full:.0f} us ({full / wire:.1f}x)"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sink_cost", description=__doc__)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    every, lean = asyncio.run(measure_sink_cost(args.services, args.instances, args.seconds))
    print("\n".join(report(args.services, args.instances, every, lean)))


if __name__ == "__main__":
    main()
