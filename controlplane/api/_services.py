"""/v1/services: a service's routing policy, SLO, risk model and rollout defaults."""

from __future__ import annotations

from fastapi import APIRouter

from controlplane.api._actor import Actor
from controlplane.api._auth import ADMIN
from controlplane.api._errors import refusals
from controlplane.control import Controller
from controlplane.errors import InvalidInput, NotFound
from controlplane.model import Entry, ServiceSpec


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
