"""Stats under HA: every replica shares what its proxies report; the leader judges the sum.

With `--stats push` each Envoy streams to the replica it is connected to, and with `pull` a
replica reads only its own proxies' admins; but only the leader judges. So every replica
publishes, every second, what it knows of each of its proxies into PostgreSQL, and the
leader's evaluator reads the whole fleet from there:

    weir_stats_proxies (replica, proxy) -> heard_at     the last flush or admin read
    weir_stats (replica, proxy, cluster) -> counts      cumulative; rewritten when they change

The ledger store creates both tables; the retry counts' columns (retried, retried_errors,
retries) are added here, by `add_retry_columns`, to a table made before they existed.

Rows are cumulative, so a lost or late publish delays counts, never loses them. The leader
folds the rows into its own `Totals`, one reporter per lineage of counters:

- push: a replica's sum of the deltas it received from a proxy. Another replica's receipts
  from the same proxy (after it moved) are other requests: the lineage is (replica, proxy),
  and the rows add up.
- pull: the proxy's own counters since it started, the same whichever replica reads them: the
  lineage is the proxy, read from the freshest row, so a proxy that moves is not counted twice,
  and one that restarts (its counters went back) is counted from zero, as stats/_counts does.

A lineage whose rows are gone keeps its counts in the leader's sums (monotonic). Rows of a
proxy not heard of for `forget_after_s` (a dead replica's, a proxy gone) are deleted by any
replica; the proxies heard of in the last `fresh_s` are the ones `reporting`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Hashable
from typing import Any

import psycopg

from controlplane.model import LATENCY_BOUNDS_MS, ClusterCounts, ProxyReading, Scrape
from controlplane.stats import OnDecrease, SharesReadings, SourceUnavailable, Totals

log = logging.getLogger(__name__)

PUBLISH_S = 1.0
"""As often as Envoy flushes (`weir bootstrap`: 1 s)."""
FRESH_S = 5.0
FORGET_AFTER_S = 600.0
_SLOTS = len(LATENCY_BOUNDS_MS) + 1

_UPSERT_PROXY = """
INSERT INTO weir_stats_proxies (replica, proxy, heard_at)
VALUES (%s, %s, now() - make_interval(secs => %s))
ON CONFLICT (replica, proxy) DO UPDATE SET heard_at = EXCLUDED.heard_at
"""
_UPSERT_COUNTS = """
INSERT INTO weir_stats (replica, proxy, cluster, own_counters, requests, errors, latency,
                        retried, retried_errors, retries)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (replica, proxy, cluster) DO UPDATE SET own_counters = EXCLUDED.own_counters,
    requests = EXCLUDED.requests, errors = EXCLUDED.errors, latency = EXCLUDED.latency,
    retried = EXCLUDED.retried, retried_errors = EXCLUDED.retried_errors,
    retries = EXCLUDED.retries
"""
_READ = """
SELECT s.replica, s.proxy, s.cluster, s.own_counters, s.requests, s.errors, s.latency,
       s.retried, s.retried_errors, s.retries,
       EXTRACT(EPOCH FROM now() - p.heard_at)::float8
FROM weir_stats s JOIN weir_stats_proxies p USING (replica, proxy)
"""
_RETRY_COLUMNS_LOCK = 0x7765697203  # pg_advisory_xact_lock key (the leader holds ...01)
_RETRY_COLUMNS = """
ALTER TABLE weir_stats ADD COLUMN IF NOT EXISTS retried bigint NOT NULL DEFAULT 0;
ALTER TABLE weir_stats ADD COLUMN IF NOT EXISTS retried_errors bigint NOT NULL DEFAULT 0;
ALTER TABLE weir_stats ADD COLUMN IF NOT EXISTS retries bigint NOT NULL DEFAULT 0;
"""


_HAS_RETRY_COLUMNS = """
SELECT count(*) FROM information_schema.columns
WHERE table_name = 'weir_stats' AND column_name IN ('retried', 'retried_errors', 'retries')
"""


async def add_retry_columns(db: psycopg.AsyncConnection[Any]) -> None:
    """Give weir_stats the retry counts' columns, if an older weir made it without them (an
    ALTER TABLE locks the table: only then)."""
    row = await (await db.execute(_HAS_RETRY_COLUMNS)).fetchone()
    if row is not None and row[0] == 3:
        return
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock(%s)", (_RETRY_COLUMNS_LOCK,))
        await db.execute(_RETRY_COLUMNS)


_FRESH = """
SELECT count(DISTINCT proxy) FROM weir_stats_proxies
WHERE heard_at >= now() - make_interval(secs => %s)
"""


class SharedStats:
    """A StatsSource over every replica's readings, and the loop that publishes this one's."""

    def __init__(
        self,
        url: str,
        local: SharesReadings,
        *,
        replica: str,
        publish_s: float = PUBLISH_S,
        fresh_s: float = FRESH_S,
        forget_after_s: float = FORGET_AFTER_S,
    ) -> None:
        self._url = url
        self.local = local
        self.replica = replica
        self._publish_s = publish_s
        self._fresh_s = fresh_s
        self._forget_after_s = forget_after_s
        self._totals = Totals()
        self._published: dict[tuple[str, str], ClusterCounts] = {}
        self._reader: psycopg.AsyncConnection[Any] | None = None
        self._columns_added = False

    # Every replica: publish.

    async def publish_forever(self) -> None:
        """Publish this replica's readings every `publish_s` until cancelled; a database
        that cannot be reached is retried at the next tick."""
        try:
            while True:
                try:
                    async with await psycopg.AsyncConnection.connect(
                        self._url, autocommit=True, connect_timeout=5
                    ) as db:
                        self._published.clear()  # a new connection: write everything again
                        while True:
                            await self.publish(db)
                            await asyncio.sleep(self._publish_s)
                except (psycopg.Error, OSError) as exc:
                    log.warning("sharing stats through PostgreSQL: %s; retrying", exc)
                    await asyncio.sleep(self._publish_s)
        finally:
            await self._close_reader()

    async def publish(self, db: psycopg.AsyncConnection[Any]) -> None:
        """One publish: refresh the local source, then write what changed, in one transaction."""
        await self._add_columns(db)
        # Pull reads the admins here, push forgets the silent; nothing read, nothing shared.
        with contextlib.suppress(SourceUnavailable):
            await self.local.scrape()
        now = time.time()
        readings = self.local.readings()
        changed = [
            (reading, cluster, counts)
            for reading in readings
            for cluster, counts in reading.clusters.items()
            if self._published.get((reading.proxy, cluster)) != counts
        ]
        try:
            async with db.transaction(), db.cursor() as cursor:
                await cursor.executemany(
                    _UPSERT_PROXY,
                    [(self.replica, r.proxy, max(0.0, now - r.heard)) for r in readings],
                )
                await cursor.executemany(_UPSERT_COUNTS, [_row(self.replica, *c) for c in changed])
                await cursor.execute(
                    "DELETE FROM weir_stats_proxies "
                    "WHERE heard_at < now() - make_interval(secs => %s)",
                    (self._forget_after_s,),
                )
        except BaseException:
            self._published.clear()  # unknown what committed: write everything next time
            raise
        self._published.update(((r.proxy, cluster), counts) for r, cluster, counts in changed)
        kept = {reading.proxy for reading in readings}
        for key in [key for key in self._published if key[0] not in kept]:
            del self._published[key]

    # The leader: the fleet's counts.

    async def scrape(self) -> Scrape:
        try:
            db = await self._reading_connection()
            await self._add_columns(db)
            async with db.transaction():  # one snapshot for both reads
                rows = await (await db.execute(_READ)).fetchall()
                fresh = await (await db.execute(_FRESH, (self._fresh_s,))).fetchone()
        except (psycopg.Error, OSError) as exc:
            await self._close_reader()
            raise SourceUnavailable(f"cannot read the replicas' shared stats: {exc}") from exc
        now = time.time()
        readings: dict[Hashable, dict[str, tuple[float, ClusterCounts]]] = {}
        for replica, proxy, cluster, own, requests, errors, latency, *retries, age in rows:
            if len(latency) != _SLOTS:
                continue  # written by a weir with other histogram bounds
            lineage: Hashable = proxy if own else (replica, proxy)
            counts = ClusterCounts(
                int(requests),
                int(errors),
                tuple(int(n) for n in latency),
                *(int(n) for n in retries),
            )
            freshest = readings.setdefault(lineage, {})
            if cluster not in freshest or age < freshest[cluster][0]:
                freshest[cluster] = (age, counts)
        for lineage in self._totals.reporters() - set(readings):
            self._totals.forget(lineage)  # its rows expired: its counts stay in the sums
        for lineage, clusters in readings.items():
            reading = {cluster: counts for cluster, (_, counts) in clusters.items()}
            self._totals.advance(lineage, reading, OnDecrease.RESTARTED)
        reporting = int(fresh[0]) if fresh else 0
        if not reporting:
            raise SourceUnavailable(
                f"no proxy has reported stats to any replica in the last {self._fresh_s:g}s"
            )
        return Scrape(
            at=now,
            clusters=self._totals.clusters(),
            reporting=reporting,
            rejected=self._totals.rejected(),
        )

    async def _add_columns(self, db: psycopg.AsyncConnection[Any]) -> None:
        if not self._columns_added:
            await add_retry_columns(db)
            self._columns_added = True

    async def _reading_connection(self) -> psycopg.AsyncConnection[Any]:
        if self._reader is None or self._reader.closed or self._reader.broken:
            self._reader = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=5
            )
        return self._reader

    async def _close_reader(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            with contextlib.suppress(psycopg.Error):
                await reader.close()


def _row(
    replica: str, reading: ProxyReading, cluster: str, counts: ClusterCounts
) -> tuple[object, ...]:
    return (replica, reading.proxy, cluster, reading.own_counters, counts.requests,
            counts.errors, list(counts.latency), counts.retried, counts.retried_errors,
            counts.retries)  # fmt: skip
