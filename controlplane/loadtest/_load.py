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
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

MAX_REQUESTS = 1_000_000
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
        headers={"Host": plan.host},
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
                result.latencies_ms.append((time.perf_counter() - began) * 1000)
                result.statuses[response.status_code] += 1
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
