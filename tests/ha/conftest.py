"""Replicas on one shared PostgreSQL ledger: each test gets a fresh database on the session's
real server (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.support._postgres import PostgresServer


@pytest.fixture
def ledger_url(postgres: PostgresServer) -> str:
    return postgres.fresh_database()


async def until(check: Callable[[], bool], *, timeout: float, interval: float = 0.02) -> float:
    """Seconds until `check()` is true, waiting on the loop; fails after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"still not true after {timeout} s")
        await asyncio.sleep(interval)
    return time.monotonic() - started
