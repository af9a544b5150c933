"""`weir serve`: the ledger, the xDS server, the HTTP API, the evaluator and the rollout driver
in one process and one event loop.

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
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import uvicorn
from prometheus_client import CollectorRegistry

from controlplane import defaults
from controlplane.api import DEFAULT_MAX_BODY, Authenticator, create_app
from controlplane.compare import Comparator, ComparatorLimits
from controlplane.control import Controller
from controlplane.evaluator import Evaluator
from controlplane.ha import delivery_cursor, replica_of, share_stats
from controlplane.ledger import Store
from controlplane.model import split_address
from controlplane.notify import Notifier
from controlplane.outcomes._sources import OutcomeSources
from controlplane.resources import ResourceBuilder
from controlplane.rollout import RolloutDriver
from controlplane.stats import PushSource, StatsSource, open_source
from controlplane.verdict import extra_failures, judge, split_mismatch
from controlplane.xds import ProxyRegistry, XdsLimits, XdsServer

GRACE_S = 1


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
        *,
        stats: str = "push",
        prometheus_url: str | None = None,
        webhooks: Sequence[str] = (),
        xds_credentials: grpc.ServerCredentials | None = None,
        coalesce_ms: float = defaults.COALESCE_MS,
        xds_limits: XdsLimits | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        auth: Authenticator | None = None,
        compare_limits: ComparatorLimits | None = None,
    ) -> None:
        """`stats` picks the evaluator's stats source (push, pull, promql), or "off" for none;
        each of `webhooks` is POSTed a JSON notification of rollouts, verdicts, rollbacks and
        the budget freeze; `xds_credentials` (XdsTls.credentials()) put mTLS on the xDS port;
        ledger changes less than `coalesce_ms` apart are one xDS push; `xds_limits` are the
        xDS port's caps (message size, connection age, streams per address); `max_body` bounds
        an API request's body, in bytes; `auth` knows the API's bearer tokens (by default,
        those the ledger holds); `compare_limits` bound the comparator, when it runs (see
        `start`)."""
        self.store = store
        self.max_body = max_body
        self.auth = auth
        self.controller = Controller(store)
        self.registry = ProxyRegistry()
        self.metrics_sink = PushSource()
        """Envoy's metrics_service sink streams here, on the xDS port: the push stats source."""
        self._http = httpx.AsyncClient(timeout=2.0, trust_env=False)
        self.outcomes = OutcomeSources.open(
            lambda: self.controller.state, self.registry, self._http, prometheus_url
        )
        """Business outcomes: Envoy's access logs (on the xDS port), PromQL, late pushes."""
        self.metrics = CollectorRegistry()
        """What /metrics on the API port serves; the xDS server counts into it."""
        self._xds = XdsServer(
            self.controller,
            registry=self.registry,
            services=[self.metrics_sink.handler(), self.outcomes.access_log.handler()],
            metrics=self.metrics,
            credentials=xds_credentials,
            coalesce_ms=coalesce_ms,
            limits=xds_limits,
        )
        self.comparator = Comparator(
            lambda: self.controller.state, limits=compare_limits, metrics=self.metrics
        )
        """Compares the answers of shadow instances of services with `compare`, once started
        with an address (`start(compare=...)`); the evaluator judges those changes by it."""
        self.evaluator: Evaluator | None = None
        source: StatsSource | None = None
        if stats != "off":
            source = open_source(
                stats,
                sink=self.metrics_sink,
                registry=self.registry,
                http=self._http,
                prometheus_url=prometheus_url,
            )
            source = share_stats(store, source)  # on PostgreSQL: the leader sees every replica's
            self.evaluator = Evaluator(
                self.controller,
                source,
                judge=judge,
                extra_failures=extra_failures,
                split_check=split_mismatch,
                business=self.outcomes.judge(),
                comparisons=self.comparator,
            )
            self.controller.gate_on_budget(self.evaluator.budget_refusal)
        self.rollouts = RolloutDriver(self.controller)
        self.notifier: Notifier | None = None
        if webhooks:
            budget = self.evaluator.budget if self.evaluator is not None else None
            self.notifier = Notifier(
                self.controller, store.read, webhooks, budget=budget, cursor=delivery_cursor(store)
            )
        self.replica = replica_of(store, self.controller, stats=source, budget=self.evaluator)
        """On a shared PostgreSQL ledger, follows the other replicas and campaigns to lead;
        None on SQLite, where this one process always leads."""
        self._api: _ApiServer | None = None
        self._api_task: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []

    async def start(
        self,
        *,
        xds: str = defaults.XDS,
        api: str = defaults.API,
        compare: str | None = None,
        compare_address: str | None = None,
    ) -> Listening:
        """Listen on the addresses (port 0 picks a free one); returns once all accept. With
        `compare`, the comparator listens there too, and the proxies are told to mirror compared
        requests to `compare_address` (default: where it is bound)."""
        # Bound first: cheap, and a port in use fails before anything else has started.
        api_socket = _bind(api)
        sockets = [api_socket]
        comparator: tuple[str, int] | None = None
        try:
            if compare is not None:
                compare_socket = _bind(compare, "the comparator")
                sockets.append(compare_socket)
                comparator = _comparator_address(compare_socket, compare_address)
            xds_port = await self._xds.start(xds, build=ResourceBuilder(comparator=comparator))
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
                max_body=self.max_body,
                auth=self.auth,
                late=self.outcomes.late,
            ),
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=GRACE_S,
        )
        self._api = _ApiServer(config)
        self._api_task = asyncio.create_task(self._api.serve(sockets=[api_socket]))
        while not self._api.started:
            if self._api_task.done():
                await self._api_task  # raises what stopped it
                raise OSError(f"the HTTP API on {api} stopped while starting")
            await asyncio.sleep(0.01)
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
        if self._api is not None and self._api_task is not None:
            self._api.should_exit = True
            await self._api_task
            self._api = self._api_task = None
        await self.comparator.stop()
        await self._xds.stop(grace)
        await self._http.aclose()
        self.store.close()


async def serve(
    store: Store,
    *,
    xds: str = defaults.XDS,
    api: str = defaults.API,
    stats: str = "push",
    prometheus_url: str | None = None,
    webhooks: Sequence[str] = (),
    xds_credentials: grpc.ServerCredentials | None = None,
    coalesce_ms: float = defaults.COALESCE_MS,
    xds_limits: XdsLimits | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    compare: str | None = None,
    compare_address: str | None = None,
    compare_limits: ComparatorLimits | None = None,
    on_ready: Callable[[Listening], None] = lambda listening: None,
) -> None:
    """Run until SIGINT or SIGTERM, then stop the servers and close the store."""
    plane = ControlPlane(
        store,
        stats=stats,
        prometheus_url=prometheus_url,
        webhooks=webhooks,
        xds_credentials=xds_credentials,
        coalesce_ms=coalesce_ms,
        xds_limits=xds_limits,
        max_body=max_body,
        compare_limits=compare_limits,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        try:
            listening = await plane.start(
                xds=xds, api=api, compare=compare, compare_address=compare_address
            )
        except BaseException:
            await plane.stop(0)
            raise
        on_ready(listening)
        await stopping.wait()
        await plane.stop()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
