"""Ledger entries: the append-only history of changes and policy edits.

The ledger is the only authority. An entry is a sequence number, when, who, why, and one event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from controlplane.describe import move_text
from controlplane.model._instance import Activation, Instance
from controlplane.model._limits import MAX_ROLLOUT_INSTANCES, MAX_STEPS
from controlplane.model._rollout import Plan, Prior, RolloutId, RolloutOutcome, StepForecast
from controlplane.model._service import Name, ServiceName, ServiceSpec
from controlplane.model._tokens import TokenCreated, TokenRevoked
from controlplane.model._verdict import Verdict


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ServiceApplied(_Event):
    """A service's policy was created or replaced (`weir apply -f`)."""

    kind: Literal["service_applied"] = "service_applied"
    spec: ServiceSpec

    def describe(self) -> str:
        return f"service {self.spec.name} applied"


class InstanceRegistered(_Event):
    """A new immutable instance joined its service, inactive."""

    kind: Literal["instance_registered"] = "instance_registered"
    instance: Instance

    def describe(self) -> str:
        item = self.instance
        return f"{item.id} registered: {item.service} {item.version} at {item.address}"


class ActivationChanged(_Event):
    """A change: the only write to production. One instance moved from one state to another."""

    kind: Literal["activation_changed"] = "activation_changed"
    instance_id: Name
    service: ServiceName
    before: Activation
    after: Activation
    forced: bool = False
    """The operator pushed past a refusal on purpose (`--force`): taking the last live instance
    out of traffic, or changing an instance a running rollout moved (that rollout's pause is
    appended just before this entry, in the same batch)."""
    budget_override: bool = False
    """The operator sent new live traffic although the error budget was exhausted."""
    rollout_id: RolloutId | None = None
    """The rollout that made this change, if one did (a step of it, or its rollback)."""

    def move(self) -> str:
        """`inactive → live weight 25`: the change alone, as every view shows it."""
        return move_text(self.before.describe(), self.after.describe())

    def describe(self) -> str:
        text = f"{self.instance_id}: {self.move()}"
        if self.forced:
            text += " (forced)"
        if self.budget_override:
            text += " (error budget overridden)"
        return text + (f" [rollout {self.rollout_id}]" if self.rollout_id else "")


class VerdictRecorded(_Event):
    """The evaluator's judgement of an earlier change (entry `change_seq`), with its evidence."""

    kind: Literal["verdict_recorded"] = "verdict_recorded"
    change_seq: Annotated[int, Field(ge=1)]
    instance_id: Name
    service: ServiceName
    verdict: Verdict

    def describe(self) -> str:
        return f"verdict {self.verdict.outcome.value} on #{self.change_seq} ({self.instance_id})"


class RolloutStarted(_Event):
    """A rollout of `version` began, with its plan and the activations it found.

    `prior` holds the activation of every instance the plan may touch (the candidates and the
    replaced), as it was before the rollout: what a rollback returns each of them to.
    """

    kind: Literal["rollout_started"] = "rollout_started"
    rollout_id: RolloutId
    service: ServiceName
    version: Annotated[str, Field(min_length=1, max_length=128)]
    plan: Plan
    candidates: tuple[Name, ...] = Field(min_length=1, max_length=MAX_ROLLOUT_INSTANCES)
    replaced: tuple[Name, ...] = Field(default=(), max_length=MAX_ROLLOUT_INSTANCES)
    prior: tuple[Prior, ...] = Field(max_length=2 * MAX_ROLLOUT_INSTANCES)
    forecast: tuple[StepForecast, ...] = Field(default=(), max_length=MAX_STEPS)
    """Each judged step's expected time to a pass at the traffic when it started (empty when
    the evaluator had no traffic to go by)."""
    left_out: tuple[StepForecast, ...] = Field(default=(), max_length=MAX_STEPS)
    """The default steps this rollout started without, each with its forecast: too small for
    the service's traffic to judge in time (controlplane.rollout._forecast.fit_default_steps)."""

    def describe(self) -> str:
        return f"rollout {self.rollout_id} started: {self.plan.strategy} to {self.version}"


class RolloutStepped(_Event):
    """The rollout took step `stage` of its plan. Its changes follow in the same batch, so a
    step and its changes are recorded together or not at all."""

    kind: Literal["rollout_stepped"] = "rollout_stepped"
    rollout_id: RolloutId
    service: ServiceName
    stage: Annotated[int, Field(ge=0)]
    label: Annotated[str, Field(max_length=256)]
    at: datetime
    """When the step was taken: its bake is counted from here."""

    def describe(self) -> str:
        return f"rollout {self.rollout_id} step {self.stage + 1}: {self.label}"


class RolloutPaused(_Event):
    """The rollout holds where it is until resumed (a failing verdict still rolls it back)."""

    kind: Literal["rollout_paused"] = "rollout_paused"
    rollout_id: RolloutId
    service: ServiceName

    def describe(self) -> str:
        return f"rollout {self.rollout_id} paused"


class RolloutResumed(_Event):
    kind: Literal["rollout_resumed"] = "rollout_resumed"
    rollout_id: RolloutId
    service: ServiceName

    def describe(self) -> str:
        return f"rollout {self.rollout_id} resumed"


class RolloutPromoted(_Event):
    """Someone (the entry's actor) skipped the rest of step `stage`'s bake and verdict gate."""

    kind: Literal["rollout_promoted"] = "rollout_promoted"
    rollout_id: RolloutId
    service: ServiceName
    stage: Annotated[int, Field(ge=0)]

    def describe(self) -> str:
        return f"rollout {self.rollout_id} step {self.stage + 1} promoted"


class RolloutFinished(_Event):
    """The rollout ended: completed, rolled back after a failing verdict, or aborted. A rollback's
    changes follow this entry in the same batch."""

    kind: Literal["rollout_finished"] = "rollout_finished"
    rollout_id: RolloutId
    service: ServiceName
    outcome: RolloutOutcome
    at: datetime | None = None
    """When it completed: the replaced instances' grace is counted from here."""

    def describe(self) -> str:
        return f"rollout {self.rollout_id} {self.outcome.value.replace('_', ' ')}"


class RolloutUndone(_Event):
    """Someone (the entry's actor) returned the service to the version before a completed
    rollout, within the replaced instances' grace. The changes follow in the same batch: the
    replaced instances back to their activations before the rollout, then the new ones."""

    kind: Literal["rollout_undone"] = "rollout_undone"
    rollout_id: RolloutId
    service: ServiceName

    def describe(self) -> str:
        return f"rollout {self.rollout_id} undone"


class ServiceDeleted(_Event):
    """A service left the mesh: its virtual host and the clusters of its instances go. Its
    instances are retired in the same batch, first; their ids stay taken, and its history stays
    in the ledger."""

    kind: Literal["service_deleted"] = "service_deleted"
    service: ServiceName

    def describe(self) -> str:
        return f"service {self.service} deleted"


RolloutEvent = (
    RolloutStarted
    | RolloutStepped
    | RolloutPaused
    | RolloutResumed
    | RolloutPromoted
    | RolloutFinished
    | RolloutUndone
)

Event = Annotated[
    ServiceApplied
    | InstanceRegistered
    | ActivationChanged
    | VerdictRecorded
    | RolloutStarted
    | RolloutStepped
    | RolloutPaused
    | RolloutResumed
    | RolloutPromoted
    | RolloutFinished
    | RolloutUndone
    | ServiceDeleted
    | TokenCreated
    | TokenRevoked,
    Field(discriminator="kind"),
]


class ProposedEntry(BaseModel):
    """An event with who and why, before the store gives it a sequence number and time."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    actor: Annotated[str, Field(min_length=1, max_length=128)]
    reason: Annotated[str, Field(max_length=1024)] = ""
    event: Event


class Entry(ProposedEntry):
    """One recorded ledger entry. `seq` is gap-free from 1."""

    seq: Annotated[int, Field(ge=1)]
    at: datetime
