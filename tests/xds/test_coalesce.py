"""Coalescing ledger changes into pushes: a lone change goes at once, a burst costs at most a
push per window and ends with its newest state. Time is driven by hand."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from controlplane.model import State
from controlplane.resources import build_resources
from controlplane.xds._cache import SnapshotCache
from controlplane.xds._coalesce import Coalescer
from tests.support import until
from tests.xds._fixtures import add, controller

WINDOW = 0.02
WEIR = str(Path(sys.executable).parent / "weir")


class Clock:
    """A monotonic clock and a sleep that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + delay, woken))
        await woken

    async def advance(self, delay: float) -> None:
        self.now += delay
        for due, woken in list(self._sleepers):
            if due <= self.now:
                self._sleepers.remove((due, woken))
                woken.set_result(None)
        await settle()


async def settle() -> None:
    """Let every ready task run to its next wait."""
    for _ in range(20):
        await asyncio.sleep(0)


class Recorder:
    def __init__(self) -> None:
        self.published: list[int] = []

    async def __call__(self, value: int) -> None:
        self.published.append(value)


async def started(clock: Clock) -> tuple[Coalescer[int], Recorder, asyncio.Task[None]]:
    record = Recorder()
    coalescer = Coalescer(WINDOW, record, clock=clock.time, sleep=clock.sleep)
    return coalescer, record, asyncio.create_task(coalescer.run())


async def test_a_lone_change_is_published_at_once() -> None:
    clock = Clock()
    coalescer, record, task = await started(clock)

    coalescer.offer(1)
    await settle()
    assert record.published == [1]

    await clock.advance(10 * WINDOW)  # a quiet period, then another lone change
    coalescer.offer(2)
    await settle()
    assert record.published == [1, 2]
    task.cancel()


async def test_a_burst_inside_the_window_is_two_publications_ending_with_the_last() -> None:
    clock = Clock()
    coalescer, record, task = await started(clock)

    for value in range(1, 51):
        coalescer.offer(value)
        await clock.advance(WINDOW / 100)
    assert record.published == [1]  # the leading edge went at once; the rest wait

    await clock.advance(WINDOW)
    assert record.published == [1, 50]
    await clock.advance(10 * WINDOW)
    assert record.published == [1, 50]  # nothing more to say
    task.cancel()


async def test_a_long_burst_publishes_once_per_window_and_loses_nothing_at_its_end() -> None:
    clock = Clock()
    coalescer, record, task = await started(clock)

    for value in range(1, 101):  # 100 changes over 5 windows
        coalescer.offer(value)
        await clock.advance(WINDOW / 20)
    await clock.advance(WINDOW)

    assert record.published[-1] == 100
    assert len(record.published) <= 6 + 1
    assert record.published == sorted(record.published)
    task.cancel()


async def test_a_failed_publication_does_not_stop_the_next() -> None:
    clock = Clock()
    published: list[int] = []

    async def publish(value: int) -> None:
        if value == 1:
            raise RuntimeError("boom")
        published.append(value)

    coalescer = Coalescer(WINDOW, publish, clock=clock.time, sleep=clock.sleep)
    task = asyncio.create_task(coalescer.run())
    coalescer.offer(1)
    await settle()
    await clock.advance(WINDOW)
    coalescer.offer(2)
    await settle()

    assert published == [2]
    task.cancel()


class FakeController:
    """The two things the cache uses: the current state and a callback after each append."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._listeners: list[Callable[[State], None]] = []

    def subscribe(self, listener: Callable[[State], None]) -> None:
        self._listeners.append(listener)

    def append(self, state: State) -> None:
        """Called from the appending thread, as the Controller does."""
        self.state = state
        for listener in self._listeners:
            listener(state)


def states(n: int) -> tuple[State, list[State]]:
    """A starting state and the n states after it, one instance added each."""
    real = controller(("a", 1))
    start = real.state
    after: list[State] = []
    real.subscribe(after.append)
    for i in range(n):
        add(real, f"i{i}", port=9200 + i)
    return start, after


async def test_the_cache_pushes_a_lone_change_at_once_and_a_burst_as_its_newest_state() -> None:
    start, after = states(10)
    fake = FakeController(start)
    clock = Clock()
    published: list[str] = []
    cache = SnapshotCache(
        fake,
        asyncio.get_running_loop(),
        on_publish=published.append,
        coalesce_s=WINDOW,
        coalescer=functools.partial(Coalescer, clock=clock.time, sleep=clock.sleep),
    )
    version = [build_resources(s).version for s in after]
    seen = cache.snapshot

    await asyncio.to_thread(fake.append, after[0])  # from another thread, as the API appends
    await until(lambda: cache.snapshot is not seen)
    assert cache.snapshot.version == version[0]

    burst_began = time.time()
    await asyncio.to_thread(fake.append, after[1])
    first_appended = time.time()
    for state in after[2:]:
        await asyncio.to_thread(fake.append, state)
    await settle()
    assert published[1:] == [version[0]]  # the burst waits for the window's end
    await clock.advance(WINDOW)
    await until(lambda: len(published) == 3)

    assert published == [build_resources(start).version, version[0], version[-1]]
    assert cache.snapshot.version == version[-1]
    # Convergence of the coalesced push is counted from its oldest change, not its publication.
    assert burst_began <= cache.published_at <= first_appended
    cache.close()


async def test_an_older_state_arriving_late_never_replaces_a_newer_one() -> None:
    start, after = states(3)
    fake = FakeController(start)
    published: list[str] = []
    cache = SnapshotCache(
        fake, asyncio.get_running_loop(), on_publish=published.append, coalesce_s=0
    )

    fake.append(after[2])
    fake.append(after[1])  # another thread's append, delivered late
    await until(lambda: len(published) == 2)
    await asyncio.sleep(0.05)

    assert cache.snapshot.version == build_resources(after[2]).version
    assert len(published) == 2
    cache.close()


def test_weir_serve_refuses_a_negative_window() -> None:
    result = subprocess.run(
        [WEIR, "serve", "--coalesce-ms", "-5", "--store", "unused.db"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "--coalesce-ms" in result.stderr and "-5" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_window_stretches_to_spacing_times_what_the_last_publication_took() -> None:
    clock = Clock()
    published: list[int] = []

    async def slow_publish(value: int) -> None:
        published.append(value)
        await clock.sleep(5 * WINDOW)  # a big mesh: publishing takes five windows

    coalescer = Coalescer(
        WINDOW, slow_publish, spacing=10, longest=1.0, clock=clock.time, sleep=clock.sleep
    )
    task = asyncio.create_task(coalescer.run())
    coalescer.offer(1)
    await settle()
    await clock.advance(5 * WINDOW)  # the first publication ends
    assert coalescer.gap == 50 * WINDOW

    coalescer.offer(2)
    await clock.advance(40 * WINDOW)
    assert published == [1]  # spaced: not yet, though the plain window has long passed
    await clock.advance(10 * WINDOW)
    assert published == [1, 2]
    await clock.advance(5 * WINDOW)  # its publication ends; a quiet spell follows
    await clock.advance(100 * WINDOW)
    coalescer.offer(3)
    await settle()
    assert published == [1, 2, 3]  # a lone change after a quiet spell still goes at once
    task.cancel()
