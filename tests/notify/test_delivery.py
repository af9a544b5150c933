"""Delivery to a real receiver on 127.0.0.1: retries with backoff, bounded attempts, and a
failing or silent receiver that never holds up another."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from controlplane.notify import Notification, RetryPolicy, WebhookSender, display_url
from tests.notify._receiver import Receiver
from tests.support import free_port, until

FAST = RetryPolicy(max_attempts=4, first_backoff_s=0.05, max_backoff_s=1.0, timeout_s=1.0)


def note(n: int = 1, kind: str = "rollout.started") -> Notification:
    return Notification(kind, f"{n}:{kind}", {"id": f"{n}:{kind}", "event": kind, "seq": n})


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(fail_first=2) as r:
        yield r


async def test_a_receiver_failing_the_first_attempts_gets_the_notification_on_the_third(
    receiver: Receiver, http: httpx.AsyncClient
) -> None:
    sender = WebhookSender(receiver.url, policy=FAST, jitter=lambda: 0.0)

    delivered = await sender.deliver(http, note())

    assert delivered
    attempts = receiver.attempts()
    assert [(a.headers["x-weir-attempt"], a.status) for a in attempts] == [
        ("1", 503), ("2", 503), ("3", 204)
    ]  # fmt: skip
    assert {a.delivery for a in attempts} == {"1:rollout.started"}  # one id: dedupe by it
    assert attempts[-1].body == {"id": "1:rollout.started", "event": "rollout.started", "seq": 1}
    assert attempts[0].headers["content-type"] == "application/json"
    assert attempts[0].headers["x-weir-event"] == "rollout.started"
    # backoff doubles: 50 ms, then 100 ms
    first, second = (b.at - a.at for a, b in itertools.pairwise(attempts))
    assert 0.045 <= first < 0.09 and 0.095 <= second < 0.2, (first, second)
    assert (sender.counts.delivered, sender.counts.attempts) == (1, 3)


async def test_attempts_are_bounded_and_the_give_up_is_logged(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with Receiver(fail_first=100) as always_failing:
        sender = WebhookSender(always_failing.url, policy=FAST, jitter=lambda: 0.0)
        with caplog.at_level(logging.WARNING, logger="controlplane.notify"):
            delivered = await sender.deliver(http, note(7, "verdict.fail"))
        assert not delivered
        assert len(always_failing.attempts()) == FAST.max_attempts
    assert sender.counts.failed == 1
    (record,) = [r for r in caplog.records if "gave up" in r.getMessage()]
    message = record.getMessage()
    assert "7:verdict.fail" in message and "503" in message
    assert "secret-token" not in message  # the URL's path is not logged


async def test_a_client_error_is_final(http: httpx.AsyncClient) -> None:
    with Receiver(fail_first=100, fail_status=404) as gone:
        sender = WebhookSender(gone.url, policy=FAST)
        assert not await sender.deliver(http, note())
        assert len(gone.attempts()) == 1


async def test_a_dead_or_silent_receiver_does_not_hold_up_a_healthy_one(
    http: httpx.AsyncClient,
) -> None:
    with Receiver() as healthy, Receiver(stall_s=3.0) as silent:
        senders = [
            WebhookSender(f"http://127.0.0.1:{free_port()}/dead", policy=FAST),
            WebhookSender(silent.url, policy=FAST),
            WebhookSender(healthy.url, policy=FAST),
        ]
        workers = [asyncio.create_task(s.run(http)) for s in senders]
        try:
            for n in range(1, 4):
                for sender in senders:
                    sender.offer(note(n))  # never waits
            await until(lambda: len(healthy.accepted()) == 3, timeout=2.0)
            assert [b["seq"] for b in healthy.accepted()] == [1, 2, 3]  # in order
            assert not senders[0].idle and not senders[1].idle  # still trying
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


async def test_a_full_queue_drops_its_oldest_notification() -> None:
    sender = WebhookSender("http://127.0.0.1:9/", policy=RetryPolicy(queue_size=2))

    for n in range(1, 5):
        sender.offer(note(n))

    assert sender.counts.dropped == 2
    assert not sender.idle


def test_urls_are_shown_without_their_secret_parts() -> None:
    assert display_url("https://hooks.example.com/services/T0/B0/XyZ") == (
        "https://hooks.example.com/…"
    )
    assert display_url("http://user:pw@127.0.0.1:8000") == "http://127.0.0.1:8000"


def test_backoff_doubles_up_to_its_ceiling() -> None:
    policy = RetryPolicy(first_backoff_s=0.5, max_backoff_s=3.0)
    assert [policy.backoff_s(n, 0.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff_s(1, 0.999) == pytest.approx(0.25, abs=0.001)
