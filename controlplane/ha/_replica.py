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
from controlplane.ha._leadership import Leadership, this_replica
from controlplane.ha._stats import SharedStats
from controlplane.ledger import PostgresStore, Store
from controlplane.stats import AdminSource, PushSource, StatsSource

LeaderWork = Callable[[], list[Coroutine[Any, Any, None]]]


class Replica:
    def __init__(
        self, follower: Follower, leadership: Leadership, stats: SharedStats | None = None
    ) -> None:
        self.follower = follower
        self.leadership = leadership
        self.stats = stats
        """Publishes this replica's stats readings for the leader, whoever leads."""

    async def run(self, work: LeaderWork) -> None:
        """Follow and campaign until cancelled; while leading, run `work()` in the term."""

        async def lead(term: int) -> None:
            leading(term)  # the tasks gather starts copy this context: their writes are fenced
            await asyncio.gather(*work())

        loops = [self.follower.run(), self.leadership.run(lead)]
        if self.stats is not None:
            loops.append(self.stats.publish_forever())
        await asyncio.gather(*loops)


def share_stats(store: Store, source: StatsSource) -> StatsSource:
    """The evaluator's source: on a shared ledger, push and pull readings go through
    PostgreSQL so the leader judges the whole fleet (controlplane/ha/_stats.py); otherwise,
    and for promql (Prometheus sees every proxy), `source` itself."""
    if isinstance(store, PostgresStore) and isinstance(source, PushSource | AdminSource):
        return SharedStats(store.url, source, replica=this_replica())
    return source


def replica_of(
    store: Store, controller: Controller, stats: StatsSource | None = None
) -> Replica | None:
    """A replica when the ledger is shared (PostgreSQL); None for SQLite, one process that
    always leads. `stats`, when share_stats() made it, is published by every replica."""
    if not isinstance(store, PostgresStore):
        return None
    shared = stats if isinstance(stats, SharedStats) else None
    return Replica(Follower(store.url, controller.catch_up), Leadership(store.url), shared)
