"""One leader at a time, elected through PostgreSQL, and a term that fences off a former one:
a write carrying a term that is over is refused in its own transaction, ledger unchanged."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from controlplane.control import Controller, leading
from controlplane.ha import Leadership
from controlplane.ha._leadership import LOCK_KEY
from controlplane.ledger import Fenced, PostgresStore
from controlplane.model import ServiceSpec
from tests.ha.conftest import until


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
async def campaigning(leadership: Leadership, led: list[int]) -> AsyncIterator[asyncio.Task[None]]:
    async def lead(term: int) -> None:
        led.append(term)
        await asyncio.Event().wait()  # lead until cancelled

    task = asyncio.create_task(leadership.run(lead))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
