"""The servers and loops `weir serve` runs on one store, in one process and one event loop.

The API's plain-def endpoints run in a threadpool and append through the controller; the
xDS server hears of each append through the controller's subscription and pushes from the loop.
Both servers share the loop, which is also the only place the proxy registry is touched.

On a PostgreSQL ledger the process is one replica of several (controlplane.ha): it follows
the others' appends, and runs the evaluator, the rollout driver and the notifier only while
it leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import uvicorn
from prometheus_client import CollectorRegistry

from controlplane._gc import fewer_young_collections
from controlplane._memory import trim_forever
from controlplane.api import Authenticator, create_app, guarded_protocol
from controlplane.compare import Comparator
from controlplane.control import Controller
from controlplane.evaluator import BusinessJudge, Evaluator
from controlplane.ha import delivery_cursor, replica_of, share_stats
from controlplane.ledger import BudgetStore, Store, budgets_of
from controlplane.loop_health import LoopHealth
from controlplane.model import split_address
from controlplane.notify import Notifier
from controlplane.outcomes._sources import OutcomeSources
from controlplane.resources import ResourceBuilder
from controlplane.rollout import RolloutDriver
from controlplane.serve._config import ServeConfig
from controlplane.stats import PushSource, StatsSource, open_source
from controlplane.verdict import extra_failures, judge, split_mismatch
from controlplane.xds import ProxyRegistry, XdsServer

log = logging.getLogger(__name__)

GRACE_S = 0.5
"""What stopping grants each part (queued webhooks, then the API's requests and the xDS
streams, together) to finish on its own."""
STOP_DEADLINE_S = 1.5
"""After a SIGTERM or SIGINT, the process exits within this long, stopped cleanly or not."""


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Listening:
    """Where a running control plane answers, with the ports it actually bound."""

    xds: str
    api: str
    compare: str | None = None
    """Where the proxies reach the comparator, if it runs."""

    @property
    def api_url(self) -> str:
        return f"http://{self.api}"


class _ApiServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The control plane stops both servers on a signal; uvicorn must not re-raise it.
        yield


def split_listen_address(address: str) -> tuple[str, int]:
    """host:port to listen on, where port 0 asks the system for a free port."""
    host, _, port = address.rpartition(":")
    if port == "0":
        return split_address(f"{host}:1")[0], 0
    return split_address(address)


def _bind(address: str, what: str = "the HTTP API") -> socket.socket:
    host, port = split_listen_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise OSError(f"cannot listen for {what} on {address}: {exc.strerror}") from exc


_WILDCARDS = ("0.0.0.0", "::")


def _comparator_address(sock: socket.socket, advertised: str | None) -> tuple[str, int]:
    """Where the proxies reach the comparator: `advertised`, else the address it is bound to
    (which must then be one a proxy can dial)."""
    if advertised is not None:
        return split_address(advertised)
    host, port = sock.getsockname()[:2]
    if host in _WILDCARDS:
        raise OSError(
            f"the comparator listens on every address ({host}): give the one the proxies "
            "reach it at with --compare-address HOST:PORT"
        )
    return host, port


class ControlPlane:
    """A controller on a store, served over xDS and HTTP. Start and stop it inside a loop."""

    def __init__(
        self,
        store: Store,
        config: ServeConfig,
        *,
        auth: Authenticator | None = None,
        xds_credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        """A control plane on `store` as `config` says; `start` listens where it says.

        Besides the options, two collaborators: `auth` knows the API's bearer tokens (by
        default, those the ledger holds); `xds_credentials` (XdsTls.credentials()) put mTLS
        on the xDS port. A test builds one as `ControlPlane(store, ServeConfig.on_free_ports(
        stats="off"), auth=StaticTokens())`: the options it cares about by name, the rest
        `weir serve`'s defaults."""
        self.config = config
        self.store = store
        self.auth = auth
        self.controller = Controller(store, max_message_bytes=config.xds_limits.max_message_bytes)
        self.registry = ProxyRegistry()
        self.metrics_sink = PushSource(directory=self.registry, limits=config.push_limits)
        """Envoy's metrics_service sink streams here, on the xDS port: the push stats source.
        A proxy's stats count only on the connection of its own ADS stream (the registry)."""
        self._http = httpx.AsyncClient(timeout=2.0, trust_env=False)
        self.outcomes = OutcomeSources.open(
            lambda: self.controller.state, self.registry, self._http, config.prometheus_url
        )
        """Business outcomes: Envoy's access logs (on the xDS port), PromQL, late pushes."""
        self.metrics = CollectorRegistry()
        """What /metrics on the API port serves; the xDS server counts into it."""
        self.loop_health = LoopHealth(self.metrics)
        self._xds = XdsServer(
            self.controller,
            registry=self.registry,
            services=[self.metrics_sink.handler(), self.outcomes.access_log.handler()],
            metrics=self.metrics,
            credentials=xds_credentials,
            coalesce_ms=config.coalesce_ms,
            limits=config.xds_limits,
        )
        self.comparator = Comparator(
            lambda: self.controller.state, limits=config.compare_limits, metrics=self.metrics
        )
        """Compares the answers of shadow instances of services with `compare`, once started
        where `config.compare` says; the evaluator judges those changes by it."""
        self.evaluator: Evaluator | None = None
        self._budgets: BudgetStore | None = None
        source: StatsSource | None = None
        if config.stats != "off":
            self._budgets = budgets_of(store)
            source = open_source(
                config.stats,
                sink=self.metrics_sink,
                registry=self.registry,
                http=self._http,
                prometheus_url=config.prometheus_url,
            )
            source = share_stats(store, source)  # on PostgreSQL: the leader sees every replica's
            self.evaluator = Evaluator(
                self.controller,
                source,
                judge=judge,
                extra_failures=extra_failures,
                split_check=split_mismatch,
                on_tick=self.loop_health.tick,
                business=BusinessJudge(self.outcomes.readers()),
                budgets=self._budgets,
                comparisons=self.comparator,
            )
            self.controller.gate_on_budget(self.evaluator.budget_refusal)
        self.rollouts = RolloutDriver(self.controller)
        self.notifier: Notifier | None = None
        if config.webhooks:
            budget = self.evaluator.budget if self.evaluator is not None else None
            self.notifier = Notifier(
                self.controller,
                store.read,
                config.webhooks,
                budget=budget,
                cursor=delivery_cursor(store),
            )
        self.replica = replica_of(store, self.controller, stats=source, budget=self.evaluator)
        """On a shared PostgreSQL ledger, follows the other replicas and campaigns to lead;
        None on SQLite, where this one process always leads."""
        self._api: _ApiServer | None = None
        self._api_task: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> Listening:
        """Listen where the config says (port 0 picks a free one); returns once all accept.
        With `config.compare`, the comparator listens there too, and the proxies are told to
        mirror compared requests to `config.compare_address` (default: where it is bound)."""
        xds, api, compare = self.config.xds, self.config.api, self.config.compare
        # Bound first: cheap, and a port in use fails before anything else has started.
        api_socket = _bind(api)
        sockets = [api_socket]
        comparator: tuple[str, int] | None = None
        try:
            if compare is not None:
                compare_socket = _bind(compare, "the comparator")
                sockets.append(compare_socket)
                comparator = _comparator_address(compare_socket, self.config.compare_address)
            # The controller's size checks and the xDS pushes build with one builder, which
            # knows where the proxies reach the comparator.
            self.controller.builder = ResourceBuilder(comparator=comparator)
            xds_port = await self._xds.start(xds)
            if compare is not None:
                await self.comparator.start(compare_socket)
        except BaseException:
            for sock in sockets:
                sock.close()
            await self._xds.stop(0)
            raise
        config = uvicorn.Config(
            create_app(
                self.controller,
                self.registry,
                self.evaluator,
                rollouts=self.rollouts,
                metrics=self.metrics,
                max_body=self.config.max_body,
                body_timeout_s=self.config.api_limits.body_timeout_s,
                auth=self.auth,
                late=self.outcomes.late,
            ),
            lifespan="off",
            log_config=None,  # uvicorn's records go to weir's handler, in its --log-format
            log_level="warning",
            access_log=False,
            # Seconds: uvicorn waits with asyncio.timeout, which takes a float (typed int).
            timeout_graceful_shutdown=GRACE_S,  # type: ignore[arg-type]
            http=guarded_protocol(self.config.api_limits),
            timeout_keep_alive=self.config.api_limits.idle_timeout_s,
            h11_max_incomplete_event_size=self.config.api_limits.max_header_bytes,
        )
        self._api = _ApiServer(config)
        self._api_task = asyncio.create_task(self._api.serve(sockets=[api_socket]))
        while not self._api.started:
            if self._api_task.done():
                await self._api_task  # raises what stopped it
                raise OSError(f"the HTTP API on {api} stopped while starting")
            await asyncio.sleep(0.01)
        self._loops.append(asyncio.create_task(trim_forever()))
        self._loops.append(asyncio.create_task(self.loop_health.watch_lag()))
        if self.replica is None:
            self._loops += [asyncio.create_task(work) for work in self._leader_work()]
        else:
            self._loops.append(asyncio.create_task(self.replica.run(self._leader_work)))
            if self.evaluator is not None:
                replica = self.replica
                following = self.evaluator.watch(lambda: replica.leadership.term is None)
                self._loops.append(asyncio.create_task(following))
        api_host, api_port = api_socket.getsockname()[:2]
        return Listening(
            xds=join_address(split_listen_address(xds)[0], xds_port),
            api=join_address(api_host, api_port),
            compare=join_address(*comparator) if comparator is not None else None,
        )

    def _leader_work(self) -> list[Coroutine[Any, Any, None]]:
        """What only the leader runs: the evaluator, the rollout driver, webhook delivery."""
        work = [self.rollouts.run()]
        if self.evaluator is not None:
            work.insert(0, self.evaluator.run())
        if self.notifier is not None:
            work.append(self.notifier.run())
        return work

    async def stop(self, grace: float = GRACE_S) -> None:
        leading = self.replica is None or self.replica.leadership.term is not None
        if self.notifier is not None and self._loops and leading:
            await self.notifier.flush(grace)  # what is queued gets its chance, within the grace
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        # The servers at once: each has the same grace to let its requests and streams end.
        await asyncio.gather(self._stop_api(), self._xds.stop(grace), self.comparator.stop())
        await self._http.aclose()
        if self._budgets is not None:
            self._budgets.close()
        self.store.close()

    async def _stop_api(self) -> None:
        if self._api is not None and self._api_task is not None:
            self._api.should_exit = True
            await self._api_task
            self._api = self._api_task = None


async def serve(
    store: Store,
    config: ServeConfig,
    *,
    auth: Authenticator | None = None,
    xds_credentials: grpc.ServerCredentials | None = None,
    on_ready: Callable[[Listening], None] = lambda listening: None,
) -> None:
    """Run until SIGINT or SIGTERM, then stop the servers and close the store.

    What this changes for the whole process is here, and only here: the handlers of SIGINT
    and SIGTERM (put back on return), and the cyclic GC's young threshold, raised from
    Python's 700 to `config.young_gc_threshold` allocations unless the process chose its own
    (controlplane/_gc.py; None leaves the GC alone). Everything else belongs to the
    ControlPlane it runs.

    The process is gone within STOP_DEADLINE_S of the signal whatever it is doing: what has
    not stopped by then (a request still in a worker thread, a build) is cut short, which
    loses nothing acknowledged (an append is durable before it is answered) and leaves
    Envoy serving its last configuration. A second signal exits at once."""
    if config.young_gc_threshold is not None:
        fewer_young_collections(config.young_gc_threshold)
    plane = ControlPlane(store, config, auth=auth, xds_credentials=xds_credentials)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    signalled = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        # A plain handler, not the loop's: Python runs it at the main thread's next bytecode
        # even while the loop is far behind (a loop handler waits its turn behind every
        # callback queued before it), so the deadline counts from the signal itself.
        if signalled.is_set():
            _exit_now("a second signal")
        signalled.set()
        threading.Thread(target=_exit_after, args=(STOP_DEADLINE_S,), daemon=True).start()
        loop.call_soon_threadsafe(stopping.set)

    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, on_signal) for signum in signums}
    try:
        try:
            listening = await plane.start()
        except BaseException:
            await plane.stop(0)
            raise
        on_ready(listening)
        await stopping.wait()
        log.info("stopping")
        started = time.monotonic()
        await plane.stop()
        log.info("stopped in %.2fs", time.monotonic() - started)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _exit_after(seconds: float) -> None:
    time.sleep(seconds)
    _exit_now(f"not stopped {seconds:g}s after the signal")


def _exit_now(why: str) -> None:
    log.warning("weir serve exits now (%s)", why)
    exit_process()


def exit_process() -> None:
    """End the process at once, its output flushed: after a clean stop, the interpreter's own
    teardown (a last collection of a large heap) can take seconds more, and nothing in it
    matters once the store is closed and both servers are down."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)
