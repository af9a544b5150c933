"""A mesh of 1,000 services x 5 instances: how long weir takes to build and encode every
resource, and how many bytes one delta client receives for a one-instance weight change.

The mesh is a real Controller's state on an in-memory ledger: per service two domains, three
live instances, one shadow and one inactive. Measured in one run:

- full build + serialise: `ResourceBuilder` from nothing (a fresh builder each run, so nothing
  is remembered), every resource encoded to its bytes; median over the runs, against the goal
  of 100 ms;
- rebuild after a one-instance weight change, by the builder that built the state before (what
  the xDS server does on every ledger append);
- CPU per stream for that change when many streams share the view (as on a fleet: the work
  common to all is done once per view), delta and SotW, against what one stream alone costs;
- bytes to one delta client for that change: weir's XdsServer on 127.0.0.1 with a light delta
  ADS client that subscribes as Envoy 1.40 does and ACKs everything; the serialized
  DeltaDiscoveryResponses it receives after the change, against the goal of 2 KB. Beside it,
  in the same run, the baseline: what the same DeltaSession sends for the same change when the
  route configuration carries every virtual host inline (delta before VHDS), and the SotW
  figure over gRPC (SotW can only carry whole route configurations).

    python -m bench.mesh_scale [--services 1000] [--instances 5] [--runs 9]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from controlplane.control import Controller
from controlplane.ledger import SqliteStore
from controlplane.model import (
    Activation,
    ActivationChanged,
    Instance,
    InstanceRegistered,
    ProposedEntry,
    ServiceApplied,
    ServiceSpec,
    State,
    apply_event,
)
from controlplane.resources import (
    CLUSTER_TYPE,
    LISTENER_TYPE,
    ROUTE_CONFIG_NAME,
    ROUTE_TYPE,
    VHOST_TYPE,
    ResourceBuilder,
    Resources,
    build_listener,
)
from controlplane.xds import XdsServer
from controlplane.xds._delta import DeltaSession
from controlplane.xds._sotw import SotwSession
from controlplane.xds._view import ServedView, ViewCache
from tests.xds._client import AdsClient

GOAL_BUILD_MS = 100.0
GOAL_DELTA_BYTES = 2048
STREAMS = 200
"""Streams sharing each view in the per-stream CPU figure."""
QUIET_S = 0.5
"""A client has everything once no response came for this long after its last ACK."""
CHANGED = "svc-0000-i1"
"""The instance whose weight changes: live at 100, then 50."""
LISTENER = build_listener("127.0.0.1", 15001)


def mesh(services: int, instances: int) -> Controller:
    """A controller over an in-memory ledger holding the mesh, one batch per service."""
    controller = Controller(SqliteStore(":memory:"))
    plan = [Activation.live(100)] * 3 + [Activation.shadow(5)]
    for s in range(services):
        name = f"svc-{s:04d}"
        events: list[Any] = [
            ServiceApplied(spec=ServiceSpec(name=name, domains=(f"{name}.internal",)))
        ]
        for i in range(instances):
            address = f"10.{s // 256}.{s % 256}.{i + 1}:8080"
            instance = Instance(id=f"{name}-i{i}", service=name, version=f"v{i}", address=address)
            events.append(InstanceRegistered(instance=instance))
        for i, after in enumerate(plan[:instances]):
            events.append(
                ActivationChanged(
                    instance_id=f"{name}-i{i}",
                    service=name,
                    before=Activation.inactive(),
                    after=after,
                )
            )
        controller.submit([ProposedEntry(actor="bench", reason="mesh", event=e) for e in events])
    return controller


def reweighted(state: State, weight: int) -> State:
    record = state.instances[CHANGED]
    event = ActivationChanged(
        instance_id=CHANGED,
        service=record.instance.service,
        before=record.activation,
        after=Activation.live(weight),
    )
    return apply_event(state, event, state.seq + 1)


@dataclass(frozen=True, slots=True)
class Timing:
    wall: float
    cpu: float
    """This thread's CPU time: what the work costs, whatever else the machine is running."""


def timed(build: Callable[[], Resources]) -> Timing:
    wall, cpu = time.perf_counter(), time.thread_time()
    build()
    return Timing(time.perf_counter() - wall, time.thread_time() - cpu)


def measure_build(state: State, runs: int) -> list[Timing]:
    """A full build + serialise, a fresh builder each run."""
    return [timed(partial(ResourceBuilder(), state)) for _ in range(runs)]


def measure_rebuild(state: State, runs: int) -> list[Timing]:
    """A rebuild after a one-instance weight change, by the builder that built the state
    before (the weight flips between 50 and 100)."""
    builder = ResourceBuilder()
    builder(state)
    states = [reweighted(state, 50), state]
    return [timed(partial(builder, states[n % 2])) for n in range(runs)]


# Bytes for one change, in process: the very DeltaSession the server runs, a client that ACKs.


def _ack(session: DeltaSession, response: discovery_pb2.DeltaDiscoveryResponse) -> None:
    session.on_request(
        discovery_pb2.DeltaDiscoveryRequest(
            type_url=response.type_url, response_nonce=response.nonce
        )
    )


def _subscribe_as_envoy(session: DeltaSession) -> None:
    for type_url, names in (
        (CLUSTER_TYPE, []),
        (LISTENER_TYPE, []),
        (ROUTE_TYPE, [ROUTE_CONFIG_NAME]),
        (VHOST_TYPE, []),
    ):
        request = discovery_pb2.DeltaDiscoveryRequest(
            type_url=type_url, resource_names_subscribe=names
        )
        session.on_request(request)


def _drain(session: DeltaSession, view: ServedView) -> list[discovery_pb2.DeltaDiscoveryResponse]:
    sent = []
    while batch := session.responses(view):
        for response in batch:
            _ack(session, response)
        sent += batch
    return sent


def _sotw_subscribe(session: SotwSession) -> None:
    for type_url, names in ((CLUSTER_TYPE, []), (LISTENER_TYPE, []), (ROUTE_TYPE, ["weir"])):
        session.on_request(discovery_pb2.DiscoveryRequest(type_url=type_url, resource_names=names))


def _sotw_drain(session: SotwSession, view: ServedView) -> int:
    sent = 0
    while batch := session.responses(view):
        for response in batch:
            session.on_request(
                discovery_pb2.DiscoveryRequest(
                    type_url=response.type_url,
                    version_info=response.version_info,
                    response_nonce=response.nonce,
                    resource_names=[ROUTE_CONFIG_NAME] if response.type_url == ROUTE_TYPE else [],
                )
            )
        sent += len(batch)
    return sent


def _synced_streams(
    views: ViewCache, before: Resources, protocol: str, streams: int
) -> list[Callable[[ServedView], object]]:
    """`streams` sessions of `protocol` synced to `before`; each one's drain."""
    first = views.of(before, LISTENER, protocol)
    drains: list[Callable[[ServedView], object]] = []
    for _ in range(streams):
        if protocol == "delta":
            delta = DeltaSession(on_ack=lambda *_: None, on_nack=lambda *_: None)
            _subscribe_as_envoy(delta)
            drains.append(partial(_drain, delta))
        else:
            sotw = SotwSession(on_ack=lambda *_: None, on_nack=lambda *_: None)
            _sotw_subscribe(sotw)
            drains.append(partial(_sotw_drain, sotw))
        drains[-1](first)
    return drains


def per_stream_cpu(before: Resources, after: Resources, protocol: str, streams: int) -> float:
    """CPU seconds per stream for before -> after, `streams` synced streams of `protocol`
    sharing one view per snapshot (the server's ViewCache): responses and their ACKs."""
    views = ViewCache()
    drains = _synced_streams(views, before, protocol, streams)
    view = views.of(after, LISTENER, protocol)
    started = time.thread_time()
    for drain in drains:
        drain(view)
    return (time.thread_time() - started) / streams


def per_stream_bytes(before: Resources, after: Resources, protocol: str, streams: int) -> float:
    """Python memory per stream (tracemalloc) of `streams` sessions synced to `before`, then
    to `after`: what each keeps, plus its part of what the views work out for all."""
    views = ViewCache()
    views.of(before, LISTENER, protocol)  # the views themselves are the snapshot's, not theirs
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.take_snapshot()
        drains = _synced_streams(views, before, protocol, streams)
        view = views.of(after, LISTENER, protocol)
        for drain in drains:
            drain(view)
        gc.collect()
        grown = tracemalloc.take_snapshot().compare_to(start, "filename")
    finally:
        tracemalloc.stop()
    return sum(stat.size_diff for stat in grown) / streams


def session_bytes(before: Resources, after: Resources, protocol: str) -> list[int]:
    """Sizes of the responses a synced delta stream gets for before -> after, with the routes
    in `protocol`'s form ("delta": VHDS; "sotw": one route configuration, all inline)."""
    session = DeltaSession(on_ack=lambda *_: None, on_nack=lambda *_: None)
    _subscribe_as_envoy(session)
    _drain(session, ServedView.of(before, LISTENER, protocol))
    return [r.ByteSize() for r in _drain(session, ServedView.of(after, LISTENER, protocol))]


def scoped_rds_bytes(after: Resources, vhds: list[discovery_pb2.DeltaDiscoveryResponse]) -> int:
    """What scoped RDS would send for the change: the VHDS response with its virtual host
    turned into a route configuration of its own (the envelope and the routing are the same)."""
    total = 0
    for response in vhds:
        scoped = discovery_pb2.DeltaDiscoveryResponse()
        scoped.CopyFrom(response)
        scoped.type_url = ROUTE_TYPE
        for resource in scoped.resources:
            vhost = route_components_pb2.VirtualHost()
            resource.resource.Unpack(vhost)
            config = route_pb2.RouteConfiguration(name=resource.name, virtual_hosts=[vhost])
            packed = any_pb2.Any()
            packed.Pack(config, deterministic=True)
            resource.resource.CopyFrom(packed)
        total += scoped.ByteSize()
    return total


# Bytes for one change over gRPC: weir's XdsServer and a light client on 127.0.0.1.


class _Reader:
    """Responses from an AdsClient, waiting at most QUIET_S for each. The read in progress is
    kept across calls rather than cancelled: cancelling a read would end the stream."""

    def __init__(self, client: AdsClient) -> None:
        self._client = client
        self._pending: asyncio.Future[Any] | None = None

    async def until_quiet(self, *, delta: bool) -> list[Any]:
        received: list[Any] = []
        while True:
            if self._pending is None:
                self._pending = asyncio.ensure_future(self._client.receive())
            done, _ = await asyncio.wait({self._pending}, timeout=QUIET_S)
            if not done:
                return received
            response, self._pending = self._pending.result(), None
            received.append(response)
            if delta:
                ack = discovery_pb2.DeltaDiscoveryRequest(
                    type_url=response.type_url, response_nonce=response.nonce
                )
                self._client.send(ack)
            else:
                names = [ROUTE_CONFIG_NAME] if response.type_url == ROUTE_TYPE else []
                self._client.ack(response, *names)

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()


def _subscriptions(*, delta: bool) -> list[Any]:
    """What Envoy 1.40 asks for first, on a delta or a SotW stream."""
    names = {ROUTE_TYPE: [ROUTE_CONFIG_NAME]}
    types = [CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE]
    if not delta:
        return [
            discovery_pb2.DiscoveryRequest(type_url=t, resource_names=names.get(t, []))
            for t in types
        ]
    return [
        discovery_pb2.DeltaDiscoveryRequest(type_url=t, resource_names_subscribe=names.get(t, []))
        for t in [*types, VHOST_TYPE]
    ]


async def _grpc_bytes(controller: Controller) -> tuple[list[int], list[int]]:
    server = XdsServer(controller)
    port = await server.start("127.0.0.1:0")
    readers: list[_Reader] = []
    try:
        async with (
            AdsClient(f"127.0.0.1:{port}", "bench-delta", delta=True) as delta,
            AdsClient(f"127.0.0.1:{port}", "bench-sotw") as sotw,
        ):
            readers = [_Reader(delta), _Reader(sotw)]
            for client, is_delta in ((delta, True), (sotw, False)):
                for request in _subscriptions(delta=is_delta):
                    client.send(request)
            for reader, is_delta in zip(readers, (True, False), strict=True):
                if not await reader.until_quiet(delta=is_delta):
                    raise RuntimeError("the server sent nothing to a new client")
            weight = 50 if controller.state.instances[CHANGED].activation.weight == 100 else 100
            controller.change(CHANGED, Activation.live(weight), actor="bench")
            got = await asyncio.gather(
                readers[0].until_quiet(delta=True), readers[1].until_quiet(delta=False)
            )
            return [r.ByteSize() for r in got[0]], [r.ByteSize() for r in got[1]]
    finally:
        for reader in readers:
            reader.close()
        await server.stop(0)


def grpc_bytes(controller: Controller) -> tuple[list[int], list[int]]:
    """Sizes of the responses a delta client and a SotW client get from weir's server for a
    one-instance weight change."""
    return asyncio.run(_grpc_bytes(controller))


@dataclass(frozen=True, slots=True)
class MeshScale:
    services: int
    instances: int
    clusters: int
    build: list[Timing]
    rebuild: list[Timing]
    delta_grpc: list[int]
    """Response sizes over gRPC to a delta client (VHDS)."""
    delta_session: list[int]
    """The same, from the DeltaSession in process."""
    baseline: list[int]
    """The DeltaSession's responses with every virtual host inline: delta before VHDS."""
    scoped_rds: int
    sotw_grpc: list[int]
    session_cpu: float
    """CPU seconds one DeltaSession spent on the change (its responses and their ACKs)."""
    streams: int
    stream_cpu: dict[str, float]
    """Protocol → CPU seconds per stream for the change, `streams` streams sharing a view."""
    alone_cpu: dict[str, float]
    """Protocol → the same with one stream: it does the view's shared work alone."""
    stream_bytes: dict[str, float]
    """Protocol → Python memory per synced stream, `streams` of them sharing the views."""


def measure_mesh_scale(
    services: int = 1000, instances: int = 5, runs: int = 9, streams: int = STREAMS
) -> MeshScale:
    controller = mesh(services, instances)
    state = controller.state
    build = measure_build(state, runs)
    rebuild = measure_rebuild(state, runs)
    builder = ResourceBuilder()  # one builder for both, as the server has
    before = builder(state)
    after = builder(reweighted(state, 50))
    vhds_session = DeltaSession(on_ack=lambda *_: None, on_nack=lambda *_: None)
    _subscribe_as_envoy(vhds_session)
    _drain(vhds_session, ServedView.of(before, LISTENER, "delta"))
    started = time.thread_time()
    vhds_responses = _drain(vhds_session, ServedView.of(after, LISTENER, "delta"))
    session_cpu = time.thread_time() - started
    delta_grpc, sotw_grpc = grpc_bytes(controller)
    protocols = ("delta", "sotw")
    return MeshScale(
        services=services,
        instances=instances,
        clusters=len(before.clusters),
        build=build,
        rebuild=rebuild,
        delta_grpc=delta_grpc,
        delta_session=[r.ByteSize() for r in vhds_responses],
        baseline=session_bytes(before, after, "sotw"),
        scoped_rds=scoped_rds_bytes(after, vhds_responses),
        sotw_grpc=sotw_grpc,
        session_cpu=session_cpu,
        streams=streams,
        stream_cpu={p: per_stream_cpu(before, after, p, streams) for p in protocols},
        alone_cpu={p: per_stream_cpu(before, after, p, 1) for p in protocols},
        stream_bytes={p: per_stream_bytes(before, after, p, streams) for p in protocols},
    )


def _ms(samples: list[Timing]) -> str:
    wall = [t.wall * 1000 for t in samples]
    cpu = [t.cpu * 1000 for t in samples]
    return (
        f"wall median {statistics.median(wall):.1f} ms (min {min(wall):.1f}, "
        f"max {max(wall):.1f}); CPU median {statistics.median(cpu):.1f} ms"
    )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(result: MeshScale) -> list[str]:
    wall_ms = statistics.median(t.wall for t in result.build) * 1000
    cpu_ms = statistics.median(t.cpu for t in result.build) * 1000
    sent = sum(result.delta_grpc)
    baseline = sum(result.baseline)
    runs = len(result.build)
    return [
        f"mesh: {result.services} services x {result.instances} instances "
        f"({result.clusters} clusters, {result.services} virtual hosts)",
        f"full build + serialise (a fresh ResourceBuilder), {runs} runs: {_ms(result.build)}",
        f"  ratio to the {GOAL_BUILD_MS:.0f} ms goal: wall {wall_ms / GOAL_BUILD_MS:.2f}x "
        f"({_met(wall_ms <= GOAL_BUILD_MS)}), CPU {cpu_ms / GOAL_BUILD_MS:.2f}x "
        f"({_met(cpu_ms <= GOAL_BUILD_MS)}); wall above CPU is time the machine gave others",
        f"rebuild after a one-instance weight change (remembering builder), "
        f"{len(result.rebuild)} runs: {_ms(result.rebuild)}",
        f"CPU per stream for that change, {result.streams} synced streams sharing each view "
        "(responses and ACKs), against one stream alone (it does the view's shared work):",
        *(
            f"  {protocol}: {result.stream_cpu[protocol] * 1e6:.0f} us a stream, alone "
            f"{result.alone_cpu[protocol] * 1e6:.0f} us (ratio "
            f"{result.stream_cpu[protocol] / result.alone_cpu[protocol]:.3f}x)"
            for protocol in ("delta", "sotw")
        ),
        f"Python memory per synced stream, {result.streams} sharing the views (tracemalloc; "
        f"grpc's own per connection not included): delta "
        f"{result.stream_bytes['delta'] / 1024:.1f} KB, SotW "
        f"{result.stream_bytes['sotw'] / 1024:.1f} KB",
        "bytes one client receives for that weight change:",
        f"  weir delta (VHDS), over gRPC from XdsServer: {len(result.delta_grpc)} response(s), "
        f"{sent:,} bytes (goal <= {GOAL_DELTA_BYTES:,}, {_met(0 < sent <= GOAL_DELTA_BYTES)})",
        f"  weir delta (VHDS), DeltaSession in process: {sum(result.delta_session):,} bytes, "
        f"{result.session_cpu * 1000:.1f} ms of CPU for the stream (responses and ACKs)",
        f"  baseline, delta with one route configuration holding every virtual host: "
        f"{baseline:,} bytes",
        f"  ratio to the baseline: {sent / baseline:.4f}x ({baseline / max(sent, 1):,.0f}x fewer)",
        f"  scoped RDS (a route configuration per service), same change: "
        f"{result.scoped_rds:,} bytes",
        f"  SotW over gRPC (whole route configurations, unchanged): "
        f"{sum(result.sotw_grpc):,} bytes",
        "chosen: VHDS. Scoped RDS would send as little, but its scope keys match a header value "
        "exactly: wildcard domains (*.example) and host:port authorities would stop routing.",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, default=1000, help="services (default 1000)")
    parser.add_argument("--instances", type=int, default=5, help="per service (default 5)")
    parser.add_argument("--runs", type=int, default=9, help="timed builds each (default 9)")
    parser.add_argument(
        "--streams", type=int, default=STREAMS, help=f"sharing a view (default {STREAMS})"
    )
    args = parser.parse_args(argv)
    if args.services < 1 or args.runs < 1 or args.instances < 2 or args.streams < 1:
        parser.error("--services, --runs and --streams must be at least 1, --instances at least 2")
    result = measure_mesh_scale(args.services, args.instances, args.runs, args.streams)
    for line in report(result):
        print(line)


if __name__ == "__main__":
    main()
