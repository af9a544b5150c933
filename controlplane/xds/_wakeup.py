"""A stream's one thing to wait on: woken by a request read or a snapshot published."""

from __future__ import annotations

import asyncio


class Wakeup:
    """Like asyncio.Event with `wait()` clearing it, for one waiter, at less cost.

    Every connected stream waits on one of these between pushes, and a change wakes all of
    them: with thousands of streams, two tasks and an `asyncio.wait` per stream and wake-up
    showed as a large share of the event loop's time per change and of a stream's memory
    (bench/README.md, "Figures behind the code"). A future from the loop is all a wait needs;
    an Event would add a deque and a loop look-up per wait.
    """

    __slots__ = ("_loop", "_set", "_waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        """Wake the waiter, or the next `wait()` if nobody waits now."""
        self._set = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Return once set since the last `wait()` returned (at once if it was)."""
        if not self._set:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._set = False
