"""/v1/history/rollouts: every rollout (of a service), newest first, with how it ended.

A summary per rollout from the ledger's fold and the entries that started, finished and undid
it: what `weir rollout list` shows. The full view of one rollout stays /v1/rollouts/{service}.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from controlplane.api._errors import refusals
from controlplane.control import Controller
from controlplane.errors import NotFound
from controlplane.model import Entry, RolloutState, State
from controlplane.rollout import in_grace, progress

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class Moment(BaseModel):
    seq: int
    at: datetime
    actor: str
    reason: str


class RolloutSummary(BaseModel):
    id: str
    service: str
    version: str
    strategy: str
    state: Literal["running", "paused", "completed", "rolled_back", "aborted"]
    undone: bool = Field(description="completed, then undone (`weir rollout undo`)")
    steps: int = Field(description="asked for")
    steps_taken: int = Field(description="reached, counted as asked")
    candidates: list[str]
    replaced: list[str]
    in_grace: list[str] = Field(description="replaced instances still warm: undo is possible")
    started: Moment
    finished: Moment | None
    undone_by: Moment | None


def rollout_list_router(controller: Controller) -> APIRouter:
    router = APIRouter(prefix="/v1/history", tags=["history"], responses=refusals(422))

    @router.get(
        "/rollouts",
        responses=refusals(404),
        summary="Past and present rollouts, newest first, with their outcomes",
    )
    async def rollouts(
        service: Annotated[str | None, Query(description="only this service's")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> list[RolloutSummary]:
        state = controller.state
        chosen = [r for r in state.rollouts.values() if service is None or r.service == service]
        entries = await asyncio.to_thread(controller.history, service)
        if service is not None and not chosen and service not in state.services:
            raise NotFound(f"unknown service {service!r}", field="service")
        by_seq = {entry.seq: entry for entry in entries}
        newest = sorted(chosen, key=lambda r: r.started_seq, reverse=True)[:limit]
        return [summary(state, r, by_seq) for r in newest]

    return router


def _moment(entries: dict[int, Entry], seq: int | None) -> Moment | None:
    entry = entries.get(seq) if seq is not None else None
    if entry is None:
        return None
    return Moment(seq=entry.seq, at=entry.at, actor=entry.actor, reason=entry.reason)


def summary(state: State, rollout: RolloutState, entries: dict[int, Entry]) -> RolloutSummary:
    taken, asked = progress(rollout)
    started = _moment(entries, rollout.started_seq)
    assert started is not None, "a rollout's start is in the ledger"
    state_name: Literal["running", "paused", "completed", "rolled_back", "aborted"] = (
        rollout.outcome.value if rollout.outcome else ("paused" if rollout.paused else "running")
    )
    return RolloutSummary(
        id=rollout.id,
        service=rollout.service,
        version=rollout.version,
        strategy=rollout.plan.strategy,
        state=state_name,
        undone=rollout.undone_seq is not None,
        steps=asked,
        steps_taken=taken,
        candidates=list(rollout.candidates),
        replaced=list(rollout.replaced),
        in_grace=in_grace(state, rollout),
        started=started,
        finished=_moment(entries, rollout.finished_seq),
        undone_by=_moment(entries, rollout.undone_seq),
    )
