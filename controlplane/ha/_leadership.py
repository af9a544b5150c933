"""Leader election through PostgreSQL: a session advisory lock, and a term as fencing token.

Every replica tries `pg_try_advisory_lock` on a connection of its own. The one that gets it
starts a new term (weir_leader.term + 1, recorded in weir_terms) and runs `lead(term)`; the
writes that run makes carry the term, checked by the store in the appending transaction.

PostgreSQL drops the lock when the leader's session ends: at once when its process dies (the
kernel closes the socket), and after `lapse_s` when it stops talking (a paused process, a cut
network): the session is opened with idle_session_timeout, and the leader heartbeats every
`heartbeat_s`. A former leader that wakes up finds its connection gone and steps down; any
write it attempts before noticing carries the old term and is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg

log = logging.getLogger(__name__)

LOCK_KEY = 0x7765697201  # the advisory lock whose holder leads
HEARTBEAT_S = 1.0
LAPSE_S = 4.0
TRY_EVERY_S = 0.5

Lead = Callable[[int], Coroutine[Any, Any, None]]


def this_replica() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    def __init__(
        self,
        url: str,
        *,
        holder: str | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        lapse_s: float = LAPSE_S,
        try_every_s: float = TRY_EVERY_S,
    ) -> None:
        if not heartbeat_s < lapse_s:
            raise ValueError("the heartbeat must come more often than the lapse")
        self._url = url
        self.holder = holder or this_replica()
        self._heartbeat_s = heartbeat_s
        self._lapse_ms = round(lapse_s * 1000)
        self._try_every_s = try_every_s
        self.term: int | None = None
        """This replica's term while it leads, else None."""

    async def run(self, lead: Lead) -> None:
        """Campaign, and while leading run `lead(term)`; until cancelled. Leadership lost
        cancels `lead`'s task; a lost connection is retried."""
        while True:
            try:
                await self._campaign(lead)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if self.term is not None:
                    log.warning("term %d over: %s", self.term, exc)
                else:
                    log.warning("cannot campaign for leadership: %s; retrying", exc)
            except Exception:
                # The leader's work failed: give the term up (the lock goes with the
                # connection) rather than stop campaigning for good.
                log.exception("term %s ended by a failure", self.term)
            finally:
                self.term = None
            await asyncio.sleep(self._try_every_s)

    async def _campaign(self, lead: Lead) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            connect_timeout=max(1, round(self._lapse_ms / 1000)),
            # keepalives notice a dead server; idle_session_timeout a silent leader
            keepalives_idle=1, keepalives_interval=1, keepalives_count=3,
        ) as db:  # fmt: skip
            await db.execute(f"SET idle_session_timeout = {self._lapse_ms}")
            while not await self._try_lock(db):
                await asyncio.sleep(self._try_every_s)
            term = await self._begin_term(db)
            self.term = term
            log.info("leading as %s, term %d", self.holder, term)
            task = asyncio.create_task(lead(term), name=f"leader term {term}")
            try:
                while not task.done():
                    await asyncio.wait_for(db.execute("SELECT 1"), self._heartbeat_s)
                    await asyncio.wait({task}, timeout=self._heartbeat_s)
                await task  # lead() returning or raising ends the term too
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _try_lock(self, db: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
        row = await (await db.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))).fetchone()
        return bool(row and row[0])

    async def _begin_term(self, db: psycopg.AsyncConnection[tuple[object, ...]]) -> int:
        """A new term, after every write of the previous ones (the row lock orders them)."""
        async with db.transaction():
            cursor = await db.execute(
                "UPDATE weir_leader SET term = term + 1, holder = %s RETURNING term",
                (self.holder,),
            )
            row = await cursor.fetchone()
            if row is None:
                raise psycopg.DataError("weir_leader has no row: was the ledger opened?")
            term = int(str(row[0]))
            await db.execute(
                "INSERT INTO weir_terms (term, holder, after_seq) "
                "SELECT %s, %s, COALESCE(MAX(seq), 0) FROM ledger",
                (term, self.holder),
            )
        return term
