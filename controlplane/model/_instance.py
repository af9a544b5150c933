"""Instances and their activation states.

An instance is immutable: new behaviour means a new instance. What changes is its activation,
and only through a change recorded in the ledger.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from controlplane.defaults import CLUSTER_SEPARATOR
from controlplane.describe import activation_text
from controlplane.model._limits import (
    MAX_ADDRESS,
    MAX_LABEL_VALUE,
    MAX_LABELS,
)
from controlplane.model._service import DNS_LABEL, Name, ServiceName
from controlplane.units import split_address

_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$")

MAX_WEIGHT = 1_000_000

LabelKey = Annotated[
    str,
    # Checked by Instance._label_keys (one message for every bad key); the schema says so too.
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": _LABEL_KEY.pattern}),
]


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Instance(BaseModel):
    """One immutable deployment of one artefact version."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: Name
    service: ServiceName
    version: Annotated[
        str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.+]*$")
    ]
    address: Annotated[str, Field(max_length=MAX_ADDRESS)]
    labels: dict[LabelKey, Annotated[str, Field(max_length=MAX_LABEL_VALUE)]] = Field(
        default_factory=dict, max_length=MAX_LABELS
    )

    @field_validator("address")
    @classmethod
    def _host_port(cls, address: str) -> str:
        split_address(address)
        return address

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not _LABEL_KEY.fullmatch(key) or len(key) > 63:
                raise ValueError(f"label key {key!r} is not a valid key")
        return labels

    @cached_property
    def cluster_name(self) -> str:
        # Cached (pydantic leaves it out of equality and dumps): asked for per instance on
        # every evaluator tick and resource build, and checking both labels costs.
        return cluster_name(self.service, self.id)


def cluster_name(service: str, instance_id: str) -> str:
    """The Envoy cluster of one instance. Both parts are DNS labels, so no '.' reaches a stat."""
    assert DNS_LABEL.fullmatch(service) and DNS_LABEL.fullmatch(instance_id)
    return f"{service}{CLUSTER_SEPARATOR}{instance_id}"


def instance_of_cluster(cluster: str) -> tuple[str, str] | None:
    """(service, instance id) from an instance's cluster name; None for any other cluster."""
    service, separator, instance_id = cluster.partition(CLUSTER_SEPARATOR)
    return (service, instance_id) if separator else None


class ActivationState(StrEnum):
    INACTIVE = "inactive"
    SHADOW = "shadow"
    LIVE = "live"
    RETIRED = "retired"


class Activation(BaseModel):
    """What share of its service's traffic an instance receives.

    live: `weight / sum(live weights)` of real traffic. shadow: a mirrored copy of
    `mirror_percent` of the live traffic, responses discarded. inactive: known and warm in
    Envoy, no traffic. retired: terminal, removed from Envoy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    state: ActivationState
    weight: Annotated[int, Field(ge=0, le=MAX_WEIGHT)] | None = None
    mirror_percent: Annotated[float, Field(ge=0, le=100)] | None = None

    @model_validator(mode="after")
    def _fields_fit_state(self) -> Self:
        if self.state is ActivationState.LIVE:
            if self.weight is None:
                raise ValueError("a live activation needs a weight")
        elif self.weight is not None:
            raise ValueError(f"weight applies only to live, not {self.state.value}")
        if self.state is ActivationState.SHADOW:
            if self.mirror_percent is None:
                raise ValueError("a shadow activation needs mirror_percent")
        elif self.mirror_percent is not None:
            raise ValueError(f"mirror_percent applies only to shadow, not {self.state.value}")
        return self

    @classmethod
    def inactive(cls) -> Activation:
        return cls(state=ActivationState.INACTIVE)

    @classmethod
    def live(cls, weight: int) -> Activation:
        return cls(state=ActivationState.LIVE, weight=weight)

    @classmethod
    def shadow(cls, mirror_percent: float) -> Activation:
        return cls(state=ActivationState.SHADOW, mirror_percent=mirror_percent)

    @classmethod
    def retired(cls) -> Activation:
        return cls(state=ActivationState.RETIRED)

    def describe(self) -> str:
        state, weight, mirror = self.state.value, self.weight, self.mirror_percent
        return activation_text({"state": state, "weight": weight, "mirror_percent": mirror})
