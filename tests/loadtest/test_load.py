"""The load itself, over httpx's MockTransport: on schedule, tallied, bounded."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from controlplane.loadtest import LoadError, LoadPlan, quantiles_ms, run_load


def plan(rps: float = 200, seconds: float = 0.25, **kw: float) -> LoadPlan:
    return LoadPlan(url="http://127.0.0.1:15001/", host="web", rps=rps, duration_s=seconds, **kw)  # type: ignore[arg-type]


async def test_requests_go_out_on_schedule_with_the_service_as_host() -> None:
    hosts: list[str] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(request.headers["host"])
        return httpx.Response(200 if len(hosts) % 10 else 503, text="a")

    result = await run_load(plan(), transport=httpx.MockTransport(answer))

    assert result.sent == result.planned == 50
    assert result.statuses == {200: 45, 503: 5}
    assert set(hosts) == {"web"}
    assert 0.24 <= result.elapsed_s < 0.5
    assert len(result.latencies_ms) == 50


async def test_concurrency_is_bounded_and_errors_are_tallied_by_name() -> None:
    in_flight = most = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        if request.url.path == "/":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200)

    result = await run_load(plan(400, 0.1, concurrency=4), transport=httpx.MockTransport(slow))

    assert most == 4
    assert result.errors == {"ConnectError": 40} and result.answered == 0
    assert result.max_lag_s > 0.01  # the schedule waited for a free slot


async def test_requests_still_out_when_time_runs_out_are_cancelled() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    # the whole run is bounded by duration + timeout + a grace; the mock ignores timeouts
    result = await run_load(plan(100, 0.05, timeout_s=0.1), transport=httpx.MockTransport(hang))

    assert result.sent == 5 and result.cancelled == 5
    assert result.elapsed_s < 3.0


@pytest.mark.parametrize(
    ("rps", "seconds", "message"),
    [
        (0, 1, "--rps must be a positive number"),
        (10, 0, "--duration must be longer than 0s"),
        (1, 7200, "at most 1h"),
        (100_000, 60, "one run sends at most 1,000,000"),
    ],
)
def test_impossible_plans_are_refused(rps: float, seconds: float, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        plan(rps, seconds).check()


def test_quantiles_are_nearest_rank() -> None:
    assert quantiles_ms([float(n) for n in range(1, 101)]) == {
        "p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0
    }  # fmt: skip
    assert quantiles_ms([]) == {}
