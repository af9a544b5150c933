"""The comparator: an HTTP listener in `weir serve` that Envoy mirrors compared requests to.

Envoy's mirror is fire and forget, so nothing here can delay a caller: the comparator answers
Envoy's copy as soon as it has read it (202), then sends it concurrently to the candidate and to
two live instances of the old version, each with the service's timeout, compares the answers and
counts the differences into the candidate's change (see `verdict`). Everything it receives is
hostile input, and its work is bounded:

- at most `concurrency` compared requests in flight and `rate` admitted per second; beyond
  either a request is dropped unread (503 to Envoy, which discards it) and counted, never queued;
- a request body over `max_body` bytes is refused (413) after reading at most that much, and
  an answer over it is read no further (its body then compares as "over the cap");
- headers as aiohttp bounds them (MAX_HEADERS, MAX_FIELD_BYTES), nothing decompressed, no
  cookies kept between requests, and no Host or path but the request's own sent on.

Counts live in memory, per change; the evaluator reads them through `verdict` every second.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from yarl import URL

from controlplane.compare._diff import differences
from controlplane.compare._fields import Answer
from controlplane.compare._limits import ComparatorLimits
from controlplane.compare._route import Refused, Target, forwarded_headers, named_target
from controlplane.compare._rules import Rules
from controlplane.compare._tally import record, record_arm
from controlplane.model import (
    COMPARE_HEADER,
    ROUTE_HEADER,
    ActivationState,
    Compare,
    InstanceState,
    State,
    Verdict,
)
from controlplane.verdict import ComparisonCounts, judge_comparison

log = logging.getLogger(__name__)

MAX_HEADERS = 100
MAX_FIELD_BYTES = 8190
READ_CHUNK = 64 * 1024
MAX_REMEMBERED = 1024
"""(method, instance, route) names whose check is remembered per state: they come from
requests, so a stranger's made-up names could otherwise grow it without bound."""


class _TooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Request:
    """What the comparator sends on, copied out of the mirrored request before answering it."""

    method: str
    path: str
    host: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class _Bucket:
    """Admits `rate` per second, at most `rate` at once after a quiet spell."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens, self.at = self.rate, self.clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "weir_compare_requests",
            "Requests mirrored to the comparator, by what became of them: compared; "
            "dropped_busy / dropped_rate (saturated, unread); refused (not a compared shadow, "
            "method or route); too_large (request body over the cap); skipped (an old instance "
            "did not answer, or none is live)",
            ["outcome"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "weir_compare_in_flight", "Compared requests in flight", registry=registry
        )
        self.cpu = Counter(
            "weir_compare_cpu_seconds",
            "The comparator's own CPU time comparing answers (parsing and diffing; not the "
            "network I/O)",
            registry=registry,
        )


class Comparator:
    """Compares mirrored requests for the shadow instances of services with `compare`."""

    def __init__(
        self,
        state: Callable[[], State],
        *,
        limits: ComparatorLimits | None = None,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        self._state = state
        self.limits = limits or ComparatorLimits()
        self._metrics = _Metrics(metrics if metrics is not None else CollectorRegistry())
        self._bucket = _Bucket(self.limits.rate)
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._counts: dict[int, ComparisonCounts] = {}
        """Change seq -> what was compared for it."""
        self._rules: dict[str, Rules] = {}
        self._targets: dict[tuple[str, str, str], Target | Refused] = {}
        self._targets_seq = -1
        self._turns: dict[str, int] = {}
        """Per service, which pair of old instances is next."""
        self._server: web.Server | None = None
        self._listener: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None

    # Lifecycle.

    async def start(self, sock: socket.socket) -> None:
        """Serve on a bound socket (see controlplane.serve)."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.limits.concurrency * 3),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            max_headers=MAX_HEADERS,
            max_field_size=MAX_FIELD_BYTES,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
        )
        self._server = web.Server(
            self._handle,
            max_headers=MAX_HEADERS,
            max_field_size=MAX_FIELD_BYTES,
            auto_decompress=False,
            lingering_time=0,
            access_log=None,
        )
        self._listener = await asyncio.get_running_loop().create_server(self._server, sock=sock)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._server is not None:
            await self._server.shutdown(0.5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        self._listener = self._server = self._session = None

    # What the evaluator asks.

    def verdict(self, change_seq: int, instance_id: str, *, elapsed_s: float) -> Verdict | None:
        """The verdict on a change judged by comparison, or None when the change is not (the
        instance is not a shadow of a service with `compare`, or has changed since, or the
        comparator is not running: Envoy then mirrors to the shadow itself)."""
        if self._listener is None:
            return None
        state = self._state()
        record_ = state.instances.get(instance_id)
        if record_ is None or record_.since_seq != change_seq:
            return None
        spec = state.services.get(record_.instance.service)
        if record_.state is not ActivationState.SHADOW or spec is None or spec.compare is None:
            return None
        self._forget_closed(state)
        counts = self._counts.get(change_seq) or ComparisonCounts()
        return judge_comparison(
            counts,
            threshold_pct=spec.compare.threshold,
            alpha=spec.compare.alpha,
            elapsed_s=elapsed_s,
        )

    def counts(self, change_seq: int) -> ComparisonCounts | None:
        return self._counts.get(change_seq)

    # Serving.

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        found = self._target(request)
        if isinstance(found, Refused):
            self._metrics.requests.labels(found.counter).inc()
            return _answer(request, found.status, found.reason)
        counts = self._counts_for(found)
        if self._in_flight >= self.limits.concurrency or not self._bucket.take():
            busy = self._in_flight >= self.limits.concurrency
            self._metrics.requests.labels("dropped_busy" if busy else "dropped_rate").inc()
            counts.dropped += 1
            return _answer(request, 503, "the comparator is saturated: dropped")
        self._in_flight += 1
        self._metrics.in_flight.inc()
        try:
            body = await _read_capped(request, self.limits.max_body)
        except _TooLarge:
            self._release()
            self._metrics.requests.labels("too_large").inc()
            counts.skipped += 1
            return _answer(request, 413, f"a request body over {self.limits.max_body} bytes")
        except BaseException:
            self._release()
            raise
        sent = _Request(
            request.method,
            request.raw_path,
            request.headers.get("host", found.spec.name),
            forwarded_headers(request.headers.items()),
            body,
        )
        task = asyncio.get_running_loop().create_task(self._compare(found, counts, sent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    def _target(self, request: web.BaseRequest) -> Target | Refused:
        """What the request names, checked against the state: remembered per state (a state's
        instances are looked up once, not per request) for up to MAX_REMEMBERED names."""
        if not request.raw_path.startswith("/"):
            return Refused(400, "the request target is not a path", "refused")
        state = self._state()
        if state.seq != self._targets_seq:
            self._targets.clear()
            self._targets_seq = state.seq
        headers = request.headers
        key = (request.method, headers.get(COMPARE_HEADER, ""), headers.get(ROUTE_HEADER, ""))
        found = self._targets.get(key)
        if found is None:
            found = named_target(state, *key)
            if len(self._targets) < MAX_REMEMBERED:
                self._targets[key] = found
        return found

    def _counts_for(self, target: Target) -> ComparisonCounts:
        seq = target.candidate.since_seq
        counts = self._counts.get(seq)
        if counts is None:
            self._forget_closed(self._state())
            counts = self._counts[seq] = ComparisonCounts()
        return counts

    def _forget_closed(self, state: State) -> None:
        """Drop the counts of changes whose instance has moved on (so memory stays bounded by
        the shadows being compared)."""
        current = {
            r.since_seq for r in state.instances.values() if r.state is ActivationState.SHADOW
        }
        for seq in [s for s in self._counts if s not in current]:
            del self._counts[seq]

    def _release(self) -> None:
        self._in_flight -= 1
        self._metrics.in_flight.dec()

    async def _compare(self, target: Target, counts: ComparisonCounts, request: _Request) -> None:
        try:
            assert target.spec.compare is not None
            compare = target.spec.compare
            primary, secondary = self._pair(target)
            counts.one_baseline = counts.one_baseline or primary is secondary
            sent = [
                self._send(address, request, compare.timeout)
                for address in (
                    primary.instance.address,
                    secondary.instance.address,
                    target.candidate.instance.address,
                )
            ]
            (ours, our_ms), (noise, _), (theirs, their_ms) = await asyncio.gather(*sent)
            if not (ours.answered and noise.answered):
                self._metrics.requests.labels("skipped").inc()
                counts.skipped += 1
                return
            started = time.thread_time()
            rules = self._rules_of(target.spec.name, compare)
            found = differences(ours, noise, theirs, rules)
            path = rules.shown_path(request.path)
            record(counts, target.endpoint, request.method, path, found, examples=compare.examples)
            record_arm(counts.primary, ours, our_ms)
            record_arm(counts.candidate, theirs, their_ms)
            self._metrics.cpu.inc(time.thread_time() - started)
            self._metrics.requests.labels("compared").inc()
        except Exception:  # one bad comparison must not end the comparator
            log.exception("comparing a request for %s failed", target.candidate.instance.id)
        finally:
            self._release()

    def _pair(self, target: Target) -> tuple[InstanceState, InstanceState]:
        """The next pair of old instances, in turn, so that differences between particular
        instances show up as noise."""
        baselines = target.baselines
        turn = self._turns.get(target.spec.name, 0)
        self._turns[target.spec.name] = turn + 1
        first = baselines[turn % len(baselines)]
        second = baselines[(turn + 1) % len(baselines)]
        return first, second

    def _rules_of(self, service: str, compare: Compare) -> Rules:
        rules = self._rules.get(service)
        if rules is None or rules.spec is not compare:
            rules = self._rules[service] = Rules(compare)
        return rules

    async def _send(self, address: str, request: _Request, timeout: float) -> tuple[Answer, float]:
        """One instance's answer (and the milliseconds it took), its body read up to the cap;
        a timeout or a failed connection is an answer too."""
        assert self._session is not None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                async with self._session.request(
                    request.method,
                    URL(f"http://{address}{request.path}", encoded=True),  # the path as sent
                    headers=[*request.headers, ("Host", request.host)],
                    data=request.body or None,
                    allow_redirects=False,
                    skip_auto_headers=("Content-Type",),
                ) as response:
                    answer = await _answer_of(response, self.limits.max_body)
        except TimeoutError:
            answer = Answer("timeout", {})
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            answer = Answer("connection error", {})
            log.debug("comparator: %s on %s: %s", request.method, address, exc)
        return answer, (time.perf_counter() - started) * 1000


async def _read_capped(request: web.BaseRequest, limit: int) -> bytes:
    """The request's body, read as it streams in; _TooLarge as soon as it passes `limit`."""
    if request.content_length is not None and request.content_length > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _answer_of(response: aiohttp.ClientResponse, limit: int) -> Answer:
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        lower = name.lower()
        headers[lower] = f"{headers[lower]}, {value}" if lower in headers else value
    if response.content_length is not None and response.content_length > limit:
        response.close()  # not read, and the connection is not reused
        return Answer(response.status, headers, over_cap=True)
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.content.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            response.close()
            return Answer(response.status, headers, over_cap=True)
        chunks.append(chunk)
    return Answer(response.status, headers, b"".join(chunks))


def _answer(request: web.BaseRequest, status: int, reason: str) -> web.Response:
    """A refusal. With a body left unread, the connection is closed rather than drained."""
    response = web.Response(status=status, text=reason + "\n")
    if request.body_exists and not request.content.is_eof():
        response.force_close()
    return response
