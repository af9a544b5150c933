"""Turn a burst of changes into few pushes without delaying a lone one.

A leading-edge throttle: a value offered after a quiet window is published at once; values
offered within `window` of the last publication wait for the window's end and only the
newest of them is published. So a burst of any length costs at most one publication per
window (the first at once, the last at most one window late), and nothing offered is lost:
the newest value is always published eventually.

The window stretches with the cost of publishing: after a publication that took `d`, the next
waits at least `spacing * d` (up to `longest`). A publication rebuilds every resource and hands
it to every stream, which at thousands of clusters takes tens of milliseconds; under a steady
stream of changes (a registration script, a migration) publishing at every window would take
all of the CPU and starve the API that makes the changes. Spaced so, publishing takes at most
about 1/spacing of the time, a lone change still goes at once, and a burst still ends with its
newest value, one (stretched) window late at most.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class Coalescer(Generic[T]):
    """Publishes offered values through `publish`, at most once per `window` seconds.

    `run()` is the publishing task; `offer()` is called on the same event loop. `clock` and
    `sleep` are injectable so tests can drive time by hand.
    """

    def __init__(
        self,
        window: float,
        publish: Callable[[T], Awaitable[None]],
        *,
        spacing: float = 0.0,
        longest: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if window < 0:
            raise ValueError(f"the coalescing window must not be negative, not {window}")
        self._window = window
        self._spacing = spacing
        self._longest = max(longest, window)
        self.gap = window
        """The least time between two publications now: the window, or stretched."""
        self._publish = publish
        self._clock = clock
        self._sleep = sleep
        self._pending: list[T] = []
        """The newest unpublished value, if any (a list so that None can be a value)."""
        self._arrived = asyncio.Event()
        self._last = -math.inf

    def offer(self, value: T) -> None:
        """Replace whatever is waiting with `value`; it is published at once if the last
        publication is at least a window old."""
        self._pending[:] = [value]
        self._arrived.set()

    async def run(self) -> None:
        while True:
            await self._arrived.wait()
            wait = self._last + self.gap - self._clock()
            if wait > 0:
                await self._sleep(wait)  # trailing edge: what arrives meanwhile replaces it
            self._arrived.clear()
            (value,) = self._pending
            self._pending.clear()
            self._last = self._clock()
            try:
                await self._publish(value)
            except Exception:  # a bug must not stop every later push; the next offer retries
                log.exception("publishing failed")
            took = self._clock() - self._last
            self.gap = min(max(self._window, self._spacing * took), self._longest)
