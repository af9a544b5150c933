"""/v1/instances: register immutable instances and move their activation."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import TypeAdapter

from controlplane.api._actor import Actor
from controlplane.api._auth import OPERATOR
from controlplane.api._errors import refusals
from controlplane.api._schemas import (
    ActivationRequest,
    ChangeEntry,
    InstanceView,
    RetireRequest,
)
from controlplane.control import Controller, live_share
from controlplane.errors import NotFound
from controlplane.model import Activation, Instance, State

_REFUSALS = refusals(404, 409)


def _view(state: State, instance_id: str) -> InstanceView:
    record = state.instances.get(instance_id)
    if record is None:
        raise NotFound(f"unknown instance {instance_id!r}", field="id")
    return InstanceView.of(record, live_share(state, instance_id))


_VIEWS = TypeAdapter(list[InstanceView])


def _every_view(state: State) -> bytes:
    return _VIEWS.dump_json([_view(state, instance_id) for instance_id in state.instances])


def instance_views(state: State, service: str | None = None) -> list[InstanceView]:
    """Every instance (of `service`) with its share of live traffic, from one state."""
    records = state.instances.values() if service is None else state.instances_of(service)
    return [_view(state, record.instance.id) for record in records]


def instances_router(controller: Controller) -> APIRouter:
    router = APIRouter(prefix="/v1/instances", tags=["instances"], responses=refusals(422))

    @router.post(
        "",
        status_code=201,
        responses=_REFUSALS,
        openapi_extra=OPERATOR,
        summary="Register a new instance; it starts inactive",
    )
    def add_instance(instance: Instance, actor: Actor) -> InstanceView:
        controller.add_instance(instance, actor=actor)
        return _view(controller.state, instance.id)

    @router.get(
        "",
        responses=refusals(404),
        response_model=list[InstanceView],
        summary="Instances, by service",
    )
    async def list_instances(
        service: Annotated[str | None, Query(description="only this service's")] = None,
    ) -> Response | list[InstanceView]:
        state = controller.state  # one snapshot, so shares add up
        if service is None:
            # The whole mesh (thousands of instances) is made in a worker thread, so that the
            # event loop the API and xDS share goes on meanwhile; one service's, right here.
            body = await asyncio.to_thread(_every_view, state)
            return Response(body, media_type="application/json")
        if service not in state.services:
            raise NotFound(f"unknown service {service!r}", field="service")
        return instance_views(state, service)

    @router.get("/{instance_id}", responses=refusals(404), summary="One instance")
    async def get_instance(instance_id: str) -> InstanceView:
        return _view(controller.state, instance_id)

    @router.post(
        "/{instance_id}/activation",
        responses=_REFUSALS,
        openapi_extra=OPERATOR,
        summary="Change an instance's activation: one ledger entry",
    )
    def change_activation(
        instance_id: str, request: ActivationRequest, actor: Actor
    ) -> ChangeEntry:
        current = controller.state.instances.get(instance_id)
        if current is None:
            raise NotFound(f"unknown instance {instance_id!r}", field="id")
        entries = controller.change_batch(
            instance_id,
            request.activation(current.activation),
            actor=actor,
            reason=request.reason,
            force=request.force,
            budget_override=request.override_budget,
        )
        return ChangeEntry.of(entries)

    @router.post(
        "/{instance_id}/retire",
        responses=_REFUSALS,
        openapi_extra=OPERATOR,
        summary="Retire an instance for good; it leaves Envoy",
    )
    def retire(instance_id: str, actor: Actor, request: RetireRequest | None = None) -> ChangeEntry:
        request = request or RetireRequest()
        entries = controller.change_batch(
            instance_id,
            Activation.retired(),
            actor=actor,
            reason=request.reason,
            force=request.force,
        )
        return ChangeEntry.of(entries)

    return router
