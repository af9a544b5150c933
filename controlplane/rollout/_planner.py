"""The planner: given the state and a rollout, the next batch to append, or why to wait. Pure.

Everything is derived from the ledger's fold, so a controller restarted mid-rollout asks the
same question of the same state and gets the same answer: a step and its changes are one batch,
and a step already appended is never proposed again.

    fail verdict on a judged change  ─► roll back (with auto_rollback)
    paused                           ─► wait
    current step: bake, verdicts     ─► wait, unless promoted
    next step with something to do   ─► [RolloutStepped, its changes...]
    nothing left                     ─► grace step (old instances inactive), then
                                        [RolloutFinished(completed), retirements...]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from controlplane.model import (
    Activation,
    ActivationChanged,
    ActivationState,
    Outcome,
    ProposedEntry,
    RolloutFinished,
    RolloutOutcome,
    RolloutState,
    RolloutStepped,
    StageChange,
    StageRecord,
    State,
    format_duration,
)
from controlplane.rollout._stages import Stage, gated_change, stages_of

ACTOR = "rollout"
"""The actor of every change a rollout makes."""


@dataclass(frozen=True, slots=True)
class Advance:
    """Append `batch` (one transaction) to move the rollout on."""

    batch: tuple[ProposedEntry, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class Wait:
    why: str
    until: datetime | None = None
    """When the wait ends by itself (a bake or grace period), if it is only time."""


Action = Advance | Wait


def next_action(state: State, rollout: RolloutState, now: datetime) -> Action:
    if not rollout.active:
        assert rollout.outcome is not None
        return Wait(f"{rollout.describe()} has finished: {rollout.outcome.value}")
    stages = stages_of(rollout)
    auto_rollback = state.services[rollout.service].rollout.auto_rollback
    failed = failed_change(state, rollout, stages)
    if failed is not None and auto_rollback:
        seq, instance_id, reason = failed
        why = f"change #{seq} of {instance_id} failed its verdict: {reason}"
        return Advance(
            rollback_batch(state, rollout, RolloutOutcome.ROLLED_BACK, actor=ACTOR, why=why),
            f"rolling back {rollout.describe()}: {why}",
        )
    if rollout.paused:
        return Wait("paused: `weir rollout resume` goes on, `weir rollout abort` rolls back")
    current = rollout.current
    if current is not None and (wait := _gate(state, rollout, current, stages, now)):
        return wait
    for index in range(current.stage + 1 if current else 0, len(stages)):
        changes = _changes(state, rollout, stages[index], index, len(stages))
        if changes or not stages[index].targets:  # a grace stage changes nothing, on purpose
            stepped = RolloutStepped(
                rollout_id=rollout.id,
                service=rollout.service,
                stage=index,
                label=stages[index].label,
                at=now,
            )
            reason = _step_reason(rollout, stages, index) + _accepted(state, rollout, stages)
            step = ProposedEntry(actor=ACTOR, reason=_fit(reason), event=stepped)
            return Advance((step, *changes), f"{rollout.describe()}: {step.reason}")
    return Advance(_completion(state, rollout), f"{rollout.describe()} completed")


def failed_change(
    state: State, rollout: RolloutState, stages: Sequence[Stage]
) -> tuple[int, str, str] | None:
    """(seq, instance, why) of the first judged change of the rollout's steps that failed."""
    for record in rollout.stages:
        if record.stage < len(stages) and not stages[record.stage].judged:
            continue
        for change in record.changes:
            verdict = state.verdicts.get(change.seq)
            if verdict is not None and verdict.outcome is Outcome.FAIL:
                return change.seq, change.instance_id, verdict.reason
    return None


def _gate(
    state: State,
    rollout: RolloutState,
    record: StageRecord,
    stages: Sequence[Stage],
    now: datetime,
) -> Wait | None:
    """Why the current step must hold, or None once its bake and verdicts allow going on."""
    if record.promoted:
        return None
    stage = stages[record.stage]
    pending: list[StageChange] = []
    for change in record.changes if stage.judged else ():
        if not gated_change(rollout, record, change):
            continue
        verdict = state.verdicts.get(change.seq)
        if verdict is None:
            since = state.instances[change.instance_id].since_seq
            if since != change.seq:
                return Wait(
                    f"{change.instance_id} was changed outside the rollout (entry #{since}) "
                    f"before change #{change.seq} had its verdict: promote to go on, or abort"
                )
            pending.append(change)
        elif verdict.outcome is Outcome.FAIL:
            return Wait(
                f"change #{change.seq} of {change.instance_id} failed its verdict "
                f"({verdict.reason}) and auto_rollback is off: abort to roll back, or promote "
                "to go on"
            )
        elif verdict.outcome is Outcome.INCONCLUSIVE and not rollout.plan.accept_risk:
            return Wait(
                f"no verdict on change #{change.seq} of {change.instance_id} within the step's "
                f"{format_duration(rollout.plan.decide_within)} ({verdict.reason}); the "
                "evaluator keeps judging it. To go on: `weir rollout promote` (on your word), or "
                "next time a longer step (--decide-within), bigger steps (--steps) or "
                "--accept-risk; `weir rollout abort` rolls back"
            )
    until = record.at + timedelta(seconds=stage.hold_s)
    verdicts = ", ".join(f"#{c.seq} ({c.instance_id})" for c in pending)
    if now < until:
        also = f"; then the verdict on {verdicts}" if pending else ""
        return Wait(
            f"holding step {record.stage + 1} ({record.label}) until {until:%H:%M:%S}Z{also}",
            until=until,
        )
    if pending:
        return Wait(f"waiting for the evaluator's verdict on {verdicts}")
    return None


def _accepted(state: State, rollout: RolloutState, stages: Sequence[Stage]) -> str:
    """The risk taken when the step before went on without a verdict (accept_risk)."""
    record = rollout.current
    if record is None or record.promoted or not stages[record.stage].judged:
        return ""
    risks = [
        f"#{change.seq} ({change.instance_id}): {verdict.reason}"
        for change in record.changes
        if gated_change(rollout, record, change)
        and (verdict := state.verdicts.get(change.seq)) is not None
        and verdict.outcome is Outcome.INCONCLUSIVE
    ]
    if not risks:
        return ""
    return (
        f"; step {record.stage + 1} went on without a verdict, as the plan's accept_risk "
        f"allows, at this risk: {'; '.join(risks)}"
    )


def _fit(reason: str, limit: int = 1024) -> str:
    """A reason within what the ledger keeps of one."""
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def _changes(
    state: State, rollout: RolloutState, stage: Stage, index: int, total: int
) -> list[ProposedEntry]:
    entries = []
    for instance_id, target in stage.targets:
        record = state.instances[instance_id]
        if record.activation == target or record.state is ActivationState.RETIRED:
            continue
        event = ActivationChanged(
            instance_id=instance_id,
            service=rollout.service,
            before=record.activation,
            after=target,
            rollout_id=rollout.id,
        )
        reason = f"rollout {rollout.id} step {index + 1}/{total} ({stage.label})"
        entries.append(ProposedEntry(actor=ACTOR, reason=reason, event=event))
    return entries


def _step_reason(rollout: RolloutState, stages: Sequence[Stage], index: int) -> str:
    return (
        f"rollout {rollout.id} ({rollout.plan.strategy} to {rollout.version}) "
        f"step {index + 1}/{len(stages)}: {stages[index].label}"
    )


def _completion(state: State, rollout: RolloutState) -> tuple[ProposedEntry, ...]:
    """Finished(completed), then the replaced instances that are inactive retire."""
    finished = ProposedEntry(
        actor=ACTOR,
        reason=f"rollout {rollout.id} completed: {rollout.version} serves {rollout.service}",
        event=RolloutFinished(
            rollout_id=rollout.id, service=rollout.service, outcome=RolloutOutcome.COMPLETED
        ),
    )
    retirements = []
    for instance_id in rollout.replaced:
        record = state.instances[instance_id]
        if record.state is not ActivationState.INACTIVE:
            continue
        event = ActivationChanged(
            instance_id=instance_id,
            service=rollout.service,
            before=record.activation,
            after=Activation.retired(),
            rollout_id=rollout.id,
        )
        reason = f"rollout {rollout.id} completed: replaced by {rollout.version}, retired"
        retirements.append(ProposedEntry(actor=ACTOR, reason=reason, event=event))
    return (finished, *retirements)


def rollback_batch(
    state: State, rollout: RolloutState, outcome: RolloutOutcome, *, actor: str, why: str
) -> tuple[ProposedEntry, ...]:
    """Finished(outcome) by `actor`, then every instance the rollout touched back to its
    activation before the rollout, the most recently changed first; each change by `rollout`.

    An instance already back (the evaluator deactivates a failing one itself) needs no change;
    a retired one cannot come back.
    """
    finished = ProposedEntry(
        actor=actor,
        reason=f"rollout {rollout.id} {outcome.value.replace('_', ' ')}: {why}",
        event=RolloutFinished(rollout_id=rollout.id, service=rollout.service, outcome=outcome),
    )
    targets: dict[str, Activation] = {}
    for instance_id in reversed(rollout.touched):
        record = state.instances[instance_id]
        prior = rollout.prior[instance_id]
        if record.activation != prior and record.state is not ActivationState.RETIRED:
            targets[instance_id] = prior
    forced = _leaves_nothing_live(state, rollout.service, targets)
    changes = []
    for instance_id, prior in targets.items():
        before = state.instances[instance_id].activation
        event = ActivationChanged(
            instance_id=instance_id,
            service=rollout.service,
            before=before,
            after=prior,
            rollout_id=rollout.id,
            forced=forced and before.state is ActivationState.LIVE,
        )
        reason = f"rollback of rollout {rollout.id}: back to {prior.describe()}, as before it"
        changes.append(ProposedEntry(actor=ACTOR, reason=reason, event=event))
    return (finished, *changes)


def _leaves_nothing_live(state: State, service: str, targets: Mapping[str, Activation]) -> bool:
    """A rollback of a service's first rollout takes its only live instances away: on purpose."""
    if not state.live_of(service):
        return False
    return not any(
        targets.get(record.instance.id, record.activation).state is ActivationState.LIVE
        for record in state.instances_of(service)
    )
