"""Turn a burst of changes into few pushes without delaying a lone one.

A leading-edge throttle: a value offered after a quiet window is published at once; values
offered within `window` of the last publication wait for the window's end and only the
newest of them is published. So a burst of any length costs at most one publication per
window (the first at once, the last at most one window late), and nothing offered is lost:
the newest value is always published eventually.
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
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if window < 0:
            raise ValueError(f"the coalescing window must not be negative, not {window}")
        self._window = window
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
            wait = self._last + self._window - self._clock()
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
