"""/v1/rollouts: start a rollout, watch it, and promote, pause, resume or abort it.

Starting and the operator actions append through the controller (the driver takes the steps);
status is read from the ledger's fold, the planner's answer for now, and, when this server runs
them, the evaluator's open verdicts and the driver's last refusal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from controlplane import rollout as rollouts
from controlplane.api._actor import Actor
from controlplane.api._auth import OPERATOR
from controlplane.api._errors import refusals
from controlplane.control import Controller, live_share
from controlplane.errors import NotFound
from controlplane.evaluator import Evaluator
from controlplane.model import (
    ActivationChanged,
    ActivationState,
    Duration,
    Entry,
    MirrorPercent,
    Outcome,
    Plan,
    RolloutEvent,
    RolloutState,
    State,
    Steps,
    Strategy,
    Verdict,
    VerdictRecorded,
)
from controlplane.rollout import (
    Advance,
    RolloutDriver,
    asked_steps,
    grace_ends,
    in_grace,
    next_action,
    progress,
    stages_of,
)

Reason = Annotated[str, Field(max_length=1024, description="why, as the ledger records it")]


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RolloutRequest(_Request):
    """What to roll out; every option left out comes from the service file's rollout section."""

    service: str = Field(max_length=63)
    version: str = Field(max_length=128)
    strategy: Strategy | None = None
    steps: Steps | None = Field(default=None, description="canary, shadow: percent, up to 100")
    bake: Duration | None = Field(default=None, description="least time at each step")
    grace: Duration | None = Field(
        default=None, description="how long replaced instances stay inactive before retiring"
    )
    mirror_percent: MirrorPercent | None = Field(
        default=None, description="shadow, blue-green verified in shadow"
    )
    verify_in_shadow: bool | None = Field(default=None, description="blue-green only")
    decide_within: Duration | None = Field(
        default=None, description="how long each step may wait for its verdict"
    )
    accept_risk: bool | None = Field(
        default=None,
        description="go on from a step still undecided at decide_within (the risk recorded); "
        "without it, a plan whose steps cannot be expected to pass in time is refused",
    )
    reason: Reason = ""


class ActionRequest(_Request):
    reason: Reason = ""


class InstanceShare(BaseModel):
    instance_id: str
    version: str
    role: Literal["new", "old", "other"]
    activation: str
    live_share: float = Field(ge=0, le=1)
    requests: int | None = Field(default=None, description="since its last change, if judged")
    errors: int | None = None
    p99_ms: float | None = None


class ChangeView(BaseModel):
    seq: int
    instance_id: str
    change: str
    verdict: Outcome | None
    final: bool = Field(description="the verdict is recorded in the ledger, not still open")
    verdict_reason: str | None
    expected_s: float | None = Field(
        default=None, description="while open: about how long until the evaluator decides"
    )


class StepView(BaseModel):
    stage: int = Field(description="0-based")
    label: str
    step: int = Field(default=0, description="1-based, counted as the operator asked")
    at: datetime
    promoted: bool
    changes: list[ChangeView]


class EventView(BaseModel):
    seq: int
    at: datetime
    actor: str
    what: str
    reason: str


class NextView(BaseModel):
    action: Literal["advance", "wait", "none"]
    why: str
    at: datetime | None = None
    in_s: float | None = None


class GraceView(BaseModel):
    """A completed rollout's replaced instances, warm and inactive until their grace ends."""

    instances: list[str]
    until: datetime | None
    left_s: float | None = Field(description="seconds until they are retired")


class RolloutView(BaseModel):
    id: str
    service: str
    version: str
    strategy: str
    plan: Plan
    state: Literal["running", "paused", "completed", "rolled_back", "aborted"]
    step: int = Field(
        description="1-based, counted as the operator asked (steps 10,50,100 are 3); 0 before "
        "the first"
    )
    steps: int = Field(description="how many steps were asked for (the grace is not one)")
    step_label: str | None = Field(description="the step as asked: 10%, shadow 10%, switch")
    step_detail: str | None = Field(
        default=None,
        description="what the step is doing when it takes several stages (100%: v1-a out)",
    )
    stage: int = Field(default=0, description="1-based: the stages the planner took")
    stages: int = Field(default=0)
    asked_share: float | None = Field(
        default=None, ge=0, le=1, description="a canary step's share as asked, 0..1"
    )
    grace: GraceView | None = Field(
        default=None,
        description="completed: the replaced instances kept warm, and until when; `weir "
        "rollout undo` returns to them meanwhile",
    )
    undone_seq: int | None = Field(
        default=None, description="the ledger entry that undid this (completed) rollout"
    )
    new_version_share: float = Field(ge=0, le=1, description="of live traffic, 0..1")
    shares: list[InstanceShare]
    verdicts: list[ChangeView] = Field(description="on the current step's changes")
    next: NextView
    refused: str | None = Field(description="why the driver's last attempt was refused")
    driver_running: bool | None = Field(description="None: this server has no driver")
    history: list[StepView]
    events: list[EventView] = Field(description="every ledger entry of the rollout")


def rollouts_router(
    controller: Controller,
    evaluator: Evaluator | None = None,
    driver: RolloutDriver | None = None,
) -> APIRouter:
    router = APIRouter(prefix="/v1/rollouts", tags=["rollouts"], responses=refusals(422))

    async def view(service: str) -> RolloutView:
        state = controller.state
        if service not in state.services:
            raise NotFound(f"unknown service {service!r}", field="service")
        rollout = state.active_rollout(service) or next(reversed(state.rollouts_of(service)), None)
        if rollout is None:
            raise NotFound(f"service {service!r} has had no rollout", field="service")
        # What the rollout did is all at or after its start: only that is read.
        entries = await asyncio.to_thread(
            partial(controller.history, service, after_seq=rollout.started_seq - 1)
        )
        return rollout_view(state, rollout, entries, evaluator=evaluator, driver=driver)

    @router.post(
        "",
        status_code=201,
        responses=refusals(404, 409),
        openapi_extra=OPERATOR,
        summary="Start a rollout of a version; the driver takes its steps",
    )
    async def start(request: RolloutRequest, actor: Actor) -> Entry:
        spec = controller.state.services.get(request.service)
        if spec is None:
            raise NotFound(f"unknown service {request.service!r}", field="service")
        plan = rollouts.plan_for(
            spec,
            strategy=request.strategy,
            steps=request.steps,
            bake=request.bake,
            grace=request.grace,
            mirror_percent=request.mirror_percent,
            verify_in_shadow=request.verify_in_shadow,
            decide_within=request.decide_within,
            accept_risk=request.accept_risk,
        )
        # read on the event loop, where the evaluator lives; the ledger write in a thread
        traffic = evaluator.traffic(request.service) if evaluator is not None else None
        return await asyncio.to_thread(
            rollouts.start,
            controller,
            request.service,
            request.version,
            plan,
            actor=actor,
            reason=request.reason,
            traffic=traffic,
            fit_steps=request.steps is None and spec.rollout.steps is None,
        )

    @router.get("", summary="Rollouts in progress")
    async def list_rollouts() -> list[RolloutView]:
        active = [r.service for r in controller.state.active_rollouts()]
        return [await view(service) for service in active]

    # async: the evaluator and the driver live on the event loop, so they are read there.
    @router.get(
        "/{service}",
        responses=refusals(404),
        summary="The service's rollout in progress, else its last: step, shares, verdicts",
    )
    async def status(service: str) -> RolloutView:
        return await view(service)

    for name, act, summary in (
        ("promote", rollouts.promote, "Skip the rest of the current step's bake and gate"),
        ("pause", rollouts.pause, "Hold the rollout where it is"),
        ("resume", rollouts.resume, "Go on with a paused rollout"),
    ):  # abort and undo answer with every entry of their batch: below
        router.add_api_route(
            f"/{{service}}/{name}",
            _action(controller, act),
            methods=["POST"],
            responses=refusals(404, 409),
            openapi_extra=OPERATOR,
            summary=summary,
            name=name,
        )

    @router.post(
        "/{service}/abort",
        responses=refusals(404, 409),
        openapi_extra=OPERATOR,
        summary="Roll back: every instance the rollout touched back as it was, newest first",
    )
    def abort(
        service: str, actor: Actor, request: Annotated[ActionRequest | None, Body()] = None
    ) -> list[Entry]:
        reason = request.reason if request is not None else ""
        return rollouts.abort(controller, service, actor=actor, reason=reason)

    @router.post(
        "/{service}/undo",
        responses=refusals(404, 409),
        openapi_extra=OPERATOR,
        summary="Back to the version before the last rollout, completed, within its grace",
    )
    def undo(
        service: str, actor: Actor, request: Annotated[ActionRequest | None, Body()] = None
    ) -> list[Entry]:
        reason = request.reason if request is not None else ""
        return rollouts.undo(controller, service, actor=actor, reason=reason)

    return router


Act = Callable[..., Entry]


def _action(controller: Controller, act: Act) -> Callable[..., Entry]:
    """A plain-def endpoint (run in the threadpool) for one operator action on a rollout."""

    def endpoint(
        service: str, actor: Actor, request: Annotated[ActionRequest | None, Body()] = None
    ) -> Entry:
        reason = request.reason if request is not None else ""
        return act(controller, service, actor=actor, reason=reason)

    return endpoint


def rollout_view(
    state: State,
    rollout: RolloutState,
    entries: list[Entry],
    *,
    evaluator: Evaluator | None = None,
    driver: RolloutDriver | None = None,
    now: datetime | None = None,
) -> RolloutView:
    now = now or datetime.now(UTC)
    open_verdicts = {e.change_seq: e.verdict for e in evaluator.evaluations()} if evaluator else {}

    def verdict_on(seq: int) -> tuple[Verdict | None, bool]:
        recorded = state.verdicts.get(seq)
        if recorded is not None and recorded.outcome is not Outcome.INCONCLUSIVE:
            return recorded, True
        judged_on = open_verdicts.get(seq)  # an undecided step is judged on after its record
        if judged_on is not None:
            return judged_on, False
        return recorded, recorded is not None

    shares = []
    for record in state.instances_of(rollout.service):
        if record.state is ActivationState.RETIRED:
            continue
        instance_id = record.instance.id
        verdict, _ = verdict_on(record.since_seq)
        role: Literal["new", "old", "other"] = (
            "new"
            if instance_id in rollout.candidates
            else "old"
            if instance_id in rollout.replaced
            else "other"
        )
        shares.append(
            InstanceShare(
                instance_id=instance_id,
                version=record.instance.version,
                role=role,
                activation=record.activation.describe(),
                live_share=live_share(state, instance_id),
                requests=verdict.candidate.requests if verdict else None,
                errors=verdict.candidate.errors if verdict else None,
                p99_ms=verdict.candidate.p99_ms if verdict else None,
            )
        )
    changes = {
        e.seq: e.event
        for e in entries
        if isinstance(e.event, ActivationChanged) and e.event.rollout_id == rollout.id
    }

    def change_view(seq: int) -> ChangeView:
        event = changes[seq]
        verdict, final = verdict_on(seq)
        return ChangeView(
            seq=seq,
            instance_id=event.instance_id,
            change=event.move(),
            verdict=verdict.outcome if verdict else None,
            final=final,
            verdict_reason=verdict.reason if verdict else None,
            expected_s=verdict.expected_s_to_decision if verdict and not final else None,
        )

    stages = stages_of(rollout)
    asked = asked_steps(rollout)

    def step_of(stage: int) -> int:
        return asked.index(stages[stage].step) + 1 if stage < len(stages) else stage + 1

    history = [
        StepView(
            stage=record.stage,
            label=record.label,
            step=step_of(record.stage),
            at=record.at,
            promoted=record.promoted,
            changes=[change_view(c.seq) for c in record.changes if c.seq in changes],
        )
        for record in rollout.stages
    ]
    action = next_action(state, rollout, now)
    if not rollout.active:
        upcoming = NextView(action="none", why="finished")
    elif isinstance(action, Advance):
        upcoming = NextView(action="advance", why=action.summary)
    else:
        until = action.until
        in_s = max(0.0, (until - now).total_seconds()) if until else None
        upcoming = NextView(action="wait", why=action.why, at=until, in_s=in_s)
    current = rollout.current
    state_name: Literal["running", "paused", "completed", "rolled_back", "aborted"] = (
        rollout.outcome.value if rollout.outcome else ("paused" if rollout.paused else "running")
    )
    stage = stages[current.stage] if current and current.stage < len(stages) else None
    step_label = stage.step if stage else (current.label if current else None)
    step, steps = progress(rollout)
    return RolloutView(
        id=rollout.id,
        service=rollout.service,
        version=rollout.version,
        strategy=rollout.plan.strategy,
        plan=rollout.plan,
        state=state_name,
        step=step,
        steps=steps,
        step_label=step_label,
        step_detail=stage.label if stage and stage.label != stage.step else None,
        stage=current.stage + 1 if current else 0,
        stages=len(stages),
        asked_share=_asked_share(step_label),
        grace=_grace(state, rollout, now),
        undone_seq=rollout.undone_seq,
        new_version_share=sum(s.live_share for s in shares if s.version == rollout.version),
        shares=shares,
        verdicts=history[-1].changes if history and rollout.active else [],
        next=upcoming,
        refused=driver.refusal(rollout.id) if driver and rollout.active else None,
        driver_running=driver.running if driver else None,
        history=history,
        events=[_event_view(e) for e in entries if _of(e, rollout, changes)],
    )


def _asked_share(label: str | None) -> float | None:
    """0.1 for a canary step "10%"; None for steps that are not a share of live traffic."""
    if label is None or not label.endswith("%") or " " in label:
        return None
    try:
        return float(label[:-1]) / 100
    except ValueError:
        return None


def _grace(state: State, rollout: RolloutState, now: datetime) -> GraceView | None:
    warm = in_grace(state, rollout)
    if not warm:
        return None
    until = grace_ends(rollout)
    left = max(0.0, (until - now).total_seconds()) if until else None
    return GraceView(instances=warm, until=until, left_s=left)


def _of(entry: Entry, rollout: RolloutState, changes: dict[int, ActivationChanged]) -> bool:
    event = entry.event
    if isinstance(event, VerdictRecorded):
        return event.change_seq in changes
    return getattr(event, "rollout_id", None) == rollout.id


def _event_view(entry: Entry) -> EventView:
    event = entry.event
    if isinstance(event, ActivationChanged):
        what = f"{event.instance_id}: {event.move()}"
    elif isinstance(event, VerdictRecorded):
        what = f"verdict {event.verdict.outcome.value} on #{event.change_seq}"
    elif isinstance(event, RolloutEvent):
        what = event.describe()
    else:
        what = event.kind
    return EventView(seq=entry.seq, at=entry.at, actor=entry.actor, what=what, reason=entry.reason)
