"""What the dashboard needs beyond the other endpoints: per-instance success rate and p99 over
the last minutes (/v1/services/{name}/series), and a short timeline of a service's changes
with their verdicts and costs (/v1/services/{name}/timeline).

Both are read-only views: the series from the evaluator's recent counts, the timeline from the
ledger's history folded so that each change carries its verdict.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from controlplane.api._errors import refusals
from controlplane.control import Controller, live_share
from controlplane.errors import NotFound, StoreError
from controlplane.evaluator import Evaluator, Sample
from controlplane.model import (
    ActivationChanged,
    ActivationState,
    ClusterCounts,
    ComparisonEvidence,
    Entry,
    InstanceRegistered,
    Outcome,
    RolloutEvent,
    ServiceApplied,
    State,
    TokenCreated,
    TokenRevoked,
    Verdict,
    VerdictRecorded,
)
from controlplane.verdict import quantile_ms

SUMMARY_WINDOW_S = 60.0
"""The table's figures beside each chart: over the last minute."""
DEFAULT_TIMELINE = 50
MAX_TIMELINE = 1000


class SeriesPoint(BaseModel):
    at: float = Field(description="end of the interval, Unix seconds")
    seconds: float = Field(description="length of the interval")
    requests: int
    errors: int
    success_rate: float | None = Field(description="percent not 5xx; None without requests")
    p99_ms: float | None


class Figures(BaseModel):
    """One instance's figures over a span."""

    seconds: float
    requests: int
    errors: int
    rps: float | None
    success_rate: float | None = Field(description="percent not 5xx; None without requests")
    p99_ms: float | None


class InstanceSeries(BaseModel):
    instance_id: str
    version: str
    state: ActivationState
    activation: str
    live_share: float = Field(ge=0, le=1)
    last_minute: Figures
    points: list[SeriesPoint] = Field(description="oldest first")


class ServiceSeries(BaseModel):
    service: str
    now: float = Field(description="Unix seconds when this was read")
    window_s: float
    resolution_s: float
    success_rate_slo: float
    latency_p99_slo_ms: float
    instances: list[InstanceSeries] = Field(description="every instance not retired")


class TimelineVerdict(BaseModel):
    outcome: Outcome
    final: bool = Field(description="recorded in the ledger, not still being judged")
    reason: str
    requests: int
    errors: int
    p99_ms: float | None
    extra_failures: float
    cost: float
    seq: int | None = Field(description="the ledger entry that recorded it, when final")
    objectives: list[str] = Field(
        default_factory=list,
        description="each business objective: its effect with its interval, and its outcome",
    )
    value: str | None = Field(default=None, description="net value per hour, with its interval")
    comparison: ComparisonEvidence | None = Field(
        default=None, description="a change judged by comparing answers: its differences"
    )


class TimelineItem(BaseModel):
    seq: int
    at: datetime
    actor: str
    reason: str
    kind: str
    what: str = Field(description="one line for people")
    instance_id: str | None = None
    version: str | None = None
    rollout_id: str | None = None
    verdict: TimelineVerdict | None = None


def figures(first: Sample, last: Sample) -> Figures:
    counts = last.counts - first.counts
    seconds = max(0.0, last.at - first.at)
    return Figures(
        seconds=seconds,
        requests=counts.requests,
        errors=counts.errors,
        rps=counts.requests / seconds if seconds > 0 else None,
        success_rate=_success(counts),
        p99_ms=quantile_ms(counts.latency, 0.99),
    )


def series_points(samples: Sequence[Sample]) -> list[SeriesPoint]:
    """One point per interval between consecutive samples (cumulative counts)."""
    points = []
    for before, after in itertools.pairwise(samples):
        counts = after.counts - before.counts
        points.append(
            SeriesPoint(
                at=after.at,
                seconds=after.at - before.at,
                requests=counts.requests,
                errors=counts.errors,
                success_rate=_success(counts),
                p99_ms=quantile_ms(counts.latency, 0.99),
            )
        )
    return points


def last_minute(samples: Sequence[Sample], window_s: float = SUMMARY_WINDOW_S) -> Figures:
    if not samples:
        return figures(Sample(0.0, ClusterCounts()), Sample(0.0, ClusterCounts()))
    last = samples[-1]
    # the latest sample at least `window_s` old, else the oldest there is
    first = next((s for s in reversed(samples) if s.at <= last.at - window_s), samples[0])
    return figures(first, last)


def _success(counts: ClusterCounts) -> float | None:
    if not counts.requests:
        return None
    return 100.0 * (counts.requests - counts.errors) / counts.requests


def timeline(
    state: State,
    entries: Sequence[Entry],
    open_verdicts: dict[int, Verdict],
    limit: int = DEFAULT_TIMELINE,
) -> list[TimelineItem]:
    """Newest first: each entry but verdicts, which are folded into the change they judge."""
    recorded: dict[int, tuple[int, Verdict]] = {
        e.event.change_seq: (e.seq, e.event.verdict)
        for e in entries
        if isinstance(e.event, VerdictRecorded)
    }
    items: list[TimelineItem] = []
    for entry in reversed(entries):
        if len(items) >= limit:
            break
        if isinstance(entry.event, VerdictRecorded):
            continue
        item = _item(state, entry)
        if entry.seq in recorded:
            seq, verdict = recorded[entry.seq]
            item.verdict = _verdict(verdict, final=True, seq=seq)
        elif entry.seq in open_verdicts:
            item.verdict = _verdict(open_verdicts[entry.seq], final=False, seq=None)
        items.append(item)
    return items


def _item(state: State, entry: Entry) -> TimelineItem:
    event = entry.event
    item = TimelineItem(
        seq=entry.seq, at=entry.at, actor=entry.actor, reason=entry.reason, kind=event.kind, what=""
    )
    if isinstance(event, ActivationChanged):
        record = state.instances.get(event.instance_id)
        item.instance_id = event.instance_id
        item.version = record.instance.version if record else None
        item.rollout_id = event.rollout_id
        item.what = f"{event.instance_id}: {event.move()}"
    elif isinstance(event, InstanceRegistered):
        instance = event.instance
        item.instance_id, item.version = instance.id, instance.version
        item.what = f"{instance.id} registered: {instance.version} at {instance.address}"
    elif isinstance(event, ServiceApplied):
        item.what = f"service {event.spec.name} applied"
    elif isinstance(event, RolloutEvent):
        item.rollout_id = event.rollout_id
        item.what = event.describe()
    elif isinstance(event, TokenCreated | TokenRevoked):
        item.what = event.describe()
    else:
        item.what = event.kind.replace("_", " ")
    return item


def _verdict(verdict: Verdict, *, final: bool, seq: int | None) -> TimelineVerdict:
    return TimelineVerdict(
        outcome=verdict.outcome,
        final=final,
        reason=verdict.reason,
        requests=verdict.candidate.requests,
        errors=verdict.candidate.errors,
        p99_ms=verdict.candidate.p99_ms,
        extra_failures=verdict.extra_failures,
        cost=verdict.cost,
        seq=seq,
        objectives=[f"{o.shown()} {o.outcome.value}" for o in verdict.objectives],
        value=verdict.value.shown() if verdict.value is not None else None,
        comparison=verdict.comparison,
    )


def dashboard_data_router(controller: Controller, evaluator: Evaluator | None) -> APIRouter:
    router = APIRouter(prefix="/v1/services", tags=["dashboard"], responses=refusals(422))

    def known(name: str) -> State:
        state = controller.state
        if name not in state.services:
            raise NotFound(f"unknown service {name!r}", field="name")
        return state

    # async: the evaluator lives on the event loop, so it is read there too.
    @router.get(
        "/{name}/series",
        responses=refusals(404, 503),
        summary="Per instance: success rate and p99 over the last minutes, and the last minute's",
    )
    async def series(name: str) -> ServiceSeries:
        state = known(name)
        if evaluator is None:
            raise StoreError("this weir server runs without an evaluator (no stats source)")
        return service_series(state, name, evaluator)

    @router.get(
        "/{name}/timeline",
        responses=refusals(404),
        summary="The service's latest ledger entries, newest first, each change with its verdict",
    )
    async def service_timeline(
        name: str,
        limit: Annotated[
            int, Query(ge=1, le=MAX_TIMELINE, description="at most this many entries")
        ] = DEFAULT_TIMELINE,
    ) -> list[TimelineItem]:
        state = known(name)
        entries = await asyncio.to_thread(controller.history, name)
        open_verdicts = {
            e.change_seq: e.verdict
            for e in (evaluator.evaluations() if evaluator else [])
            if e.verdict is not None
        }
        return timeline(state, entries, open_verdicts, limit)

    return router


def service_series(state: State, name: str, evaluator: Evaluator) -> ServiceSeries:
    """A known service's per-instance figures over the evaluator's recent window."""
    now = time.time()
    window = evaluator.recent.window_s
    instances = []
    for record in state.instances_of(name):
        if record.state is ActivationState.RETIRED:
            continue
        samples = evaluator.recent_counts(record.instance.id, since=now - window)
        instances.append(
            InstanceSeries(
                instance_id=record.instance.id,
                version=record.instance.version,
                state=record.state,
                activation=record.activation.describe(),
                live_share=live_share(state, record.instance.id),
                last_minute=last_minute(samples),
                points=series_points(samples),
            )
        )
    slo = state.services[name].slo
    return ServiceSeries(
        service=name,
        now=now,
        window_s=window,
        resolution_s=evaluator.recent.resolution_s,
        success_rate_slo=slo.success_rate,
        latency_p99_slo_ms=slo.latency_p99_ms,
        instances=instances,
    )
