"""One replica of `weir serve` on a shared PostgreSQL ledger: it follows the ledger, and
campaigns to lead. Every replica serves xDS and the API; only the leader runs the work that
writes on its own (the evaluator, the rollout driver) and the webhook delivery, and runs it
inside its term, so each of those writes is fenced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from controlplane.control import Controller, leading
from controlplane.ha._cursor import PostgresCursor
from controlplane.ha._follow import Follower
from controlplane.ha._freeze import BudgetJudge, SharedFreeze
from controlplane.ha._leadership import Leadership, this_replica
from controlplane.ha._stats import SharedStats
from controlplane.ledger import PostgresStore, Store, ledger_conninfo
from controlplane.stats import AdminSource, PushSource, StatsSource

LeaderWork = Callable[[], list[Coroutine[Any, Any, None]]]


class Replica:
    def __init__(
        self,
        follower: Follower,
        leadership: Leadership,
        stats: SharedStats | None = None,
        freeze: SharedFreeze | None = None,
    ) -> None:
        self.follower = follower
        self.leadership = leadership
        self.stats = stats
        """Publishes this replica's stats readings for the leader, whoever leads."""
        self.freeze = freeze
        """The budget freeze: recorded by the leader, read by every replica's gate."""

    async def run(self, work: LeaderWork) -> None:
        """Follow and campaign until cancelled; while leading, run `work()` in the term."""

        async def lead(term: int) -> None:
            leading(term)  # the tasks gather starts copy this context: their writes are fenced
            tasks = work()
            if self.freeze is not None:
                tasks.append(self.freeze.run())
            await asyncio.gather(*tasks)

        loops = [self.follower.run(), self.leadership.run(lead)]
        if self.stats is not None:
            loops.append(self.stats.publish_forever())
        try:
            await asyncio.gather(*loops)
        finally:
            if self.freeze is not None:
                self.freeze.close()


def share_stats(store: Store, source: StatsSource) -> StatsSource:
    """The evaluator's source: on a shared ledger, push and pull readings go through
    PostgreSQL so the leader judges the whole fleet (controlplane/ha/_stats.py); otherwise,
    and for promql (Prometheus sees every proxy), `source` itself."""
    if isinstance(store, PostgresStore) and isinstance(source, PushSource | AdminSource):
        return SharedStats(ledger_conninfo(store.url), source, replica=this_replica())
    return source


def replica_of(
    store: Store,
    controller: Controller,
    stats: StatsSource | None = None,
    budget: BudgetJudge | None = None,
) -> Replica | None:
    """A replica when the ledger is shared (PostgreSQL); None for SQLite, one process that
    always leads. `stats`, when share_stats() made it, is published by every replica;
    `budget` (the evaluator) judges the budget freeze while this replica leads, and the
    controller's gate then reads the freeze the leader recorded."""
    if not isinstance(store, PostgresStore):
        return None
    shared = stats if isinstance(stats, SharedStats) else None
    freeze = None
    if budget is not None:
        freeze = SharedFreeze(ledger_conninfo(store.url), controller, budget)
        controller.gate_on_budget(freeze.refusal)
    url = ledger_conninfo(store.url)  # every ledger connection: the same timeouts
    return Replica(Follower(url, controller.catch_up), Leadership(url), shared, freeze)


def delivery_cursor(store: Store) -> PostgresCursor | None:
    """Where the leader's webhook deliveries got to, for the next leader: on PostgreSQL."""
    if not isinstance(store, PostgresStore):
        return None
    return PostgresCursor(ledger_conninfo(store.url))
