"""What sharing stats through PostgreSQL costs (controlplane/ha/_stats.py), against the
in-memory sums one process's PushSource makes over the same fleet (the baseline).

A real PostgreSQL (tests/support/_postgres.py) on 127.0.0.1; two replicas, each with half of
PROXIES proxies reporting CLUSTERS instance clusters. Per round: every proxy's counts grow
(the worst case: every row rewritten), both replicas publish, and the leader scrapes.

    python -m bench.shared_stats                      # 200 proxies x 20 clusters, 20 rounds
    python -m bench.shared_stats --proxies 1000 --clusters 20 --rounds 10
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import psycopg

from controlplane.ha import SharedStats
from controlplane.ledger import PostgresStore
from controlplane.stats import ClusterCounts, ProxyReading, Scrape, SourceUnavailable, Totals
from tests.support._postgres import PostgresServer


class Fleet:
    """A replica's proxies, whose counts grow by one request per cluster each round."""

    def __init__(self, proxies: list[str], clusters: list[str]) -> None:
        self.proxies = proxies
        self.clusters = clusters
        self.round = 0

    def grow(self) -> None:
        self.round += 1

    async def scrape(self) -> Scrape:
        raise SourceUnavailable("readings only")

    def readings(self) -> list[ProxyReading]:
        now = time.time()
        counts = ClusterCounts(requests=self.round * 100, errors=self.round)
        return [
            ProxyReading(proxy, now, dict.fromkeys(self.clusters, counts), own_counters=False)
            for proxy in self.proxies
        ]


def baseline(fleets: list[Fleet], rounds: int) -> list[float]:
    """The fleet's sums in one process, as PushSource.scrape() makes them from its Totals."""
    totals = Totals()
    times = []
    for _ in range(rounds):
        for fleet in fleets:
            fleet.grow()
            for reading in fleet.readings():
                totals.add(reading.proxy, {c: ClusterCounts(100, 1) for c in reading.clusters})
        started = time.perf_counter()
        totals.clusters()
        times.append(time.perf_counter() - started)
    return times


async def shared(url: str, fleets: list[Fleet], rounds: int) -> tuple[list[float], list[float]]:
    replicas = [SharedStats(url, fleet, replica=f"r{n}") for n, fleet in enumerate(fleets)]
    publish, scrape = [], []
    connections = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in fleets]
    try:
        for _ in range(rounds):
            for fleet in fleets:
                fleet.grow()
            started = time.perf_counter()
            for replica, db in zip(replicas, connections, strict=True):
                await replica.publish(db)
            publish.append((time.perf_counter() - started) / len(replicas))
            started = time.perf_counter()
            result = await replicas[0].scrape()
            scrape.append(time.perf_counter() - started)
            assert result.reporting == sum(len(f.proxies) for f in fleets)
    finally:
        for db in connections:
            await db.close()
    return publish, scrape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", type=int, default=200)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    clusters = [f"svc{n}--i{n}" for n in range(args.clusters)]
    names = [f"proxy-{n}" for n in range(args.proxies)]
    half = len(names) // 2

    def fleets() -> list[Fleet]:
        return [Fleet(names[:half], clusters), Fleet(names[half:], clusters)]

    base = statistics.median(baseline(fleets(), args.rounds))
    server = PostgresServer().start()
    try:
        url = server.fresh_database()
        PostgresStore(url).close()
        publish, scrape = asyncio.run(shared(url, fleets(), args.rounds))
    finally:
        server.stop()
    rows = args.proxies * args.clusters
    print(f"{args.proxies} proxies x {args.clusters} clusters = {rows} rows, {args.rounds} rounds")
    print(f"baseline: one process's in-memory sums      median {base * 1000:8.2f} ms")
    pub, scr = statistics.median(publish), statistics.median(scrape)
    print(f"a replica's publish (every row changed)     median {pub * 1000:8.2f} ms")
    print(f"the leader's scrape of the shared rows      median {scr * 1000:8.2f} ms "
          f"({scr / base:.1f}x the baseline)")  # fmt: skip


if __name__ == "__main__":
    main()
