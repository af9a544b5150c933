"""Request and response bodies the API adds around the domain models.

Domain models (ServiceSpec, Instance, Entry) go over the wire as they are; these are only the
shapes that exist for the API's sake. Requests refuse unknown fields, like the domain models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from controlplane.model import (
    MAX_WEIGHT,
    Activation,
    Entry,
    Instance,
    InstanceState,
    RolloutPaused,
)

T = TypeVar("T")

DEFAULT_WEIGHT = 1
DEFAULT_MIRROR_PERCENT = 100.0

Reason = Annotated[str, Field(max_length=1024, description="why, as the ledger records it")]

FORCE = (
    "go past a refusal on purpose (recorded): take the last live instance out of traffic, or "
    "change an instance a running rollout moves, which pauses that rollout in the same batch"
)


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActivationRequest(_Request):
    """Move one instance to live, shadow or inactive. Retiring has its own endpoint."""

    state: Literal["live", "shadow", "inactive"]
    weight: Annotated[int, Field(ge=0, le=MAX_WEIGHT)] | None = Field(
        default=None,
        description=f"live only; default: the weight it has if live, else {DEFAULT_WEIGHT}",
    )
    mirror_percent: Annotated[float, Field(ge=0, le=100)] | None = Field(
        default=None,
        description=(
            f"shadow only; default: the percent it has if shadow, else {DEFAULT_MIRROR_PERCENT:g}"
        ),
    )
    force: bool = Field(default=False, description=FORCE)
    override_budget: bool = Field(
        default=False,
        description="send new live traffic although the error budget is exhausted (recorded)",
    )
    reason: Reason = ""

    @field_validator("weight")
    @classmethod
    def _weight_is_for_live(cls, weight: int | None, info: ValidationInfo) -> int | None:
        state = info.data.get("state")
        if weight is not None and state is not None and state != "live":
            raise ValueError(f"weight applies only to state live, not {state}")
        return weight

    @field_validator("mirror_percent")
    @classmethod
    def _mirror_is_for_shadow(cls, percent: float | None, info: ValidationInfo) -> float | None:
        state = info.data.get("state")
        if percent is not None and state is not None and state != "shadow":
            raise ValueError(f"mirror_percent applies only to state shadow, not {state}")
        return percent

    def activation(self, current: Activation) -> Activation:
        """The activation asked for. Without a weight (mirror percent) an instance keeps the one
        it has, so `--live` on a live instance never quietly reweights it; one entering live
        traffic gets weight 1, one entering shadow mirrors 100%."""
        if self.state == "live":
            weight = _first(self.weight, current.weight, DEFAULT_WEIGHT)
            return Activation.live(weight)
        if self.state == "shadow":
            percent = _first(self.mirror_percent, current.mirror_percent, DEFAULT_MIRROR_PERCENT)
            return Activation.shadow(percent)
        return Activation.inactive()


def _first(given: T | None, kept: T | None, default: T) -> T:
    return given if given is not None else kept if kept is not None else default


class RetireRequest(_Request):
    force: bool = Field(default=False, description=FORCE)
    reason: Reason = ""


class ChangeEntry(Entry):
    """A change's ledger entry, with the rollout pause a forced change appended before it."""

    rollout_paused: Entry | None = Field(
        default=None,
        description="the RolloutPaused entry of the same batch, when forcing the change paused "
        "the rollout that moved the instance",
    )

    @classmethod
    def of(cls, entries: list[Entry]) -> ChangeEntry:
        """From the batch Controller.change_batch appended: [pause,] change."""
        *before, change = entries
        paused = next((e for e in before if isinstance(e.event, RolloutPaused)), None)
        return cls(**dict(change), rollout_paused=paused)


class InstanceView(BaseModel):
    """An instance, its activation, and the share of its service's real traffic it gets."""

    instance: Instance
    activation: Activation
    since_seq: int = Field(description="the ledger entry that gave it this activation")
    live_share: float = Field(ge=0, le=1, description="weight / sum of live weights, 0..1")

    @classmethod
    def of(cls, record: InstanceState, live_share: float) -> InstanceView:
        return cls(
            instance=record.instance,
            activation=record.activation,
            since_seq=record.since_seq,
            live_share=live_share,
        )


class NackView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    type: str
    version: str
    message: str = Field(description="Envoy's own error_detail message")
    at: datetime


class ProxyView(BaseModel):
    """One connected Envoy stream, as the xDS server's proxy registry sees it."""

    model_config = ConfigDict(from_attributes=True)

    stream_id: int
    node_id: str
    node_cluster: str
    protocol: Literal["sotw", "delta"]
    peer: str
    connected_at: datetime
    acked: dict[str, str] = Field(description="per resource type, the last version ACKed")
    last_nack: NackView | None
    nacks: int
    synced_version: str = Field(
        description="the last snapshot the proxy holds entirely ('' until it first caught up)"
    )
    current_version: str = Field(description="the snapshot weir serves now")
    in_sync: bool = Field(description="whether the proxy holds the current snapshot")
    behind_since: datetime | None = Field(
        description="since when it lacks the current snapshot; null while in sync"
    )
    behind_seconds: float | None = Field(description="how long it has been behind, at this answer")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    ledger_seq: int
