"""The pace of weir's periodic loops, written once: a tick every interval, until cancelled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn


async def every(interval_s: float, tick: Callable[[], Awaitable[object]]) -> NoReturn:
    """Await `tick()` every `interval_s` seconds until cancelled. The interval counts from each
    tick's start, so a slow tick shortens the wait after it instead of stretching the period,
    and one longer than the interval is followed by the next at once."""
    while True:
        started = time.monotonic()
        await tick()
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))
