"""Two replicas on one ledger: a change made through one reaches the other's state and its
subscribers (xDS among them), by the NOTIFY doorbell or, when notifications are lost, by the
poll; and writes through both never fork the ledger."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from controlplane.control import Controller
from controlplane.ha import Follower
from controlplane.ledger import PostgresStore
from controlplane.model import Instance, ServiceSpec, State
from tests.support import until


@pytest.fixture
def replicas(ledger_url: str) -> Iterator[tuple[Controller, Controller]]:
    stores = [PostgresStore(ledger_url), PostgresStore(ledger_url)]
    yield Controller(stores[0]), Controller(stores[1])
    for store in stores:
        store.close()


@contextlib.asynccontextmanager
async def following(follower: Follower) -> AsyncIterator[None]:
    task = asyncio.create_task(follower.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    ("listen", "poll_s", "within_s"),
    [(True, 60.0, 1.0), (False, 1.0, 2.5)],
    ids=["doorbell", "notify-lost-poll"],
)
async def test_a_change_through_one_replica_reaches_the_other(
    replicas: tuple[Controller, Controller],
    ledger_url: str,
    listen: bool,
    poll_s: float,
    within_s: float,
) -> None:
    # Given replica b following the ledger, with a subscriber (as the xDS cache is)
    a, b = replicas
    seen: list[State] = []
    b.subscribe(seen.append)
    async with following(Follower(ledger_url, b.catch_up, poll_s=poll_s, listen=listen)):
        await asyncio.sleep(0.3)  # b is listening (or has polled once)
        # When an operator registers a service and an instance through replica a
        await asyncio.to_thread(a.apply_service, ServiceSpec(name="web"), actor="ops")
        instance = Instance(id="blue", service="web", version="v1", address="127.0.0.1:9000")
        await asyncio.to_thread(a.add_instance, instance, actor="ops")
        # Then b's state and b's subscriber have both, within the bound
        waited = await until(lambda: b.state.seq == 2, timeout=within_s)
    assert b.state == a.state
    assert seen[-1] == a.state and "blue" in seen[-1].instances
    print(f"replica b caught up in {waited:.3f} s ({'doorbell' if listen else 'poll only'})")


async def test_writes_through_both_replicas_interleave_without_a_fork(
    replicas: tuple[Controller, Controller],
) -> None:
    # Neither replica follows: each write finds the ledger moved on and re-checks.
    a, b = replicas

    def write(controller: Controller, name: str) -> None:
        for n in range(10):
            controller.apply_service(ServiceSpec(name=f"{name}{n}"), actor=name)

    await asyncio.gather(asyncio.to_thread(write, a, "a"), asyncio.to_thread(write, b, "b"))
    entries = a.history()
    assert [e.seq for e in entries] == list(range(1, 21))
    assert sorted(e.actor for e in entries) == ["a"] * 10 + ["b"] * 10
    assert set(b.catch_up().services) == set(a.catch_up().services) and len(a.state.services) == 20
