"""Bounded waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

HOST = "127.0.0.1"


def eventually(
    check: Callable[[], T],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = AssertionError,
) -> T:
    """The value of `check()` once it stops raising (or returns a true value).

    `check` either asserts and returns anything, or returns a value that is truthy when done;
    exceptions of the `retry_on` types mean "not yet". After `timeout` seconds the last such
    exception is raised again, so pytest shows why.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except retry_on:
            if time.monotonic() >= deadline:
                raise
        else:
            if value is None or value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"still {value!r} after {timeout:g}s")
        time.sleep(interval)


async def until(
    check: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> float:
    """Seconds until `check()` is true, waiting on the event loop (`eventually` blocks the
    thread); fails the test after `timeout` seconds, naming `what` if given."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:g}s: {what or 'the condition'}")
        await asyncio.sleep(interval)
    return time.monotonic() - started
