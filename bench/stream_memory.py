"""Where a connected ADS stream's memory goes: weir's own Python objects, grpc.aio's Python
objects, and grpc-core's C heap. The attribution behind bench.sim_clients' RSS per stream.

weir's XdsServer runs in this process (as `weir serve` runs it: its gRPC options, a
Controller with service `web` and two instances), with tracemalloc on; simulated clients
(bench._ads_client, Envoy-sized nodes) connect from a process of their own. With one client
connected, then all, it reads:

- the Python heap by the line that allocated each block (tracemalloc, one frame): weir's own
  modules (`controlplane/`) and the rest (asyncio, protobuf, grpc.aio). grpc.aio's Cython code
  has no frame of its own: what it allocates counts to the Python line that called into it,
  so the read each stream awaits (`_server.py`, `anext(requests)`) is grpc.aio's pending read
  under weir's name, and its callbacks count to asyncio's event loop;
- the C heap in use (glibc's mallinfo2: grpc-core's connections, streams and buffers, and
  Python objects over 512 bytes);
- not the RSS, which tracemalloc's own bookkeeping inflates: bench.sim_clients gives the RSS
  figure; this gives the shares;
- with `--changes N`, then (tracemalloc off) N changes that every client receives and ACKs,
  and every `--every` changes the C heap and the RSS per stream against just before the
  first: how a connected stream's memory moves over its life.

    python -m bench.stream_memory [--clients 2000] [--delta] [--top 12] [--changes N --every K]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import tracemalloc
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import uvloop

from bench._ads_client import ClientProcess
from bench._common import raise_open_files_limit, rss_bytes
from controlplane._gc import fewer_young_collections
from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import Activation, Instance, ServiceSpec
from controlplane.xds import XdsServer
from controlplane.xds._limits import XdsLimits

WEIR_ROOT = str(Path(__file__).resolve().parent.parent / "controlplane")
SETTLE_S = 1.0


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def c_heap_in_use() -> int:
    """Bytes glibc's malloc has handed out and not had back (all arenas, and mmapped)."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


PYMALLOC_MAX = 512
"""Python objects above this many bytes come from malloc, so the C heap counts them too."""


@dataclass(frozen=True, slots=True)
class Reading:
    c_heap: int
    """malloc's bytes in use, less tracemalloc's own tables and the Python objects it traces
    that malloc holds: what C code (grpc-core) holds."""
    tracer: int
    """tracemalloc's own memory."""
    python: tracemalloc.Snapshot

    @classmethod
    def now(cls) -> Reading:
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        tracer = tracemalloc.get_tracemalloc_memory()
        large = sum(t.size for t in snapshot.traces if t.size > PYMALLOC_MAX)
        return cls(c_heap_in_use() - tracer - large, tracer, snapshot)


@dataclass(frozen=True, slots=True)
class StreamMemory:
    clients: int
    c_heap: float
    """Bytes per stream, each a mean over the streams added after the first."""
    python_weir: float
    python_other: float
    top: list[tuple[str, float, float]]
    """(file:line, bytes per stream, blocks per stream), largest first."""
    timeline: list[tuple[int, float, float]]
    """(changes so far, C heap in use, RSS), per stream, against just before the first change
    (tracemalloc off by then): how a stream's memory moves as the changes come."""


def controller() -> Controller:
    c = Controller(SqliteStore(":memory:"))
    c.apply_service(ServiceSpec(name="web"), actor="bench")
    for n, instance_id in enumerate(("a", "b")):
        address = f"127.0.0.1:{20000 + n}"  # nothing listens: configuration only
        instance = Instance(id=instance_id, service="web", version="v1", address=address)
        c.add_instance(instance, actor="bench")
        c.change(instance_id, Activation.live(1), actor="bench")
    return c


async def _timeline(
    plane: Controller, fleet: ClientProcess, clients: int, changes: int, every: int
) -> list[tuple[int, float, float]]:
    """Flip instance b's weight `changes` times, each awaited by every client; the memory
    per stream every `every` changes."""
    tracemalloc.stop()
    gc.collect()
    heap, rss = c_heap_in_use(), rss_bytes(os.getpid())
    timeline = []
    for done in range(1, changes + 1):
        await asyncio.to_thread(fleet.mark)
        weight = 2 if plane.state.instances["b"].activation == Activation.live(1) else 1
        plane.change("b", Activation.live(weight), actor="bench")
        await asyncio.to_thread(fleet.await_change, 30.0)
        if done % every == 0 or done == changes:
            gc.collect()
            timeline.append(
                (done, (c_heap_in_use() - heap) / clients, (rss_bytes(os.getpid()) - rss) / clients)
            )
    return timeline


async def _measure(
    clients: int, delta: bool, top: int, changes: int = 0, every: int = 50
) -> StreamMemory:
    plane = controller()
    server = XdsServer(plane, limits=XdsLimits(streams_per_peer=clients + 1))
    port = await server.start("127.0.0.1:0")
    try:
        # The fleet is driven from threads: its calls block, and this loop serves it.
        fleet = ClientProcess(f"127.0.0.1:{port}").start()
        try:
            await asyncio.to_thread(fleet.grow, 1, delta=delta)
            await asyncio.sleep(SETTLE_S)
            one = Reading.now()
            await asyncio.to_thread(fleet.grow, clients - 1, delta=delta)
            await asyncio.sleep(SETTLE_S)
            all_ = Reading.now()
            timeline = await _timeline(plane, fleet, clients, changes, every) if changes else []
        finally:
            await asyncio.to_thread(fleet.stop)
    finally:
        await server.stop(0)
    added = clients - 1
    by_line = all_.python.compare_to(one.python, "lineno")
    shares: dict[bool, int] = defaultdict(int)
    for stat in by_line:
        shares[stat.traceback[0].filename.startswith(WEIR_ROOT)] += stat.size_diff
    return StreamMemory(
        clients=clients,
        c_heap=(all_.c_heap - one.c_heap) / added,
        python_weir=shares[True] / added,
        python_other=shares[False] / added,
        top=[
            (str(stat.traceback[0]), stat.size_diff / added, stat.count_diff / added)
            for stat in by_line[:top]
        ],
        timeline=timeline,
    )


def measure_stream_memory(
    clients: int, *, delta: bool = False, top: int = 12, changes: int = 0, every: int = 50
) -> StreamMemory:
    if clients < 2:
        raise ValueError("clients must be at least 2: one first, then the rest")
    raise_open_files_limit()
    fewer_young_collections()  # the GC's pace `weir serve` sets for its process
    tracemalloc.start()
    try:
        # as `weir serve` runs
        return uvloop.run(_measure(clients, delta, top, changes, max(every, 1)))
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()


def report(result: StreamMemory, *, protocol: str) -> list[str]:
    kb = 1024
    python = result.python_weir + result.python_other
    return [
        f"stream_memory: {result.clients} {protocol} streams on an in-process XdsServer "
        "(tracemalloc on), per stream beyond the first:",
        f"  Python heap {python / kb:.1f} KB: weir's own modules {result.python_weir / kb:.1f} KB, "
        f"grpc.aio, asyncio and protobuf {result.python_other / kb:.1f} KB",
        f"  C heap in use beside it (grpc-core; protobuf's arenas) {result.c_heap / kb:.1f} KB",
        "  (tracemalloc's own tables left out of both; bench.sim_clients has the RSS figure)",
        "  largest Python allocations per stream:",
        *(f"    {size:7.0f} B {count:5.1f} blocks  {line}" for line, size, count in result.top),
        *(
            ["  then, per stream, against just before the first change (tracemalloc off):"]
            if result.timeline
            else []
        ),
        *(
            f"    after {done:4d} changes: C heap {heap / kb:+6.1f} KB, RSS {rss / kb:+6.1f} KB"
            for done, heap, rss in result.timeline
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=2000, help="streams (default 2000)")
    parser.add_argument("--delta", action="store_true", help="delta streams (default SotW)")
    parser.add_argument("--top", type=int, default=12, help="allocation sites listed")
    parser.add_argument(
        "--changes", type=int, default=0, help="then this many changes, memory followed (0)"
    )
    parser.add_argument("--every", type=int, default=50, help="changes between readings")
    args = parser.parse_args(argv)
    if not 2 <= args.clients <= 20000:
        parser.error("--clients must be between 2 and 20000")
    if not 0 <= args.changes <= 10000 or args.every < 1:
        parser.error("--changes must be between 0 and 10000, --every at least 1")
    result = measure_stream_memory(
        args.clients,
        delta=args.delta,
        top=max(args.top, 0),
        changes=args.changes,
        every=args.every,
    )
    for line in report(result, protocol="delta" if args.delta else "SotW"):
        print(line)


if __name__ == "__main__":
    main()
