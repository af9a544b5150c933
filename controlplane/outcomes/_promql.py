"""Objectives from Prometheus: a PromQL expression per objective, `{instance}` standing for the
instance id, giving the instance's cumulative total (the application's own counter: orders, or
summed revenue). Requests come from Envoy's counts of the same instance, and each evaluator
interval is one unit of spread (batch means): an application's counters are summed, so its
outcomes cannot be seen one by one.

Every expression is an instant query at one time per interval, all at once; at most
MAX_QUERIES a tick (the rest wait for the next), each bounded by the client's timeout.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import httpx

from controlplane.model import ActivationState, Outcomes, Scrape, State
from controlplane.outcomes._book import Batches

log = logging.getLogger(__name__)

QUERY_PATH = "/api/v1/query"
MAX_QUERIES = 200
TIMEOUT_S = 5.0


class PromqlOutcomes:
    def __init__(self, url: str, http: httpx.AsyncClient, *, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._http = http
        self._timeout_s = timeout_s
        self._batches = Batches()
        self.error: str | None = None

    def queries(self, state: State) -> list[tuple[str, str, str]]:
        """(cluster, objective, query) for every live instance of a service with PromQL
        objectives."""
        wanted = []
        for record in state.instances.values():
            if record.state is not ActivationState.LIVE:
                continue
            spec = state.services.get(record.instance.service)
            for objective in spec.objectives if spec else ():
                if objective.source.promql is not None:
                    query = objective.source.promql.replace("{instance}", record.instance.id)
                    wanted.append((record.instance.cluster_name, objective.name, query))
        return wanted[:MAX_QUERIES]

    async def read(self, state: State, scrape: Scrape) -> Outcomes:
        wanted = self.queries(state)
        if wanted:
            at = scrape.at
            try:
                async with asyncio.timeout(self._timeout_s):
                    totals = await asyncio.gather(*(self._query(q, at) for _, _, q in wanted))
                self.error = None
            except (TimeoutError, httpx.HTTPError, ValueError) as exc:
                self.error = f"Prometheus at {self.url}: {exc or type(exc).__name__}"
                log.warning("objectives from PromQL not read: %s", self.error)
                return self._batches.book.snapshot()
            readings = {}
            for (cluster, objective, _), total in zip(wanted, totals, strict=True):
                counts = scrape.clusters.get(cluster)
                if total is not None and counts is not None:
                    readings[(cluster, objective)] = (counts.requests, total)
            self._batches.fold(
                readings, {r.instance.cluster_name for r in state.instances.values()}
            )
        return self._batches.book.snapshot()

    async def _query(self, query: str, at: float) -> float | None:
        """The sum of the query's vector (None when it is empty)."""
        response = await self._http.get(
            self.url + QUERY_PATH, params={"query": query, "time": f"{at:.3f}"}
        )
        body: Any = response.json()
        if not isinstance(body, dict) or body.get("status") != "success":
            raise ValueError(
                f"refused {query!r}: {body.get('error') if isinstance(body, dict) else body}"
            )
        data = body.get("data") or {}
        if data.get("resultType") == "scalar":
            values = [float(data["result"][1])]
        else:
            values = [float(series["value"][1]) for series in data.get("result") or []]
        finite = [v for v in values if math.isfinite(v)]
        return sum(finite) if finite else None
