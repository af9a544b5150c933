"""One replica of `weir serve` on a shared PostgreSQL ledger: it follows the ledger, and
campaigns to lead. Every replica serves xDS and the API; only the leader runs the work that
writes on its own (the evaluator, the rollout driver) and the webhook delivery, and runs it
inside its term, so each of those writes is fenced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from controlplane.control import Controller, leading
from controlplane.ha._follow import Follower
from controlplane.ha._leadership import Leadership
from controlplane.ledger import PostgresStore, Store

LeaderWork = Callable[[], list[Coroutine[Any, Any, None]]]


class Replica:
    def __init__(self, follower: Follower, leadership: Leadership) -> None:
        self.follower = follower
        self.leadership = leadership

    async def run(self, work: LeaderWork) -> None:
        """Follow and campaign until cancelled; while leading, run `work()` in the term."""

        async def lead(term: int) -> None:
            leading(term)  # the tasks gather starts copy this context: their writes are fenced
            await asyncio.gather(*work())

        await asyncio.gather(self.follower.run(), self.leadership.run(lead))


def replica_of(store: Store, controller: Controller) -> Replica | None:
    """A replica when the ledger is shared (PostgreSQL); None for SQLite, one process that
    always leads."""
    if not isinstance(store, PostgresStore):
        return None
    return Replica(Follower(store.url, controller.catch_up), Leadership(store.url))
