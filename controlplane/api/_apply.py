"""/v1/apply: many services and instances in one ledger transaction (`weir apply -f` of a
file holding several, a discovery sync, a migration).

All or nothing: the body is validated whole (422 naming the entry and field), then the batch is
checked by the ledger's rules as one (409/404 naming the service or instance), then appended in
one transaction and pushed to Envoy as one snapshot. What the ledger holds already (a service
with the very same spec, an instance registered exactly so) is left alone and counted as
unchanged, so the same sync run twice appends nothing the second time.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from controlplane.api._actor import Actor
from controlplane.api._auth import ADMIN
from controlplane.api._errors import refusals
from controlplane.api._schemas import DEFAULT_MIRROR_PERCENT, DEFAULT_WEIGHT, Reason
from controlplane.control import Controller, Registration
from controlplane.model import MAX_WEIGHT, Activation, Instance, ServiceSpec

MAX_BATCH_SERVICES = 5_000
MAX_BATCH_INSTANCES = 25_000


class StartingActivation(BaseModel):
    """The activation a newly registered instance starts in (default inactive). An instance
    registered before keeps whatever activation its changes gave it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: Literal["live", "shadow", "inactive"] = "inactive"
    weight: Annotated[int, Field(ge=0, le=MAX_WEIGHT)] | None = Field(
        default=None, description=f"live only; default {DEFAULT_WEIGHT}"
    )
    mirror_percent: Annotated[float, Field(gt=0, le=100)] | None = Field(
        default=None, description=f"shadow only; default {DEFAULT_MIRROR_PERCENT:g}"
    )

    def activation(self) -> Activation:
        if self.state == "live":
            return Activation.live(self.weight if self.weight is not None else DEFAULT_WEIGHT)
        if self.state == "shadow":
            percent = self.mirror_percent
            return Activation.shadow(percent if percent is not None else DEFAULT_MIRROR_PERCENT)
        return Activation.inactive()


class BatchInstance(Instance):
    """An instance to register, with the activation it starts in."""

    activation: StartingActivation | None = None


class ApplyRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    services: list[ServiceSpec] = Field(default_factory=list, max_length=MAX_BATCH_SERVICES)
    instances: list[BatchInstance] = Field(default_factory=list, max_length=MAX_BATCH_INSTANCES)
    reason: Reason = ""

    @field_validator("services")
    @classmethod
    def _each_service_once(cls, services: list[ServiceSpec]) -> list[ServiceSpec]:
        _once(s.name for s in services)
        return services

    @field_validator("instances")
    @classmethod
    def _each_instance_once(cls, instances: list[BatchInstance]) -> list[BatchInstance]:
        _once(i.id for i in instances)
        return instances


def _once(names: object) -> None:
    seen: set[str] = set()
    for name in names:  # type: ignore[attr-defined]
        if name in seen:
            raise ValueError(f"{name!r} is listed twice")
        seen.add(name)


class ApplyResult(BaseModel):
    entries: int = Field(description="ledger entries appended (0 when nothing was new)")
    first_seq: int | None
    last_seq: int | None
    services_applied: int
    services_unchanged: int
    instances_registered: int
    instances_unchanged: int
    activations: int = Field(description="instances that started live or in shadow")


def apply_router(controller: Controller) -> APIRouter:
    router = APIRouter(prefix="/v1/apply", tags=["services"], responses=refusals(422))

    @router.post(
        "",
        responses=refusals(404, 409),
        openapi_extra=ADMIN,
        summary="Apply services and register instances in one transaction (weir apply -f)",
    )
    def apply_batch(request: ApplyRequest, actor: Actor) -> ApplyResult:
        registrations = [
            Registration(
                Instance.model_construct(  # validated already, as a BatchInstance
                    **{name: getattr(item, name) for name in Instance.model_fields}
                ),
                item.activation.activation() if item.activation is not None else None,
            )
            for item in request.instances
        ]
        plan, entries = controller.apply_batch(
            request.services, registrations, actor=actor, reason=request.reason
        )
        return ApplyResult(
            entries=len(entries),
            first_seq=entries[0].seq if entries else None,
            last_seq=entries[-1].seq if entries else None,
            services_applied=plan.services_applied,
            services_unchanged=plan.services_unchanged,
            instances_registered=plan.instances_registered,
            instances_unchanged=plan.instances_unchanged,
            activations=plan.activations,
        )

    return router
