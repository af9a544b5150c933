"""Open-loop HTTP load through an Envoy listener: N requests per second for D seconds.

Request i is due at start + i/rps, whatever happened to the ones before it (a slow answer does
not slow the schedule down, as it would with a closed loop). At most `concurrency` requests are
in flight; when all are, the next waits for one to finish, and how far the schedule fell behind
is recorded. Everything is bounded: the request count by rps x duration (at most
MAX_REQUESTS), the time by duration (at most an hour) + timeout + a grace after which whatever
is still in flight is cancelled.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from controlplane.defaults import INSTANCE_HEADER, LOADTEST_HEADER

MAX_REQUESTS = 1_000_000
MAX_HEADERS = 32
MAX_HEADER_BYTES = 8192
"""Of all --header names and values together."""
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
"""An HTTP header name (RFC 9110's token)."""
PROXY = ""
"""Where an answer named no instance: the proxy answered itself (no route, no upstream)."""
MAX_DURATION_S = 3600.0
MAX_CONCURRENCY = 10_000
GRACE_S = 2.0
"""After the last request is due and its timeout has passed: then stragglers are cancelled."""


class LoadError(Exception):
    """The load cannot be run as asked (bad numbers); nothing was sent."""


@dataclass(frozen=True, slots=True)
class LoadPlan:
    url: str
    """http://host:port/path of the listener."""
    host: str
    """The Host header: the service's name, which the listener routes by."""
    rps: float
    duration_s: float
    concurrency: int = 64
    timeout_s: float = 5.0
    headers: tuple[tuple[str, str], ...] = ()
    """More request headers (--header K:V); Host among them replaces the service name."""
    tag: str = "weir-loadtest"
    """This run's value of the tag header: the proxy names the instance of tagged answers."""

    def request_headers(self) -> dict[str, str]:
        headers = {"Host": self.host}
        for name, value in self.headers:
            headers[name.title() if name.lower() == "host" else name] = value
        headers[LOADTEST_HEADER] = self.tag
        return headers

    @property
    def total(self) -> int:
        return max(1, math.ceil(self.rps * self.duration_s))

    def check(self) -> None:
        if not (math.isfinite(self.rps) and self.rps > 0):
            raise LoadError(f"--rps must be a positive number, not {self.rps:g}")
        if not (math.isfinite(self.duration_s) and 0 < self.duration_s <= MAX_DURATION_S):
            raise LoadError("--duration must be longer than 0s and at most 1h")
        if self.total > MAX_REQUESTS:
            raise LoadError(
                f"{self.rps:g} rps for {self.duration_s:g}s is {self.total:,} requests; "
                f"one run sends at most {MAX_REQUESTS:,}"
            )
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise LoadError(f"--concurrency must be between 1 and {MAX_CONCURRENCY:,}")
        if not (math.isfinite(self.timeout_s) and 0 < self.timeout_s <= 60):
            raise LoadError("--timeout must be longer than 0s and at most 60s")
        check_headers(self.headers)


def check_headers(headers: tuple[tuple[str, str], ...]) -> None:
    """Names that are HTTP tokens, values without control characters, within the limits."""
    if len(headers) > MAX_HEADERS:
        raise LoadError(f"at most {MAX_HEADERS} --header options")
    if sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES:
        raise LoadError(f"the --header options hold more than {MAX_HEADER_BYTES} bytes")
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise LoadError(f"--header {name!r}: not a header name")
        if name.lower() == LOADTEST_HEADER:
            raise LoadError(f"--header {name}: weir loadtest sets it itself")
        if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
            raise LoadError(f"--header {name}: a control character in its value")


@dataclass(slots=True)
class Tally:
    """The answers one instance gave (or the proxy itself): statuses and latencies."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())


@dataclass(slots=True)
class ClientResult:
    """What the callers saw: a status or an error per request, and each answer's latency."""

    planned: int
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    """Requests without an answer, by the error's name (ConnectError, ReadTimeout, ...)."""
    cancelled: int = 0
    """Still in flight when the time bound ran out."""
    latencies_ms: list[float] = field(default_factory=list)
    """Of every answered request, from the moment it was sent to its whole body."""
    served: dict[str, Tally] = field(default_factory=dict)
    """By the cluster the proxy named in INSTANCE_HEADER (PROXY: none named)."""
    elapsed_s: float = 0.0
    max_lag_s: float = 0.0
    """How far behind its schedule a request was sent, at worst (concurrency was the limit)."""

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    @property
    def sent_rps(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def run_load(
    plan: LoadPlan, *, transport: httpx.AsyncBaseTransport | None = None
) -> ClientResult:
    """Send `plan.total` GETs on schedule; returns once every one is answered, failed or
    cancelled. `transport` stands in for the network in tests."""
    plan.check()
    result = ClientResult(planned=plan.total)
    limits = httpx.Limits(
        max_connections=plan.concurrency, max_keepalive_connections=plan.concurrency
    )
    gate = asyncio.Semaphore(plan.concurrency)
    in_flight: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(
        headers=plan.request_headers(),
        limits=limits,
        timeout=plan.timeout_s,
        trust_env=False,
        transport=transport,
    ) as client:

        async def one() -> None:
            try:
                began = time.perf_counter()
                try:
                    response = await client.get(plan.url)
                except httpx.HTTPError as exc:
                    result.errors[type(exc).__name__] += 1
                    return
                latency = (time.perf_counter() - began) * 1000
                result.latencies_ms.append(latency)
                result.statuses[response.status_code] += 1
                cluster = response.headers.get(INSTANCE_HEADER, PROXY)
                tally = result.served.setdefault(cluster if cluster != "-" else PROXY, Tally())
                tally.statuses[response.status_code] += 1
                tally.latencies_ms.append(latency)
            finally:
                gate.release()

        start = time.perf_counter()
        deadline = start + plan.duration_s + plan.timeout_s + GRACE_S
        interval = 1.0 / plan.rps
        try:
            for i in range(plan.total):
                due = start + i * interval
                pause = due - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    async with asyncio.timeout(left):
                        await gate.acquire()
                except TimeoutError:
                    break
                result.max_lag_s = max(result.max_lag_s, time.perf_counter() - due)
                task = asyncio.create_task(one())
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                result.sent += 1
            if in_flight:
                await asyncio.wait(set(in_flight), timeout=max(0.0, deadline - time.perf_counter()))
        finally:
            result.elapsed_s = time.perf_counter() - start
            stragglers = set(in_flight)
            for task in stragglers:
                task.cancel()
            if stragglers:
                await asyncio.gather(*stragglers, return_exceptions=True)
            result.cancelled = len(stragglers)
    return result


def quantiles_ms(
    samples: list[float], qs: tuple[float, ...] = (0.5, 0.9, 0.99)
) -> dict[str, float]:
    """{"p50": ..., "p90": ..., "p99": ..., "max": ...} of latencies (nearest rank); {} if none."""
    if not samples:
        return {}
    ordered = sorted(samples)
    out = {}
    for q in qs:
        rank = max(1, math.ceil(q * len(ordered)))
        out[f"p{q * 100:g}"] = ordered[rank - 1]
    out["max"] = ordered[-1]
    return out
