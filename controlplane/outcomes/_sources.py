"""The three outcome sources of one `weir serve`, opened together, and each read as the
evaluator's business judge reads them (by the name a service file's objective gives its source)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from controlplane.model import Outcomes, Scrape, State
from controlplane.outcomes._als import AccessLogOutcomes, Directory
from controlplane.outcomes._late import LateOutcomes
from controlplane.outcomes._promql import PromqlOutcomes


class OutcomeReader(Protocol):
    async def read(self, state: State, scrape: Scrape) -> Outcomes: ...


class _HeaderSource:
    """The access-log receiver as the evaluator reads it."""

    def __init__(self, receiver: AccessLogOutcomes) -> None:
        self._receiver = receiver

    async def read(self, state: State, scrape: Scrape) -> Outcomes:
        return await self._receiver.read(state)


@dataclass(slots=True)
class OutcomeSources:
    access_log: AccessLogOutcomes
    late: LateOutcomes
    promql: PromqlOutcomes | None

    @classmethod
    def open(
        cls,
        state: Callable[[], State],
        directory: Directory,
        http: httpx.AsyncClient,
        prometheus_url: str | None,
    ) -> OutcomeSources:
        """PromQL objectives are read from `prometheus_url` (`weir serve --prometheus`)."""
        return cls(
            AccessLogOutcomes(state, directory=directory),
            LateOutcomes(),
            PromqlOutcomes(prometheus_url, http) if prometheus_url else None,
        )

    def readers(self) -> dict[str, OutcomeReader]:
        """Each source by its name in a service file's objectives (`source: {header: ...}`)."""
        readers: dict[str, OutcomeReader] = {
            "header": _HeaderSource(self.access_log),
            "api": self.late,
        }
        if self.promql is not None:
            readers["promql"] = self.promql
        return readers
