"""/v1/services: a service's routing policy, SLO, risk model and rollout defaults."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from controlplane.api._actor import Actor
from controlplane.api._auth import ADMIN, requires
from controlplane.api._errors import refusals
from controlplane.control import Controller
from controlplane.errors import InvalidInput, NotFound
from controlplane.model import Entry, Role, ServiceSpec


class DryRun(BaseModel):
    """What `weir apply` would do: the policy now and the one the file gives, both as the
    server reads them (defaults filled in), checked against the state; nothing appended."""

    service: str
    action: Literal["create", "replace", "unchanged"]
    current: ServiceSpec | None
    proposed: ServiceSpec


class DeleteRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Annotated[str, Field(max_length=1024)] = ""


def services_router(controller: Controller) -> APIRouter:
    router = APIRouter(prefix="/v1/services", tags=["services"], responses=refusals(422))

    @router.put(
        "/{name}",
        responses=refusals(409),
        openapi_extra=ADMIN,
        summary="Create or replace a service (weir apply -f)",
    )
    def apply_service(name: str, spec: ServiceSpec, actor: Actor) -> Entry:
        if spec.name != name:
            raise InvalidInput(
                f"the path names service {name!r} but the body names {spec.name!r}",
                field="name",
            )
        return controller.apply_service(spec, actor=actor)

    @router.post(
        "/{name}/dry-run",
        responses=refusals(409),
        openapi_extra=requires(Role.VIEWER),
        summary="Check a service file against the current policy and state; change nothing",
    )
    def dry_run(name: str, spec: ServiceSpec) -> DryRun:
        if spec.name != name:
            raise InvalidInput(
                f"the path names service {name!r} but the body names {spec.name!r}",
                field="name",
            )
        controller.check_service(spec)
        current = controller.state.services.get(name)
        action: Literal["create", "replace", "unchanged"] = (
            "create" if current is None else "unchanged" if current == spec else "replace"
        )
        return DryRun(service=name, action=action, current=current, proposed=spec)

    @router.delete(
        "/{name}",
        responses=refusals(404, 409),
        openapi_extra=ADMIN,
        summary="Delete a service without live instances; the rest of them are retired",
    )
    def delete_service(
        name: str, actor: Actor, request: Annotated[DeleteRequest | None, Body()] = None
    ) -> list[Entry]:
        reason = request.reason if request is not None else ""
        return controller.delete_service(name, actor=actor, reason=reason)

    @router.get("", summary="Every service")
    def list_services() -> list[ServiceSpec]:
        services = controller.state.services
        return [services[name] for name in sorted(services)]

    @router.get("/{name}", responses=refusals(404), summary="One service")
    async def get_service(name: str) -> ServiceSpec:
        spec = controller.state.services.get(name)
        if spec is None:
            raise NotFound(f"unknown service {name!r}", field="name")
        return spec

    return router
