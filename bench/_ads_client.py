"""Simulated Envoys for the fleet benchmarks: one gRPC channel and one ADS stream per client,
speaking SotW or delta the way Envoy does, and ACKing every response.

Like Envoy, a client names itself in its first request (node id, cluster, and the
`weir_listen` metadata weir builds its listener from), subscribes to clusters (wildcard),
then to listeners once the clusters came, then to the route configurations its listeners name
(read from their HTTP connection managers' `rds`), and on delta streams, once the route
configurations came, to virtual hosts (VHDS: weir's delta route configurations carry none
inline; a first request naming nothing, as Envoy 1.40 asks). Every response is ACKed with
its version (SotW) and nonce at once; nothing is validated, so a client costs little more than its
socket and the decoding of the response envelopes.

Many clients run in one asyncio process (`Fleet`). `ClientProcess` runs a fleet in a
separate process, so that the clients' work never shares a GIL with the benchmark's clock or
with `weir serve`, and drives it with a few commands over a pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import any_pb2

from bench._common import raise_open_files_limit
from controlplane.defaults import ADMIN_METADATA_KEY, LISTEN_METADATA_KEY
from controlplane.resources import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, VHOST_TYPE

REPO_ROOT = Path(__file__).resolve().parents[1]
SIMULATED_LISTEN = "127.0.0.1:15001"
"""The listener address each client asks weir for (nothing binds it: no traffic flows)."""
READY_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 600.0
POLL_S = 0.005
CHANNEL_OPTIONS = [
    # A connection of its own per client, as each Envoy has: without this, grpc-core shares
    # one subchannel (one TCP connection) between channels with the same target and options.
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
]
HCM_TYPE = "type.googleapis.com/" + hcm_pb2.HttpConnectionManager.DESCRIPTOR.full_name


ENVOY_LIKE_EXTENSIONS = tuple(
    base_pb2.Extension(
        name=f"envoy.filters.simulated.extension_{n}",
        category=f"envoy.simulated.category_{n % 60}",
        type_urls=[f"envoy.extensions.simulated.v3.Extension{n}Config"],
    )
    for n in range(516)
)
"""The size of what Envoy 1.40 lists in node.extensions (516 entries, ~61 KB)."""


class ClientError(Exception):
    """A simulated client could not connect, sync or finish as expected."""


_route_names_cache: dict[bytes, frozenset[str]] = {}


def route_names(listener: any_pb2.Any) -> frozenset[str]:
    """The route configurations a listener's HTTP connection managers fetch over RDS.

    Cached by the listener's bytes: every client of a fleet gets the same listener, and
    decoding it 2,000 times would make the clients, not weir, the thing measured.
    """
    names = _route_names_cache.get(listener.value)
    if names is None:
        found: set[str] = set()
        decoded = listener_pb2.Listener.FromString(listener.value)
        for chain in decoded.filter_chains:
            for network_filter in chain.filters:
                if network_filter.typed_config.type_url != HCM_TYPE:
                    continue
                hcm = hcm_pb2.HttpConnectionManager.FromString(network_filter.typed_config.value)
                if hcm.HasField("rds"):
                    found.add(hcm.rds.route_config_name)
        names = _route_names_cache[listener.value] = frozenset(found)
    return names


class AdsClient:
    """One simulated Envoy on one channel and one ADS stream.

    `holdings` is what it was sent, per type URL: name → version for delta, and the response's
    `version_info` under the name "" for SotW (a SotW response is the whole set).
    `generation` counts changes to the holdings and `changed_at` (time.time()) is when the
    last one arrived; `ready` is set once it holds clusters, listeners and routes.
    """

    def __init__(
        self,
        xds: str,
        node_id: str,
        *,
        delta: bool = False,
        cluster: str = "bench",
        listen: str = SIMULATED_LISTEN,
    ) -> None:
        self.xds = xds
        self.node_id = node_id
        self.delta = delta
        self._node = base_pb2.Node(id=node_id, cluster=cluster)
        self._node.metadata.fields[LISTEN_METADATA_KEY].string_value = listen
        # Named as `weir bootstrap` names it; nothing answers there (a simulated client has
        # no stats), which only matters to `weir serve --stats pull`.
        self._node.metadata.fields[ADMIN_METADATA_KEY].string_value = "127.0.0.1:1"
        # And, as Envoy 1.40 does, every extension built into it: 516 of them, 61 KB of the
        # first request, which a server must not keep a copy of per stream.
        self._node.user_agent_name = "envoy"
        self._node.extensions.extend(ENVOY_LIKE_EXTENSIONS)
        self.holdings: dict[str, dict[str, str]] = {}
        self.generation = 0
        self.changed_at = 0.0
        self.ready = asyncio.Event()
        self.error: BaseException | None = None
        self._sotw_acked: dict[str, tuple[str, str]] = {}
        """SotW: type URL → (version, nonce) last ACKed, for re-subscribing to routes."""
        self._listener_routes: dict[str, frozenset[str]] = {}
        self._routes: frozenset[str] = frozenset()
        self._subscribed: set[str] = set()
        self._channel: grpc.aio.Channel | None = None
        self._call: Any = None
        self._receiver: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the channel and the stream and send the first request (clusters)."""
        self._channel = grpc.aio.insecure_channel(self.xds, options=CHANNEL_OPTIONS)
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self._channel)
        rpc = stub.DeltaAggregatedResources if self.delta else stub.StreamAggregatedResources
        self._call = rpc()
        await self._subscribe(CLUSTER_TYPE, node=True)
        self._receiver = asyncio.create_task(self._receive())

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        ready = asyncio.ensure_future(self.ready.wait())
        assert self._receiver is not None
        await asyncio.wait(
            {ready, self._receiver}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        ready.cancel()
        if not self.ready.is_set():
            reason = repr(self.error) if self.error else f"not synced after {timeout:g}s"
            raise ClientError(f"{self.node_id}: {reason}")

    async def close(self, *, abrupt: bool = False) -> None:
        """End the stream: half-close it and let weir finish it (as Envoy does on a clean
        shutdown), or, `abrupt`, cancel it and drop the connection (as when Envoy dies)."""
        if self._call is not None:
            if abrupt:
                self._call.cancel()
            else:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await self._call.done_writing()
        if self._receiver is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._receiver), timeout=5.0)
            except TimeoutError:
                self._receiver.cancel()
        if self._channel is not None:
            await self._channel.close()

    async def _receive(self) -> None:
        try:
            while True:
                response = await self._call.read()
                if response is grpc.aio.EOF:
                    return
                await self._on_response(response)
        except asyncio.CancelledError:
            pass
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                self.error = exc
        except Exception as exc:  # kept for wait_ready's and changed's messages
            self.error = exc

    async def _on_response(self, response: Any) -> None:
        type_url: str = response.type_url
        received = time.time()
        if self.delta:
            held = dict(self.holdings.get(type_url, {}))
            for resource in response.resources:
                held[resource.name] = resource.version
            for name in response.removed_resources:
                held.pop(name, None)
            if type_url == LISTENER_TYPE:
                for name in response.removed_resources:
                    self._listener_routes.pop(name, None)
                for resource in response.resources:
                    self._listener_routes[resource.name] = route_names(resource.resource)
            ack: Any = discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url, response_nonce=response.nonce
            )
        else:
            held = {"": response.version_info}
            if type_url == LISTENER_TYPE:
                self._listener_routes = {
                    str(n): route_names(r) for n, r in enumerate(response.resources)
                }
            self._sotw_acked[type_url] = (response.version_info, response.nonce)
            ack = discovery_pb2.DiscoveryRequest(
                type_url=type_url,
                version_info=response.version_info,
                response_nonce=response.nonce,
                resource_names=sorted(self._routes) if type_url == ROUTE_TYPE else [],
            )
        if held != self.holdings.get(type_url):
            self.holdings[type_url] = held
            self.generation += 1
            self.changed_at = received
        await self._call.write(ack)
        if type_url == CLUSTER_TYPE and LISTENER_TYPE not in self._subscribed:
            await self._subscribe(LISTENER_TYPE)
        if type_url == LISTENER_TYPE:
            await self._follow_routes()
        if self.delta and type_url == ROUTE_TYPE and VHOST_TYPE not in self._subscribed:
            # weir answers even when its route configuration is inline (an empty response).
            await self._subscribe(VHOST_TYPE)
        if all(t in self.holdings for t in self._synced_types()):
            self.ready.set()

    def _synced_types(self) -> tuple[str, ...]:
        if self.delta:
            return (CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, VHOST_TYPE)
        return (CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE)

    async def _follow_routes(self) -> None:
        """Subscribe to the route configurations the listeners now name, as Envoy's RDS
        subscriptions follow its listeners."""
        wanted = frozenset().union(*self._listener_routes.values())
        if wanted == self._routes:
            return
        added, gone = wanted - self._routes, self._routes - wanted
        self._routes = wanted
        if self.delta:
            await self._call.write(
                discovery_pb2.DeltaDiscoveryRequest(
                    type_url=ROUTE_TYPE,
                    resource_names_subscribe=sorted(added),
                    resource_names_unsubscribe=sorted(gone),
                )
            )
        else:
            version, nonce = self._sotw_acked.get(ROUTE_TYPE, ("", ""))
            await self._call.write(
                discovery_pb2.DiscoveryRequest(
                    type_url=ROUTE_TYPE,
                    version_info=version,
                    response_nonce=nonce,
                    resource_names=sorted(wanted),
                )
            )
        self._subscribed.add(ROUTE_TYPE)

    async def _subscribe(self, type_url: str, *, node: bool = False) -> None:
        request: Any = (
            discovery_pb2.DeltaDiscoveryRequest(type_url=type_url)
            if self.delta
            else discovery_pb2.DiscoveryRequest(type_url=type_url)
        )
        if node:
            request.node.CopyFrom(self._node)
        self._subscribed.add(type_url)
        await self._call.write(request)


class Fleet:
    """Many simulated clients in this process's event loop."""

    def __init__(self, xds: str) -> None:
        self.xds = xds
        self.clients: list[AdsClient] = []

    async def grow(self, count: int, *, delta: bool, prefix: str, concurrency: int = 100) -> float:
        """Connect `count` more clients, `concurrency` handshakes at a time; the seconds until
        every one of them holds clusters, listeners and routes."""
        started = time.perf_counter()
        gate = asyncio.Semaphore(concurrency)
        first = len(self.clients)
        new = [AdsClient(self.xds, f"{prefix}-{first + n}", delta=delta) for n in range(count)]
        self.clients += new

        async def connect(client: AdsClient) -> None:
            async with gate:
                await client.start()
                await client.wait_ready()

        await asyncio.gather(*(connect(c) for c in new))
        return time.perf_counter() - started

    def mark(self) -> list[int]:
        """Each client's generation now, for `changed` to compare with."""
        return [c.generation for c in self.clients]

    async def changed(self, mark: list[int], *, timeout: float, settle: float = 0.1) -> list[float]:
        """When each client last received a change, once every client has received one since
        `mark` and no more arrived for `settle` seconds (a change may come in several
        responses: clusters, then the routes that name them)."""
        deadline = time.monotonic() + timeout
        while True:
            behind = sum(c.generation == m for c, m in zip(self.clients, mark, strict=True))
            if behind == 0:
                seen = [c.generation for c in self.clients]
                await asyncio.sleep(settle)
                if seen == [c.generation for c in self.clients]:
                    return [c.changed_at for c in self.clients]
                continue
            if time.monotonic() > deadline:
                failed = [c for c in self.clients if c.error is not None][:3]
                detail = "; ".join(f"{c.node_id}: {c.error!r}" for c in failed)
                raise ClientError(f"{behind} clients lack the change after {timeout:g}s {detail}")
            await asyncio.sleep(POLL_S)

    async def churn(self, cycles: int, *, concurrency: int, prefix: str) -> float:
        """`cycles` connect → synced → disconnect cycles, `concurrency` at a time; the seconds
        they took. Cycles alternate SotW and delta, and clean and abrupt ends."""
        started = time.perf_counter()
        numbers = itertools.count()

        async def worker() -> None:
            for n in numbers:
                if n >= cycles:
                    return
                client = AdsClient(self.xds, f"{prefix}-{n}", delta=n % 2 == 1)
                try:
                    await client.start()
                    await client.wait_ready()
                finally:
                    await client.close(abrupt=(n // 2) % 2 == 1)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        self.clients = []


# Commands to a fleet in another process.


@dataclass(frozen=True, slots=True)
class Grow:
    count: int
    delta: bool
    prefix: str


@dataclass(frozen=True, slots=True)
class Mark:
    pass


@dataclass(frozen=True, slots=True)
class AwaitChange:
    timeout: float


@dataclass(frozen=True, slots=True)
class Churn:
    cycles: int
    concurrency: int
    prefix: str


@dataclass(frozen=True, slots=True)
class Stop:
    pass


Command = Grow | Mark | AwaitChange | Churn | Stop


@dataclass(frozen=True, slots=True)
class Failed:
    message: str


def main(argv: list[str] | None = None) -> None:
    """The client process: `python -m bench._ads_client FD XDS` runs a fleet against XDS and
    answers commands on the connection FD until Stop."""
    import uvloop

    fd, xds = (argv or sys.argv[1:])[:2]
    raise_open_files_limit()
    uvloop.run(_fleet_loop(Connection(int(fd)), xds))


async def _fleet_loop(conn: Connection, xds: str) -> None:
    fleet = Fleet(xds)
    marked: list[int] = []
    try:
        while True:
            command: Command = await asyncio.to_thread(conn.recv)
            try:
                result: object = None
                match command:
                    case Grow(count, delta, prefix):
                        result = await fleet.grow(count, delta=delta, prefix=prefix)
                    case Mark():
                        marked = fleet.mark()
                    case AwaitChange(timeout):
                        result = await fleet.changed(marked, timeout=timeout)
                    case Churn(cycles, concurrency, prefix):
                        result = await fleet.churn(cycles, concurrency=concurrency, prefix=prefix)
                    case Stop():
                        await fleet.close()
                        conn.send(None)
                        return
                    case _:
                        raise ClientError(f"unknown command {command!r}")
            except Exception as exc:
                result = Failed(f"{type(exc).__name__}: {exc}")
            conn.send(result)
    finally:
        await fleet.close()


class ClientProcess:
    """A `Fleet` in a process of its own, driven from this one over a socket pair.

    A plain subprocess (`python -m bench._ads_client`), not multiprocessing's spawn, which
    would import the caller's main module again in the child.
    """

    def __init__(self, xds: str) -> None:
        self.xds = xds
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None

    def start(self) -> Self:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
            )
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bench._ads_client", str(theirs.fileno()), self.xds],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=env,
            )
            self._conn = Connection(os.dup(ours.fileno()))
        return self

    def _ask(self, command: Command, timeout: float = COMMAND_TIMEOUT_S) -> object:
        if self._conn is None or self._process is None:
            raise ClientError("the client process is not started")
        try:
            self._conn.send(command)
            if not self._conn.poll(timeout):
                raise ClientError(f"the client process did not answer {command} in {timeout:g}s")
            answer: object = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise ClientError(f"the client process exited ({self._process.poll()})") from exc
        if isinstance(answer, Failed):
            raise ClientError(answer.message)
        return answer

    def grow(self, count: int, *, delta: bool = False, prefix: str = "sim") -> float:
        """Connect `count` more clients; the seconds until all were synced."""
        return float(self._ask(Grow(count, delta, prefix)))  # type: ignore[arg-type]

    def mark(self) -> None:
        """Remember what every client holds now; `await_change` waits for something newer."""
        self._ask(Mark())

    def await_change(self, timeout: float = 30.0) -> list[float]:
        """time.time() at which each client received the change made since `mark`."""
        times = self._ask(AwaitChange(timeout), timeout=timeout + 30)
        assert isinstance(times, list)
        return [float(t) for t in times]

    def churn(self, cycles: int, *, concurrency: int, prefix: str = "churn") -> float:
        """Run connect → synced → disconnect cycles; the seconds they took."""
        return float(self._ask(Churn(cycles, concurrency, prefix)))  # type: ignore[arg-type]

    def stop(self) -> None:
        """Close every client and end the process (killed by its PID if it lingers)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                self._process = process
                self._ask(Stop(), timeout=30)
            except ClientError:
                pass
            finally:
                self._process = None
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    # Run the module's importable copy: the commands arrive pickled as bench._ads_client's
    # classes, which are not __main__'s.
    from bench._ads_client import main as client_main

    client_main()
