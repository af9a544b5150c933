"""Rollouts: one run of a strategy for a service, persisted in the ledger.

A strategy is a plan of single-instance activation changes with gates between them. The plan
is a typed union, dispatched once (controlplane.rollout). What a rollout has done so far is a
fold over its ledger entries (RolloutState), so a restarted controller knows exactly where it
stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from controlplane.model._durations import Duration
from controlplane.model._instance import Activation
from controlplane.model._service import (
    DEFAULT_DECIDE_WITHIN_S,
    DEFAULT_GRACE_S,
    DEFAULT_STEPS,
    AcceptRisk,
    DecideWithin,
    MirrorPercent,
    Name,
    Steps,
)

RolloutId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=80,
        pattern=r"^[a-z0-9]+(-[a-z0-9]+)*/[1-9][0-9]*$",
        description="service/number, e.g. web/3: the service's third rollout",
    ),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class _Plan(_Frozen):
    bake: Duration = Field(default=60.0, description="least time at each step before the next")
    grace: Duration = Field(
        default=DEFAULT_GRACE_S,
        description="how long replaced instances stay inactive, for instant rollback, before "
        "they are retired",
    )
    decide_within: DecideWithin = DEFAULT_DECIDE_WITHIN_S
    accept_risk: AcceptRisk = False


class Canary(_Plan):
    """The new version's instances go live at the weights that give each step's share; at 100%
    the old instances are deactivated one at a time, then retired after the grace period."""

    strategy: Literal["canary"] = "canary"
    steps: Steps = DEFAULT_STEPS


class Partial(_Plan):
    """One new instance joins at its natural share (equal weight) and is judged; then the old
    instances are replaced one at a time: a new one live, an old one deactivated."""

    strategy: Literal["partial"] = "partial"


class BlueGreen(_Plan):
    """Green (the new version) is warm and inactive, optionally judged in shadow, then switched
    live in one batch while blue goes inactive; blue is retired after the grace period."""

    strategy: Literal["blue-green"] = "blue-green"
    verify_in_shadow: bool = False
    mirror_percent: MirrorPercent = 10.0


class Shadow(_Plan):
    """Bifurcated verification: the new version gets a mirrored copy of `mirror_percent` of live
    traffic (its answers discarded) and is judged; on pass the rollout goes on as a canary."""

    strategy: Literal["shadow"] = "shadow"
    mirror_percent: MirrorPercent = 10.0
    steps: Steps = DEFAULT_STEPS


Plan = Annotated[Canary | Partial | BlueGreen | Shadow, Field(discriminator="strategy")]


class RolloutOutcome(StrEnum):
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"


class StepForecast(_Frozen):
    """Before a rollout starts: how long each judged step should take to pass at the traffic
    of the last minutes, if the new version is as good as the old (recorded with the rollout:
    with accept_risk, the risk it was started on)."""

    stage: Annotated[int, Field(ge=0)]
    label: Annotated[str, Field(max_length=200)]
    share: float = Field(ge=0, le=1, description="the new version's share of live traffic")
    seconds: float | None = Field(
        default=None, ge=0, description="expected time to a pass; None: not at this traffic"
    )
    within: bool = Field(description="expected within the plan's decide_within")


class Prior(_Frozen):
    """An instance's activation before the rollout: what a rollback returns it to."""

    instance_id: Name
    activation: Activation


@dataclass(frozen=True, slots=True)
class StageChange:
    seq: int
    instance_id: str
    after: Activation


@dataclass(frozen=True, slots=True)
class StageRecord:
    """One step the rollout took: its RolloutStepped entry and the changes appended with it."""

    stage: int
    label: str
    at: datetime
    seq: int
    changes: tuple[StageChange, ...] = ()
    promoted: bool = False


def _no_prior() -> Mapping[str, Activation]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RolloutState:
    id: str
    service: str
    version: str
    plan: Canary | Partial | BlueGreen | Shadow
    candidates: tuple[str, ...]
    """The new version's instances, in registration order."""
    replaced: tuple[str, ...]
    """The other versions' instances that were live when the rollout started."""
    started_seq: int
    prior: Mapping[str, Activation] = field(default_factory=_no_prior)
    stages: tuple[StageRecord, ...] = ()
    touched: tuple[str, ...] = ()
    """Instances the rollout changed, in the order of their latest change by it."""
    change_seqs: tuple[int, ...] = ()
    """Every change the rollout made, its steps' and its rollback's."""
    paused: bool = False
    outcome: RolloutOutcome | None = None
    finished_seq: int | None = None
    finished_at: datetime | None = None
    """When a completed rollout completed: its replaced instances' grace counts from here."""
    undone_seq: int | None = None
    """The RolloutUndone entry that returned the service to the version before it, if any."""

    @property
    def active(self) -> bool:
        return self.outcome is None

    @property
    def current(self) -> StageRecord | None:
        return self.stages[-1] if self.stages else None

    def describe(self) -> str:
        return f"rollout {self.id} ({self.plan.strategy} of {self.service} to {self.version})"

    def controls(self, instance_id: str) -> bool:
        """Whether the instance is one the rollout moves: a candidate or a replaced one (the
        instances whose prior activation it recorded, by the rules exactly those)."""
        return instance_id in self.prior

    def position(self) -> str:
        """Where the rollout stands, for people: `at step 2 (50%)`."""
        current = self.current
        if current is None:
            return "before its first step"
        return f"at step {current.stage + 1} ({current.label})"
