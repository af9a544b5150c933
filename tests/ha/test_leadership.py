"""One leader at a time, elected through PostgreSQL, and a term that fences off a former one:
a write carrying a term that is over is refused in its own transaction, ledger unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager

import psycopg
import pytest

from controlplane.control import Controller, leading
from controlplane.ha import Leadership
from controlplane.ha._leadership import LOCK_KEY, Lead
from controlplane.ledger import Fenced, PostgresStore
from controlplane.model import ServiceSpec
from tests.support import until


@pytest.fixture
def store(ledger_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(ledger_url)
    yield store
    store.close()


def terms(url: str) -> list[tuple[int, str, int]]:
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT term, holder, after_seq FROM weir_terms ORDER BY term")
        return [(int(t), str(h), int(s)) for t, h, s in rows.fetchall()]


def start_term(url: str, holder: str) -> int:
    """Begin a term the way an election does, from outside the replicas under test."""
    with psycopg.connect(url) as db:
        row = db.execute(
            "UPDATE weir_leader SET term = term + 1, holder = %s RETURNING term", (holder,)
        ).fetchone()
        assert row is not None
        return int(row[0])


async def test_a_write_with_a_term_that_is_over_is_refused(
    store: PostgresStore, ledger_url: str
) -> None:
    # Given a leader in term 1 that has written once
    controller = Controller(store)
    old = start_term(ledger_url, "a")

    def write_as_leader(term: int, name: str) -> None:
        leading(term)  # this thread's writes carry the term, as the leader's tasks' do
        controller.apply_service(ServiceSpec(name=name), actor="rollout")

    await asyncio.to_thread(write_as_leader, old, "web")
    # When another replica begins term 2, and the old leader writes again
    start_term(ledger_url, "b")
    with pytest.raises(Fenced, match=r"term 1 is over .* now 2"):
        await asyncio.to_thread(write_as_leader, old, "api")
    # Then the ledger holds only the write of term 1, and the controller did not move on
    with psycopg.connect(ledger_url) as db:
        rows = db.execute("SELECT seq, actor, term FROM ledger ORDER BY seq").fetchall()
    assert rows == [(1, "rollout", 1)]
    assert controller.state.seq == 1 and set(controller.state.services) == {"web"}
    # An operator's write (no term) and the new leader's are accepted
    controller.apply_service(ServiceSpec(name="shop"), actor="ops")
    await asyncio.to_thread(write_as_leader, old + 1, "api")
    assert [e.seq for e in store.read()] == [1, 2, 3]


@contextlib.asynccontextmanager
async def campaigning_with(leadership: Leadership, lead: Lead) -> AsyncIterator[None]:
    task = asyncio.create_task(leadership.run(lead))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def campaigning(leadership: Leadership, led: list[int]) -> AbstractAsyncContextManager[None]:
    async def lead(term: int) -> None:
        led.append(term)
        await asyncio.Event().wait()  # lead until cancelled

    return campaigning_with(leadership, lead)


async def test_when_the_leaders_connection_dies_another_replica_leads(
    store: PostgresStore, ledger_url: str
) -> None:
    # Given two replicas campaigning; a leads
    a = Leadership(ledger_url, holder="a", heartbeat_s=0.2, lapse_s=2.0, try_every_s=0.1)
    b = Leadership(ledger_url, holder="b", heartbeat_s=0.2, lapse_s=2.0, try_every_s=0.1)
    led_a: list[int] = []
    led_b: list[int] = []
    async with campaigning(a, led_a):
        await until(lambda: a.term == 1, timeout=5)
        async with campaigning(b, led_b):
            await asyncio.sleep(0.5)
            assert (a.term, b.term, led_b) == (1, None, [])  # one leader at a time
            # When the database ends a's session (as it does when a's process dies)
            with psycopg.connect(ledger_url, autocommit=True) as db:
                db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND objid = %s",
                    (LOCK_KEY & 0xFFFFFFFF,),
                )
            # Then b leads in term 2 within seconds, and a has stepped down
            waited = await until(lambda: b.term == 2, timeout=5)
            await until(lambda: a.term is None, timeout=5)
            assert led_b == [2]
            await asyncio.sleep(0.5)
            assert a.term is None and led_a == [1]  # a does not win it back while b leads
    print(f"b led {waited:.2f} s after a's session ended")
    assert [(t, h) for t, h, _ in terms(ledger_url)] == [(1, "a"), (2, "b")]


class ReplicaThread(threading.Thread):
    """A replica campaigning on its own event loop, so that it runs while another's is stuck."""

    def __init__(self, leadership: Leadership) -> None:
        super().__init__(daemon=True)
        self.leadership = leadership
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None

    def run(self) -> None:
        async def lead(term: int) -> None:
            await asyncio.Event().wait()

        async def main() -> None:
            self._task = asyncio.create_task(self.leadership.run(lead))
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

        self._loop.run_until_complete(main())
        self._loop.close()

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self.join(timeout=10)


async def test_a_leader_that_stops_talking_loses_its_term_and_its_late_write_is_refused(
    store: PostgresStore, ledger_url: str
) -> None:
    # Given replica a leading (term 1) and replica b campaigning on a loop of its own
    settings = {"heartbeat_s": 0.2, "lapse_s": 1.0, "try_every_s": 0.1}
    a = Leadership(ledger_url, holder="a", **settings)
    b = ReplicaThread(Leadership(ledger_url, holder="b", **settings))
    controller = Controller(store)
    late: list[Exception] = []

    async def lead_a(term: int) -> None:
        leading(term)
        b.start()
        await asyncio.sleep(0.5)
        assert b.leadership.term is None  # b waits while a heartbeats
        # When a's whole loop stops (as under SIGSTOP: no heartbeat), until b has taken over
        deadline = time.monotonic() + 10
        while b.leadership.term is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # and the first thing a does on waking is a leader's write
        try:
            controller.apply_service(ServiceSpec(name="late"), actor="rollout")
        except Exception as exc:
            late.append(exc)
        await asyncio.Event().wait()

    try:
        async with campaigning_with(a, lead_a):
            await until(lambda: bool(late), timeout=15)
            # Then a steps down on its next heartbeat
            await until(lambda: a.term is None, timeout=5)
    finally:
        b.stop()
    # and its write was refused for its term, leaving the ledger as it was
    assert isinstance(late[0], Fenced) and "term 1 is over" in late[0].message, late
    assert store.read() == []
    assert [(t, h) for t, h, _ in terms(ledger_url)] == [(1, "a"), (2, "b")]
