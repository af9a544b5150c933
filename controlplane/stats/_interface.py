"""The one interface every stats source offers, and what the evaluator reads through: light, so
the evaluator can name it without loading a source (grpc, httpx)."""

from __future__ import annotations

from typing import Protocol

from controlplane.model import ProxyReading, Scrape


class StatsSource(Protocol):
    async def scrape(self) -> Scrape:
        """Cumulative counts per instance cluster, summed over the reporting proxies.
        Raises SourceUnavailable when the source cannot be read or sees nothing."""
        ...


class SharesReadings(StatsSource, Protocol):
    """A source whose per-proxy readings replicas share (push and pull; controlplane.ha)."""

    def readings(self) -> list[ProxyReading]:
        """What this process knows of each proxy, as of its last receive or scrape."""
        ...
