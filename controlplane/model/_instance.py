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

from controlplane.model._limits import (
    MAX_ADDRESS,
    MAX_DNS_LABEL,
    MAX_HOST,
    MAX_LABEL_VALUE,
    MAX_LABELS,
)
from controlplane.model._service import DNS_LABEL, Name, ServiceName

_HOSTNAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$")

MAX_WEIGHT = 1_000_000

LabelKey = Annotated[
    str,
    # Checked by Instance._label_keys (one message for every bad key); the schema says so too.
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": _LABEL_KEY.pattern}),
]


def split_address(address: str) -> tuple[str, int]:
    """('10.0.0.1', 8080) from '10.0.0.1:8080'; ('::1', 80) from '[::1]:80'."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} in {address!r} is not between 1 and 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        ipaddress.IPv6Address(host)  # raises ValueError naming the text
        return host, port
    if ":" in host:
        raise ValueError(f"{address!r}: an IPv6 host must be in brackets, as [::1]:80")
    if len(host) > MAX_HOST or any(len(label) > MAX_DNS_LABEL for label in host.split(".")):
        raise ValueError(
            f"the host name {host[:40]!r}... is longer than a DNS name may be ({MAX_HOST} "
            f"characters, {MAX_DNS_LABEL} between dots)"
        )
    if not _HOSTNAME.fullmatch(host):
        raise ValueError(f"{host!r} in {address!r} is not a host name or IP address")
    return host, port


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
    return f"{service}--{instance_id}"


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
        if self.state is ActivationState.LIVE:
            return f"live weight {self.weight}"
        if self.state is ActivationState.SHADOW:
            return f"shadow {self.mirror_percent:g}%"
        return self.state.value
