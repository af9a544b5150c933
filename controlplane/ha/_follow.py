"""Fan-out between replicas: keep this replica's controller caught up with the shared ledger.

NOTIFY is only a doorbell. On each ring, and every `poll_s` whatever happens, the controller
reads the entries after its last seq; so a lost notification (a dropped connection, a replica
that was paused) delays a change by at most `poll_s`, never loses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

from controlplane.errors import StoreError
from controlplane.ledger import CHANNEL

log = logging.getLogger(__name__)

POLL_S = 1.0
RECONNECT_S = 1.0


class Follower:
    def __init__(
        self,
        url: str,
        catch_up: Callable[[], object],
        *,
        poll_s: float = POLL_S,
        listen: bool = True,
    ) -> None:
        """`catch_up` is Controller.catch_up; `listen=False` leaves only the poll (tests)."""
        self._url = url
        self._catch_up = catch_up
        self._poll_s = poll_s
        self._listen = listen

    async def run(self) -> None:
        """Catch up until cancelled; a lost database connection is retried, never fatal."""
        while True:
            try:
                if self._listen:
                    await self._listening()
                else:
                    await self._polling()
            except (psycopg.Error, StoreError) as exc:
                log.warning("following the shared ledger: %s; retrying", exc)
                await asyncio.sleep(RECONNECT_S)

    async def _polling(self) -> None:
        while True:
            await asyncio.to_thread(self._catch_up)
            await asyncio.sleep(self._poll_s)

    async def _listening(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as db:
            await db.execute(f"LISTEN {CHANNEL}")
            while True:
                # After LISTEN: an append committed in between rings, or this read sees it.
                await asyncio.to_thread(self._catch_up)
                async for _ in db.notifies(timeout=self._poll_s, stop_after=1):
                    pass
