"""Stats shared through PostgreSQL: each replica publishes what its proxies reported, and the
leader's source sums the fleet, without counting a proxy that moved twice, and without going
back when a replica's rows expire. Real PostgreSQL; the replicas' local sources are stand-ins
that report what each test says a proxy told them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import psycopg
import pytest

from controlplane.ha import SharedStats
from controlplane.ledger import PostgresStore
from controlplane.stats import ClusterCounts, ProxyReading, Scrape, SourceUnavailable

CLUSTER = "web--blue"


class Heard:
    """A replica's local source: the readings set last."""

    def __init__(self) -> None:
        self.proxies: dict[str, ProxyReading] = {}

    def set(self, proxy: str, requests: int, *, own: bool, ago_s: float = 0.0) -> None:
        counts = ClusterCounts(
            requests=requests,
            errors=requests // 10,
            retried=requests // 20,
            retried_errors=requests // 25,
            retries=requests // 15,
        )
        self.proxies[proxy] = ProxyReading(proxy, time.time() - ago_s, {CLUSTER: counts}, own)

    async def scrape(self) -> Scrape:
        raise SourceUnavailable("a stand-in: only its readings are shared")

    def readings(self) -> list[ProxyReading]:
        return list(self.proxies.values())


class Replica:
    def __init__(self, url: str, name: str) -> None:
        self.heard = Heard()
        self.stats = SharedStats(url, self.heard, replica=name)
        self._url = url

    async def publish(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as db:
            await self.stats.publish(db)


@pytest.fixture
async def replicas(ledger_url: str) -> AsyncIterator[tuple[Replica, Replica]]:
    PostgresStore(ledger_url).close()  # creates the tables, as `weir serve` does
    yield Replica(ledger_url, "a"), Replica(ledger_url, "b")


async def requests_seen(leader: SharedStats) -> int:
    return (await leader.scrape()).clusters[CLUSTER].requests


async def test_the_leader_sees_the_proxies_of_every_replica(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    a.heard.set("proxy-1", 40, own=False)
    b.heard.set("proxy-2", 2, own=False)
    await a.publish()
    await b.publish()

    scrape = await a.stats.scrape()

    assert scrape.clusters[CLUSTER] == ClusterCounts(
        requests=42, errors=4, retried=2, retried_errors=1, retries=2
    )
    assert scrape.reporting == 2


async def test_a_pushing_proxy_that_moves_adds_what_each_replica_received(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    # Given proxy-1 pushed 100 requests' deltas to a, and the leader has read them
    a.heard.set("proxy-1", 100, own=False)
    await a.publish()
    assert await requests_seen(a.stats) == 100
    # When it moves to b (a keeps what it received), and pushes 30 more there
    b.heard.set("proxy-1", 30, own=False)
    await b.publish()
    await a.publish()
    # Then the leader counts 130: b's receipts are other requests than a's
    assert await requests_seen(a.stats) == 130


async def test_a_pulled_proxy_that_moves_is_not_counted_twice_and_a_restart_counts_anew(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    # Given a read proxy-1's admin: 100 requests since it started
    a.heard.set("proxy-1", 100, own=True, ago_s=1.0)
    await a.publish()
    assert await requests_seen(b.stats) == 100
    # When proxy-1 moves to b, whose read of the same counters says 130
    b.heard.set("proxy-1", 130, own=True)
    await b.publish()
    # Then the leader counts 130, not 230
    assert await requests_seen(b.stats) == 130
    # And when proxy-1 restarts (its counters from zero) and has served 7 since
    b.heard.set("proxy-1", 7, own=True)
    await b.publish()
    assert await requests_seen(b.stats) == 137


async def test_a_dead_replicas_rows_expire_and_the_sums_never_go_back(
    replicas: tuple[Replica, Replica], ledger_url: str
) -> None:
    a, b = replicas
    a.heard.set("proxy-1", 50, own=False)
    b.heard.set("proxy-2", 5, own=False)
    await a.publish()
    await b.publish()
    assert await requests_seen(b.stats) == 55
    # When a dies, and its proxy was last heard of beyond the forget horizon
    a.heard.set("proxy-1", 50, own=False, ago_s=700.0)
    await a.publish()  # a's rows age as a dead replica's do
    await b.publish()  # and any replica's publish deletes them

    with psycopg.connect(ledger_url) as db:
        replicas_left = db.execute("SELECT DISTINCT replica FROM weir_stats").fetchall()
    scrape = await b.stats.scrape()

    assert replicas_left == [("b",)]
    assert scrape.clusters[CLUSTER].requests == 55  # a's 50 stay counted
    assert scrape.reporting == 1


async def test_nothing_fresh_is_unavailable(replicas: tuple[Replica, Replica]) -> None:
    a, _ = replicas
    a.heard.set("proxy-1", 50, own=False, ago_s=30.0)
    await a.publish()

    with pytest.raises(SourceUnavailable, match="no proxy has reported stats to any replica"):
        await a.stats.scrape()


async def test_a_proxy_that_served_nothing_yet_still_reports(
    replicas: tuple[Replica, Replica],
) -> None:
    a, _ = replicas
    a.heard.proxies["proxy-1"] = ProxyReading("proxy-1", time.time(), {}, own_counters=False)
    await a.publish()

    scrape = await a.stats.scrape()

    assert (scrape.clusters, scrape.reporting) == ({}, 1)
