"""Ledger entries: the append-only history of changes and policy edits.

The ledger is the only authority. An entry is a sequence number, when, who, why, and one event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from controlplane.model._instance import Activation, Instance
from controlplane.model._service import Name, ServiceName, ServiceSpec
from controlplane.model._verdict import Verdict


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ServiceApplied(_Event):
    """A service's policy was created or replaced (`weir apply -f`)."""

    kind: Literal["service_applied"] = "service_applied"
    spec: ServiceSpec


class InstanceRegistered(_Event):
    """A new immutable instance joined its service, inactive."""

    kind: Literal["instance_registered"] = "instance_registered"
    instance: Instance


class ActivationChanged(_Event):
    """A change: the only write to production. One instance moved from one state to another."""

    kind: Literal["activation_changed"] = "activation_changed"
    instance_id: Name
    service: ServiceName
    before: Activation
    after: Activation
    forced: bool = False
    """The operator took the last live instance out of traffic on purpose."""
    budget_override: bool = False
    """The operator sent new live traffic although the error budget was exhausted."""


class VerdictRecorded(_Event):
    """The evaluator's judgement of an earlier change (entry `change_seq`), with its evidence."""

    kind: Literal["verdict_recorded"] = "verdict_recorded"
    change_seq: Annotated[int, Field(ge=1)]
    instance_id: Name
    service: ServiceName
    verdict: Verdict


Event = Annotated[
    ServiceApplied | InstanceRegistered | ActivationChanged | VerdictRecorded,
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
